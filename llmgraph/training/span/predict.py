"""Batched prediction with a trained span baseline, and loading one from its folder.

A model folder holds ``encoder/`` (the fine-tuned encoder and its tokenizer), ``heads.pt`` (tagger
and relation classifier) and ``span_model.json`` (tags, labels, window, training record).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.training.span.encoder import load_encoder, token_vectors
from llmgraph.training.span.files import CARD, ENCODER, HEADS
from llmgraph.training.span.model import RELATION_CLASSES, Span, SpanHeads, candidate_pairs
from llmgraph.training.span.tags import decode_tags

PAIR_CHUNK = 8192  # candidate pairs scored at once: bounds the relation classifier's memory on long reports


def annotate(doc: Document, vectors: torch.Tensor, heads: SpanHeads, window: int) -> Document:
    """``doc`` with the entities and relations the heads find in its token vectors, each with its score:
    an entity's is the probability of its tag sequence (the product of its tokens' chosen tag
    probabilities: the tagger decides each token independently), a relation's the classifier's softmax
    probability of its type."""
    if not len(vectors):
        return replace(doc, entities=[], relations=[])
    tag_probabilities, chosen = heads.tag_logits(vectors).softmax(dim=-1).max(dim=-1)
    tags = [heads.tags[i] for i in chosen.tolist()]
    spans = [Span(start, end, label) for start, end, label in decode_tags(tags)]
    tokens, probabilities = doc.tokens, tag_probabilities.tolist()
    entities = [Entity(str(n), " ".join(tokens[s.start:s.end + 1]), s.label, s.start, s.end,
                       float(np.prod(probabilities[s.start:s.end + 1])))
                for n, s in enumerate(spans, 1)]
    relations = []
    pairs = candidate_pairs(spans, window)
    if len(pairs):
        class_probabilities, kinds = heads.pair_logits(vectors, spans, pairs, chunk=PAIR_CHUNK).softmax(dim=-1).max(dim=-1)
        found = kinds > 0
        for (i, j), kind, score in zip(pairs[found].tolist(), kinds[found].tolist(), class_probabilities[found].tolist()):
            relations.append(Relation(RELATION_CLASSES[kind], entities[i].id, entities[j].id, score))
    return replace(doc, entities=entities, relations=relations)


def predict_documents(tokenizer, encoder: torch.nn.Module, heads: SpanHeads, docs: list[Document], window: int,
                      batch_size: int = 64, max_length: int = 512, rows: int | None = None) -> list[Document]:
    """Annotated copies of ``docs`` in their order; batches of similar length limit padding.
    ``rows``: windows per encoder call (see ``token_vectors``; only the default keeps every
    report's graph independent of its batch)."""
    order = sorted(range(len(docs)), key=lambda i: len(docs[i].tokens))
    predicted: list[Document | None] = [None] * len(docs)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            vectors = token_vectors(tokenizer, encoder, [docs[i].tokens for i in chosen], max_length, rows)
            for i, doc_vectors in zip(chosen, vectors):
                predicted[i] = annotate(docs[i], doc_vectors.float(), heads, window)
    return predicted  # type: ignore[return-value]


def _bfloat16_is_fast() -> bool:
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


class SpanPredictor:
    """A trained span baseline, ready to annotate batches of documents."""

    def __init__(self, folder: Path, card: dict[str, Any], tokenizer, encoder: torch.nn.Module, heads: SpanHeads,
                 dtype: torch.dtype):
        self.folder, self.card, self.tokenizer, self.encoder, self.heads, self.dtype = (
            folder, card, tokenizer, encoder, heads, dtype)

    @classmethod
    def load(cls, folder: str | Path, dtype: str = "auto") -> "SpanPredictor":
        """Load a folder written by ``train_span``. ``dtype`` auto: bfloat16 encoder where the CPU
        has fast bfloat16 (or on a GPU), else float32; the heads always run in float32."""
        folder = Path(folder)
        if not (folder / CARD).is_file():
            raise InputError(f"not a span model folder (no {CARD}; train one with llmgraph train-span): {folder}")
        try:
            card = json.loads((folder / CARD).read_text(encoding="utf-8"))
            tags, labels, settings = card["tags"], card["labels"], card["heads"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"not a readable span model record ({type(error).__name__}: {error}); retrain with "
                             "llmgraph train-span", folder / CARD) from None
        tokenizer, encoder = load_encoder(folder / ENCODER)
        heads = SpanHeads(encoder.config.hidden_size, tags, labels, **settings)
        try:
            with warnings.catch_warnings():  # torch's notes on a damaged file's pickle protocol: the error says it
                warnings.simplefilter("ignore")
                state = torch.load(folder / HEADS, weights_only=True)
            heads.load_state_dict(state)
        except FileNotFoundError:
            raise InputError("missing: a span model folder needs its heads; retrain with llmgraph train-span",
                             folder / HEADS) from None
        except Exception as error:  # noqa: BLE001 - torch.load and pickle raise many kinds for a damaged file
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise InputError(f"not the heads of this span model ({type(error).__name__}: {first}); retrain with "
                             "llmgraph train-span", folder / HEADS) from None
        chosen = {"auto": torch.bfloat16 if _bfloat16_is_fast() else torch.float32,
                  "bfloat16": torch.bfloat16, "float32": torch.float32}[dtype]
        predictor = cls(folder, card, tokenizer, encoder.to(chosen).eval(), heads.eval(), chosen)
        predictor.predict([Document("warm-up", "no pleural effusion .")])  # first-call set-up belongs to loading
        return predictor

    def predict(self, docs: list[Document], batch_size: int = 64, rows: int | None = None) -> list[Document]:
        """Copies of ``docs`` with predicted entities (ids 1, 2, ... in token order) and relations
        (``rows``: see ``predict_documents``)."""
        return predict_documents(self.tokenizer, self.encoder, self.heads, docs, self.card["window"], batch_size,
                                 self.card["max_length"], rows)

    def describe(self) -> dict[str, Any]:
        """The model for a run's manifest: where it is, its encoder, and how its epoch was chosen
        (``dev``: the chosen epoch's dev scores, None when it was trained without a dev set)."""
        best = self.card.get("best") or {}
        return {"name": "span", "model": str(self.folder), "encoder": self.card["encoder"],
                "labels": self.card["labels"], "window": self.card["window"], "dtype": str(self.dtype),
                "parameters": sum(p.numel() for p in self.encoder.parameters()) +
                sum(p.numel() for p in self.heads.parameters()),
                "dev": best if "dev_entity_f1" in best else None,
                "epoch_selection": self.card.get("epoch_selection", "best dev entity F1 + relation F1")}

    def close(self) -> None:
        del self.encoder, self.heads
