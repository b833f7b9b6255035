"""The span baseline's network: the encoder, a BIO tagger over tokens, and a relation classifier over
ordered entity pairs within a token window.

A pair is described by both entities (mean of their token vectors, plus a label embedding), their
elementwise product, and a bucket of the signed token distance between them.

Memory grows with the number of candidate pairs, never with its square: pairs are found from the
sorted entity starts, and scored ``chunk`` pairs at a time.
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
    apart, source-major (sorted by source, then target).

    Each entity's partners are a run of the entities sorted by start (found by binary search), so
    memory is linear in the pairs found, not quadratic in the entities.
    """
    starts = torch.tensor([span.start for span in spans], dtype=torch.long)
    order = torch.argsort(starts, stable=True)
    ranked = starts[order]
    first = torch.searchsorted(ranked, ranked - window, side="left")
    counts = torch.searchsorted(ranked, ranked + window, side="right") - first
    sources = torch.repeat_interleave(order, counts)
    offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(counts.cumsum(0) - counts, counts)
    targets = order[torch.repeat_interleave(first, counts) + offsets]
    distinct = sources != targets
    sources, targets = sources[distinct], targets[distinct]
    chosen = torch.argsort(sources * max(1, len(spans)) + targets)
    return torch.stack([sources[chosen], targets[chosen]], dim=1)


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

    def pair_logits(self, vectors: torch.Tensor, spans: list[Span], pairs: torch.Tensor,
                    chunk: int | None = None) -> torch.Tensor:
        """(pairs, relation classes) scores for one report's candidate pairs; with ``chunk``, that many
        pairs at a time, written into one preallocated result (None: all at once, as training does).

        The first layer sees ``[source, target, source * target, distance]``; it is applied part by
        part, so the source and target parts are computed once per entity rather than once per pair.
        """
        labels = torch.tensor([self.label_index[span.label] for span in spans])
        entities = torch.cat([pool_spans(vectors, spans), self.label_embedding(labels)], dim=-1)
        first = self.pair_classifier[0]
        width = entities.shape[1]
        as_source, as_target, as_product, as_distance = first.weight.split([width, width, width,
                                                                            first.weight.shape[1] - 3 * width], dim=1)
        starts = torch.tensor([span.start for span in spans], dtype=torch.long)
        distances = self.dropout(self.distance_embedding.weight) @ as_distance.T
        by_source = self.dropout(entities) @ as_source.T
        by_target = self.dropout(entities) @ as_target.T

        def score(part: torch.Tensor) -> torch.Tensor:
            sources, targets = part[:, 0], part[:, 1]
            buckets = distance_buckets(starts[targets] - starts[sources])
            # index_select, not indexing: its gradient sums repeated rows in a fixed order (reproducible training).
            hidden = (by_source.index_select(0, sources) + by_target.index_select(0, targets)
                      + self.dropout(entities.index_select(0, sources) * entities.index_select(0, targets))
                      @ as_product.T
                      + distances.index_select(0, buckets) + first.bias)
            return self.pair_classifier[1:](hidden)

        if chunk is None:
            return score(pairs)
        # One result written in place: kept per-chunk results would pin the freed temporaries between them.
        scores = entities.new_empty(len(pairs), len(RELATION_CLASSES))
        for begin in range(0, len(pairs), chunk):
            scores[begin:begin + chunk] = score(pairs[begin:begin + chunk])
        return scores
