"""The span baseline's network: the encoder, a BIO tagger over tokens, and a relation classifier over
ordered entity pairs within a token window.

A pair is described by both entities (mean of their token vectors, plus a label embedding), their
elementwise product, and a bucket of the signed token distance between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

NO_RELATION = "none"
RELATION_CLASSES = (NO_RELATION, "modify", "located_at", "suggestive_of")
# Signed distance buckets (target start - source start): 0, then +-1, 2, 3-4, 5-8, 9-16, 17+.
_BOUNDS = (1, 2, 3, 5, 9, 17)


def distance_bucket(distance: int) -> int:
    """0 for the same start, 1..6 for targets after the source, 7..12 for targets before."""
    if distance == 0:
        return 0
    step = sum(abs(distance) >= bound for bound in _BOUNDS)
    return step if distance > 0 else step + len(_BOUNDS)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


def candidate_pairs(spans: list[Span], window: int) -> list[tuple[int, int]]:
    """Ordered pairs of distinct entities that start at most ``window`` tokens apart."""
    return [(i, j) for i, a in enumerate(spans) for j, b in enumerate(spans)
            if i != j and abs(a.start - b.start) <= window]


class SpanHeads(nn.Module):
    """Tagger and relation classifier on top of token vectors of size ``hidden``."""

    def __init__(self, hidden: int, tags: list[str], labels: list[str], label_dim: int = 32, distance_dim: int = 16,
                 pair_hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.tags, self.labels = list(tags), list(labels)
        self.dropout = nn.Dropout(dropout)
        self.tagger = nn.Linear(hidden, len(tags))
        self.label_embedding = nn.Embedding(len(labels), label_dim)
        self.distance_embedding = nn.Embedding(1 + 2 * len(_BOUNDS), distance_dim)
        self.pair_classifier = nn.Sequential(
            nn.Linear(3 * (hidden + label_dim) + distance_dim, pair_hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(pair_hidden, len(RELATION_CLASSES)))

    def tag_logits(self, vectors: torch.Tensor) -> torch.Tensor:
        """(tokens, tags) scores for one report."""
        return self.tagger(self.dropout(vectors))

    def pair_logits(self, vectors: torch.Tensor, spans: list[Span], pairs: list[tuple[int, int]]) -> torch.Tensor:
        """(pairs, relation classes) scores for one report's candidate pairs."""
        pooled = torch.stack([vectors[span.start:span.end + 1].mean(dim=0) for span in spans])
        labels = torch.tensor([self.labels.index(span.label) for span in spans])
        entities = torch.cat([pooled, self.label_embedding(labels).to(pooled.dtype)], dim=-1)
        sources = entities[[i for i, _ in pairs]]
        targets = entities[[j for _, j in pairs]]
        buckets = torch.tensor([distance_bucket(spans[j].start - spans[i].start) for i, j in pairs])
        features = torch.cat([sources, targets, sources * targets,
                              self.distance_embedding(buckets).to(pooled.dtype)], dim=-1)
        return self.pair_classifier(self.dropout(features))
