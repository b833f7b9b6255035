"""BIO tags over RadGraph tokens, and their decoding back into entity spans."""

from __future__ import annotations

from llmgraph.core.document import Document

OUTSIDE = "O"


def tag_set(labels: list[str]) -> list[str]:
    """``O`` then ``B-``/``I-`` for every label."""
    return [OUTSIDE] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def encode_tags(doc: Document) -> list[str]:
    """The gold tag of every token of ``doc`` (entities never overlap in RadGraph)."""
    tags = [OUTSIDE] * len(doc.tokens)
    for entity in doc.entities:
        tags[entity.start_ix] = f"B-{entity.label}"
        for index in range(entity.start_ix + 1, entity.end_ix + 1):
            tags[index] = f"I-{entity.label}"
    return tags


def decode_tags(tags: list[str]) -> list[tuple[int, int, str]]:
    """Spans ``(start, end, label)`` (inclusive) from a tag sequence.

    An ``I-X`` that does not continue an ``X`` span starts a new one, so no predicted token is lost.
    """
    spans: list[tuple[int, int, str]] = []
    for index, tag in enumerate(tags):
        if tag == OUTSIDE:
            continue
        prefix, label = tag.split("-", 1)
        if prefix == "I" and spans and spans[-1][1] == index - 1 and spans[-1][2] == label:
            spans[-1] = (spans[-1][0], index, label)
        else:
            spans.append((index, index, label))
    return spans
