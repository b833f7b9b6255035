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


def distance_buckets(distances: torch.Tensor) -> torch.Tensor:
    """0 for the same start, 1..6 for targets after the source, 7..12 for targets before."""
    steps = torch.bucketize(distances.abs(), torch.tensor(_BOUNDS), right=True)
    return torch.where(distances < 0, steps + len(_BOUNDS), steps)


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


def candidate_pairs(spans: list[Span], window: int) -> torch.Tensor:
    """(pairs, 2) source and target indices of distinct entities that start at most ``window`` tokens
    apart, source-major."""
    starts = torch.tensor([span.start for span in spans], dtype=torch.long)
    close = (starts[None, :] - starts[:, None]).abs() <= window
    close.fill_diagonal_(False)
    return close.nonzero()


def pool_spans(vectors: torch.Tensor, spans: list[Span]) -> torch.Tensor:
    """(spans, hidden) mean of each span's token vectors."""
    starts = torch.tensor([span.start for span in spans], dtype=torch.long)
    lengths = torch.tensor([span.end - span.start + 1 for span in spans], dtype=torch.long)
    owner = torch.repeat_interleave(torch.arange(len(spans)), lengths)
    offsets = torch.arange(len(owner)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    rows = vectors.index_select(0, starts[owner] + offsets)
    sums = vectors.new_zeros(len(spans), vectors.shape[1]).index_add_(0, owner, rows)
    return sums / lengths[:, None].to(vectors.dtype)


class SpanHeads(nn.Module):
    """Tagger and relation classifier on top of token vectors of size ``hidden``."""

    def __init__(self, hidden: int, tags: list[str], labels: list[str], label_dim: int = 32, distance_dim: int = 16,
                 pair_hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.tags, self.labels = list(tags), list(labels)
        self.label_index = {label: n for n, label in enumerate(labels)}
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

    def pair_logits(self, vectors: torch.Tensor, spans: list[Span], pairs: torch.Tensor) -> torch.Tensor:
        """(pairs, relation classes) scores for one report's candidate pairs.

        The first layer sees ``[source, target, source * target, distance]``; it is applied part by
        part, so the source and target parts are computed once per entity rather than once per pair.
        """
        labels = torch.tensor([self.label_index[span.label] for span in spans])
        entities = torch.cat([pool_spans(vectors, spans), self.label_embedding(labels)], dim=-1)
        first = self.pair_classifier[0]
        width = entities.shape[1]
        as_source, as_target, as_product, as_distance = first.weight.split([width, width, width,
                                                                            first.weight.shape[1] - 3 * width], dim=1)
        sources, targets = pairs[:, 0], pairs[:, 1]
        starts = torch.tensor([span.start for span in spans], dtype=torch.long)
        buckets = distance_buckets(starts[targets] - starts[sources])
        distances = self.dropout(self.distance_embedding.weight) @ as_distance.T
        # index_select, not indexing: its gradient sums repeated rows in a fixed order (reproducible training).
        hidden = ((self.dropout(entities) @ as_source.T).index_select(0, sources)
                  + (self.dropout(entities) @ as_target.T).index_select(0, targets)
                  + self.dropout(entities.index_select(0, sources) * entities.index_select(0, targets)) @ as_product.T
                  + distances.index_select(0, buckets) + first.bias)
        return self.pair_classifier[1:](hidden)
