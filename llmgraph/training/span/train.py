"""Fine-tuning the span baseline: BIO tagging loss plus relation-pair loss on gold entities, the best
epoch chosen by dev entity F1 + relation F1 (the project's own metrics), or the last epoch when there
is no dev set, saved as a folder that appears atomically (``llmgraph.training.publish``)."""

from __future__ import annotations

import copy
import platform
import random
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from llmgraph import __version__
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.evaluation.scoring import evaluate
from llmgraph.io.atomic import write_json
from llmgraph.io.outputs import check_model_output
from llmgraph.training.publish import published_folder
from llmgraph.training.span.encoder import DEFAULT_ENCODER, encoder_path, load_encoder, token_vectors
from llmgraph.training.span.files import CARD, ENCODER, HEADS
from llmgraph.training.span.model import RELATION_CLASSES, Span, SpanHeads, candidate_pairs
from llmgraph.training.span.predict import predict_documents
from llmgraph.training.span.tags import encode_tags, tag_set

HEAD_SETTINGS = {"label_dim": 32, "distance_dim": 16, "pair_hidden": 256}
RELATION_WEIGHT = 3.0
ON_DEV = "best dev entity F1 + relation F1"
NO_DEV = "last epoch (no dev set: the epoch was not chosen on a dev set)"


def _pair_targets(doc: Document, pairs: torch.Tensor) -> torch.Tensor:
    """The gold relation class of each candidate pair (0, none, for most)."""
    index = {entity.id: n for n, entity in enumerate(doc.entities)}
    kinds = torch.zeros(len(doc.entities), len(doc.entities), dtype=torch.long)
    for relation in doc.relations:
        kinds[index[relation.source], index[relation.target]] = RELATION_CLASSES.index(relation.type)
    return kinds[pairs[:, 0], pairs[:, 1]]


def _loss(doc: Document, vectors: torch.Tensor, heads: SpanHeads, window: int) -> torch.Tensor:
    tags = torch.tensor([heads.tags.index(tag) for tag in encode_tags(doc)])
    loss = torch.nn.functional.cross_entropy(heads.tag_logits(vectors), tags)
    spans = [Span(e.start_ix, e.end_ix, e.label) for e in doc.entities]
    pairs = candidate_pairs(spans, window)
    if len(pairs):
        logits = heads.pair_logits(vectors, spans, pairs)
        # Most pairs hold no relation: weigh the few that do up, or the classifier learns to say none.
        weights = torch.tensor([1.0] + [RELATION_WEIGHT] * (len(RELATION_CLASSES) - 1))
        loss = loss + torch.nn.functional.cross_entropy(logits, _pair_targets(doc, pairs), weight=weights)
    return loss


def _scores(gold: list[Document], predicted: list[Document]) -> dict[str, float]:
    result = evaluate(gold, predicted, samples=0)
    return {"entity_f1": result["entity_f1"], "relation_f1": result["relation_f1"]}


def _relation_window(docs: list[Document]) -> tuple[int, float]:
    """The smallest start distance that covers 99.5% of training relations (at least 8, at most 64),
    and the share of training relations it covers."""
    distances = []
    for doc in docs:
        starts = {entity.id: entity.start_ix for entity in doc.entities}
        distances += [abs(starts[r.source] - starts[r.target]) for r in doc.relations]
    distances.sort()
    if not distances:
        return 8, 1.0
    window = max(8, min(64, distances[min(len(distances) - 1, int(0.995 * len(distances)))]))
    return window, sum(distance <= window for distance in distances) / len(distances)


def check_training_settings(epochs: int, batch_size: int, lr: float, head_lr: float) -> None:
    """One-line errors for settings training cannot run with, before the encoder loads."""
    for name, value in (("epochs", epochs), ("batch size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{name} must be a whole number of at least 1 (got {value!r})")
    for name, value in (("learning rate", lr), ("head learning rate", head_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise InputError(f"{name} must be a number above 0 (got {value!r})")


def _dev_reports(dev_docs: list[Document] | None) -> list[Document] | None:
    """The dev reports with text; None (no dev set) stays None, a dev set without reports is an error."""
    if dev_docs is None:
        return None
    with_text = [doc for doc in dev_docs if doc.tokens]
    if not with_text:
        raise InputError("the dev set has no reports (with text) to choose the epoch on; "
                         "give a dev file with reports, or none to keep the last epoch")
    return with_text


def _train_epoch(order: list[Document], tokenizer: Any, model: Any, heads: SpanHeads, window: int, optimizer: Any,
                 schedule: Any, batch_size: int, max_length: int, bar: tqdm) -> float:
    """One pass over ``order`` in batches; the mean training loss per report. Leaves the model in eval mode."""
    model.train()
    heads.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        vectors = token_vectors(tokenizer, model, [doc.tokens for doc in batch], max_length, rows=0)
        loss = sum(_loss(doc, v, heads, window) for doc, v in zip(batch, vectors)) / len(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*model.parameters(), *heads.parameters()], 1.0)
        optimizer.step()
        schedule.step()
        total += loss.item() * len(batch)
        bar.update(1)
    model.eval()
    heads.eval()
    return total / len(order)


def train_span(train_docs: list[Document], dev_docs: list[Document] | None, out_dir: str | Path,
               encoder: str | None = None, epochs: int = 10, batch_size: int = 16, lr: float = 1e-4,
               head_lr: float = 2e-3, seed: int = 0, max_length: int = 512, progress: bool = True) -> dict[str, Any]:
    """Fine-tune the encoder and heads on ``train_docs``; keep the epoch that scores best on ``dev_docs``
    (None: no dev set, keep the last epoch and record no dev scores).

    Returns the training record also written to ``out_dir/span_model.json``. The folder is written under a
    hidden temporary name and renamed into place once complete (``llmgraph.training.publish``).
    """
    check_training_settings(epochs, batch_size, lr, head_lr)
    check_model_output(Path(out_dir), CARD, [("encoder", encoder)])
    train_docs = [doc for doc in train_docs if doc.tokens]
    if not train_docs:
        raise InputError("no training reports with text")
    labels = sorted({entity.label for doc in train_docs for entity in doc.entities})
    if not labels:
        raise InputError("the training reports have no entities")
    dev_docs = _dev_reports(dev_docs)
    started = time.perf_counter()
    torch.manual_seed(seed)
    random.seed(seed)
    path = encoder_path(encoder)
    tokenizer, model = load_encoder(path)
    heads = SpanHeads(model.config.hidden_size, tag_set(labels), labels, **HEAD_SETTINGS)
    window, coverage = _relation_window(train_docs)
    with published_folder(Path(out_dir)) as staging:
        history, best = _fit(train_docs, dev_docs, tokenizer, model, heads, window, epochs, batch_size, lr, head_lr,
                             seed, max_length, progress)
        model.save_pretrained(staging / ENCODER)
        tokenizer.save_pretrained(staging / ENCODER)
        torch.save(heads.state_dict(), staging / HEADS)
        card = {
            "llmgraph": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "encoder": DEFAULT_ENCODER if encoder is None else str(encoder), "labels": labels, "tags": heads.tags,
            "heads": HEAD_SETTINGS, "window": window, "window_coverage": coverage, "max_length": max_length,
            "training": {"train_reports": len(train_docs), "dev_reports": None if dev_docs is None else len(dev_docs),
                         "epochs": epochs, "batch_size": batch_size, "lr": lr, "head_lr": head_lr, "seed": seed,
                         "seconds": time.perf_counter() - started},
            "history": history, "best": best, "epoch_selection": NO_DEV if dev_docs is None else ON_DEV,
            "versions": {"torch": torch.__version__, "transformers": metadata.version("transformers"),
                         "python": platform.python_version()},
        }
        write_json(staging / CARD, card)
    return card


def _fit(train_docs: list[Document], dev_docs: list[Document] | None, tokenizer: Any, model: Any, heads: SpanHeads,
         window: int, epochs: int, batch_size: int, lr: float, head_lr: float, seed: int, max_length: int,
         progress: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The epochs: AdamW (``lr`` for the encoder, ``head_lr`` for the heads) with linear decay, reports in a
    seeded order, dev scores after each epoch; the weights of the best epoch on ``dev_docs`` (the last
    without them) are left in ``model`` and ``heads``. Returns each epoch's record and the one kept."""
    optimizer = torch.optim.AdamW([{"params": model.parameters(), "lr": lr},
                                   {"params": heads.parameters(), "lr": head_lr}], weight_decay=0.01)
    steps = epochs * -(-len(train_docs) // batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / steps))
    history, best, best_state = [], None, None
    bar = tqdm(total=steps, unit="batch", disable=None if progress else True, dynamic_ncols=True)  # None: terminals only
    for epoch in range(1, epochs + 1):
        order = random.Random(seed + epoch).sample(train_docs, len(train_docs))
        loss = _train_epoch(order, tokenizer, model, heads, window, optimizer, schedule, batch_size, max_length, bar)
        history.append({"epoch": epoch, "train_loss": loss})
        if dev_docs is None:
            best = history[-1]
            bar.set_postfix(loss=f"{loss:.3f}")
            continue
        dev = _scores(dev_docs, predict_documents(tokenizer, model, heads, dev_docs, window, max_length=max_length))
        history[-1] |= {f"dev_{k}": v for k, v in dev.items()}
        bar.set_postfix(loss=f"{loss:.3f}", dev_entity_f1=f"{dev['entity_f1']:.3f}",
                        dev_relation_f1=f"{dev['relation_f1']:.3f}")
        if best is None or dev["entity_f1"] + dev["relation_f1"] > best["dev_entity_f1"] + best["dev_relation_f1"]:
            best = history[-1]
            best_state = (copy.deepcopy(model.state_dict()), copy.deepcopy(heads.state_dict()))
    bar.close()
    if best_state is not None:  # else the last epoch's weights, as they are
        model.load_state_dict(best_state[0])
        heads.load_state_dict(best_state[1])
    return history, best
