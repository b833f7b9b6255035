"""The epochs of a fine-tuning: length-bucketed batches in a seeded order, gradient accumulation, AdamW with
linear warm-up and decay, the dev loss after each epoch, and the weights of the best epoch kept."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from llmgraph.core.errors import InputError
from llmgraph.training.llm.config import LLMTrainingConfig
from llmgraph.training.llm.examples import TrainingExample, length_buckets
from llmgraph.training.llm.loss import answer_loss, batch_tensors, dev_loss
from llmgraph.training.llm.progress import ProgressLines


@dataclass
class Fit:
    """What the epochs gave: each epoch's record, the one kept, training tokens and seconds, and the number
    of weights trained."""

    history: list[dict[str, Any]]
    best: dict[str, Any]
    tokens: int
    seconds: float
    trainable_parameters: int


def fit(model: Any, examples: list[TrainingExample], dev_examples: list[TrainingExample],
        config: LLMTrainingConfig, pad_id: int, dtype: Any, device: str, progress: bool,
        log: Callable[[str], None] = print) -> Fit:
    """The epochs: length-bucketed batches in a seeded order, gradient accumulation, AdamW with warm-up and
    linear decay, the dev loss after each epoch; the weights of the epoch with the lowest dev loss (the last
    without dev examples) are left in ``model``. ``progress`` is a bar on a terminal, else (a log file under
    ``nohup`` or a batch scheduler) a line through ``log`` every ``PROGRESS_LINES``-th of the steps (at least
    every ``PROGRESS_SECONDS``) and after each epoch. Running out of memory is a one-line error that names
    the settings that need less."""
    import torch

    try:
        return _epochs(model, examples, dev_examples, config, pad_id, dtype, device, progress, log)
    except torch.OutOfMemoryError:
        raise InputError(f"out of memory on {device} at --batch-size {config.batch_size}, --max-length "
                         f"{config.max_length}: try a smaller batch with --grad-accum, --gradient-checkpointing, "
                         "or --method lora") from None


def _epochs(model: Any, examples: list[TrainingExample], dev_examples: list[TrainingExample],
            config: LLMTrainingConfig, pad_id: int, dtype: Any, device: str, progress: bool,
            log: Callable[[str], None]) -> Fit:
    from tqdm import tqdm

    passes = -(-len(examples) // config.batch_size)
    steps = config.epochs * -(-passes // config.gradient_accumulation)
    history: list[dict[str, Any]] = []
    best, best_state = None, None
    lines = ProgressLines(steps, config.epochs, log) if progress and not sys.stderr.isatty() else None
    with tqdm(total=steps, unit="step", disable=None if progress else True, dynamic_ncols=True) as bar:
        loop = _Loop(model, config, steps, pad_id, dtype, device, bar, lines)
        for epoch in range(1, config.epochs + 1):
            record = loop.epoch(epoch, examples)
            if dev_examples:
                record["dev_loss"] = dev_loss(model, dev_examples, config, pad_id, dtype, device)
                bar.set_postfix(epoch=epoch, loss=f"{record['train_loss']:.3f}", dev_loss=f"{record['dev_loss']:.3f}",
                                tokens_per_s=f"{loop.tokens / loop.seconds:.0f}")
            history.append(record)
            if lines:
                lines.epoch(record, loop.tokens / loop.seconds if loop.seconds else 0.0)
            if not dev_examples or best is None or record["dev_loss"] < best["dev_loss"]:
                best = record
                # A copy only when a later epoch might be worse: the last epoch's weights are in the model.
                best_state = _trainable_state(model) if dev_examples and epoch < config.epochs else None
    if best_state is not None:
        _restore(model, best_state)
    return Fit(history, best, loop.tokens, loop.seconds, sum(p.numel() for p in loop.trainable))


class _Loop:
    """The optimizer steps of a training, epoch by epoch: AdamW with a linear warm-up over ``config.warmup``
    of the ``steps``, then linear decay; the progress bar and lines; the training tokens and seconds so far."""

    def __init__(self, model: Any, config: LLMTrainingConfig, steps: int, pad_id: int, dtype: Any, device: str,
                 bar: Any, lines: ProgressLines | None):
        import torch
        from transformers import get_linear_schedule_with_warmup

        self.model, self.config, self.pad_id, self.dtype, self.device = model, config, pad_id, dtype, device
        self.bar, self.lines = bar, lines
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=config.lr, weight_decay=config.weight_decay)
        self.schedule = get_linear_schedule_with_warmup(self.optimizer, int(config.warmup * steps), steps)
        self.tokens, self.seconds = 0, 0.0

    def epoch(self, epoch: int, examples: list[TrainingExample]) -> dict[str, Any]:
        """One pass over ``examples``: length-bucketed batches in the epoch's seeded order, one optimizer step
        per ``gradient_accumulation`` batches. Returns the epoch's record (its loss per answer token, seconds)."""
        config = self.config
        self.model.train()
        order = random.Random(config.seed + epoch).sample(range(len(examples)), len(examples))
        batches = length_buckets(examples, config.batch_size, order)
        random.Random(config.seed + epoch).shuffle(batches)
        loss, answer_tokens, started = 0.0, 0, time.perf_counter()
        for first in range(0, len(batches), config.gradient_accumulation):
            group = batches[first:first + config.gradient_accumulation]
            loss = self._step(group, loss)
            answer_tokens += sum(e.answer_tokens for batch in group for e in batch)
            rate = self.tokens / (self.seconds + time.perf_counter() - started)
            self.bar.set_postfix(epoch=epoch, loss=f"{loss / answer_tokens:.3f}", tokens_per_s=f"{rate:.0f}")
            if self.lines:
                self.lines.step(epoch, loss / answer_tokens, rate)
        self.seconds += time.perf_counter() - started
        return {"epoch": epoch, "train_loss": loss / max(1, answer_tokens), "seconds": time.perf_counter() - started}

    def _step(self, group: list[list[TrainingExample]], loss: float) -> float:
        """One optimizer step on the gradient of the mean loss over ``group``'s answer tokens; returns ``loss``
        plus the summed loss of each batch."""
        import torch

        answer_tokens = sum(e.answer_tokens for batch in group for e in batch)
        for batch in group:
            batch_loss, _ = answer_loss(self.model, batch_tensors(batch, self.pad_id, self.device), self.dtype,
                                        self.device)
            (batch_loss / answer_tokens).backward()  # the step's mean over its answer tokens
            loss += batch_loss.item()
            self.tokens += sum(len(e.input_ids) for e in batch)
        torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.bar.update(1)
        return loss


def _trainable_state(model: Any) -> dict[str, Any]:
    """A CPU copy of the weights that training changes (all of them, or the adapter's)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.named_parameters()
            if tensor.requires_grad}


def _restore(model: Any, state: dict[str, Any]) -> None:
    """Put the weights of ``state`` (``_trainable_state``) back into ``model``."""
    import torch

    with torch.no_grad():
        for name, tensor in model.named_parameters():
            if name in state:
                tensor.copy_(state[name].to(tensor.device))
