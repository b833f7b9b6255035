"""The training loss of a fine-tuned LLM: padded batch tensors, the cross-entropy of the answer tokens
(in recomputed chunks past a logits budget), and the dev loss of an epoch."""

from __future__ import annotations

from typing import Any

from llmgraph.training.llm.config import LLMTrainingConfig
from llmgraph.training.llm.examples import IGNORE, TrainingExample, length_buckets

PAD_MULTIPLE = 32  # batch widths are rounded up to this: few distinct shapes (CPU kernels cache per shape)
LOGITS_BUDGET = 2 << 30  # bytes of logits (and their gradient) alive at once; beyond it the loss runs in chunks


def batch_tensors(batch: list[TrainingExample], pad_id: int, device: str) -> dict[str, Any]:
    """Right-padded ids and labels, the width rounded up to ``PAD_MULTIPLE``."""
    import torch

    width = -(-max(len(e.input_ids) for e in batch) // PAD_MULTIPLE) * PAD_MULTIPLE
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels())
    return {"input_ids": ids.to(device), "labels": labels.to(device)}


def answer_loss(model: Any, tensors: dict[str, Any], dtype: Any, device: str,
                 budget: int | None = None) -> tuple[Any, int]:
    """The summed cross-entropy of the answer tokens, and their number. Logits are computed from the
    first answer position on only: the prompt costs no vocabulary projection. When those logits would
    take more than ``budget`` bytes (``LOGITS_BUDGET``: an 8B model's 128k vocabulary at batch 8 x 4,096
    tokens is 40 GB of them), the projection and loss run in chunks that are recomputed in the backward
    pass, so at most one chunk of logits is alive."""
    import torch

    budget = LOGITS_BUDGET if budget is None else budget
    labels = tensors["labels"]
    answer = (labels != IGNORE).any(dim=0).nonzero()
    first = max(0, int(answer[0]) - 1) if len(answer) else 0
    targets = labels[:, first + 1:]
    count = int((targets != IGNORE).sum())
    head = model.get_output_embeddings()
    per_position = labels.shape[0] * head.weight.shape[0] * 10  # bf16 logits, their float copy, its gradient
    # Batches are right-padded, so under the causal mask no real token sees a pad: no attention mask is
    # needed, and attention keeps its fast causal kernel.
    with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
        if per_position * targets.shape[1] <= budget:
            keep = torch.arange(first, labels.shape[1] - 1, device=labels.device)
            logits = model(input_ids=tensors["input_ids"], logits_to_keep=keep).logits
            return _cross_entropy(logits, targets), count
        hidden = model.get_decoder()(input_ids=tensors["input_ids"]).last_hidden_state[:, first:-1]
        width = max(1, budget // per_position)

        def chunk(states: Any, chunk_targets: Any) -> Any:
            with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
                return _cross_entropy(head(states), chunk_targets)

        from torch.utils.checkpoint import checkpoint

        loss = sum(checkpoint(chunk, hidden[:, start:start + width], targets[:, start:start + width],
                              use_reentrant=False) for start in range(0, targets.shape[1], width))
    return loss, count


def _cross_entropy(logits: Any, targets: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                             reduction="sum")


def dev_loss(model: Any, examples: list[TrainingExample], config: LLMTrainingConfig, pad_id: int, dtype: Any,
             device: str) -> float:
    """The mean cross-entropy per answer token of ``examples`` (no gradients; leaves ``model`` in eval mode)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in length_buckets(examples, config.batch_size, list(range(len(examples)))):
            loss, n = answer_loss(model, batch_tensors(batch, pad_id, device), dtype, device)
            total, count = total + float(loss), count + n
    return total / max(1, count)

