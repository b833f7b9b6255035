"""Which reports to review first: those whose scores say they hold the most wrong predictions, the least
confident on average, those two systems disagree on most, or a random draw; each pick says why it was
picked."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from llmgraph.core.document import Document, has_scores
from llmgraph.core.errors import InputError
from llmgraph.evaluation.calibration import expected_errors, report_confidence, review_order
from llmgraph.evaluation.items import document_items


@dataclass(frozen=True)
class Pick:
    """A report chosen for review: its place in the review order, and why it is there."""

    id: str
    rank: int
    why: str
    value: float | None = None  # the number it was ranked by (mean score, agreement), None for a random draw


@dataclass(frozen=True)
class Selection:
    """How to choose: ``how`` (one of ``SELECTORS``), how many, the other system's graphs for
    ``disagreement``, the seed for ``random``."""

    how: str
    count: int
    against: list[Document] | None = None
    seed: int = 0


def agreement(a: Document, b: Document) -> float:
    """F1 of two graphs of one report against each other, entities and relations together (symmetric;
    1.0 when both are empty)."""
    items_a, items_b = document_items(a), document_items(b)
    left, right = items_a.entities | items_a.relations, items_b.entities | items_b.relations
    return 1.0 if not left and not right else 2 * len(left & right) / (len(left) + len(right))


def _by_scores(docs: list[Document], selection: Selection, signal: str, measure: Callable[[Document], float | None],
               says: str) -> list[Pick]:
    """The first reports of the review order by ``signal``, each with ``says`` (its measure, its rank)."""
    if not any(map(has_scores, docs)):
        raise InputError(f"has no scores: --select {selection.how} needs a system that writes them "
                         "(or choose --select random or disagreement)")
    by_id = {doc.id: doc for doc in docs}
    picks = []
    for rank, doc_id in enumerate(review_order(docs, signal)[:selection.count], 1):
        value = measure(by_id[doc_id])
        why = ("no scored entity or relation (nothing found is worth a look)" if value is None
               else says.format(value=value, rank=rank, of=len(docs)))
        picks.append(Pick(doc_id, rank, why, value))
    return picks


def _lowest_score(docs: list[Document], selection: Selection) -> list[Pick]:
    return _by_scores(docs, selection, "mean-score", report_confidence,
                      "mean score {value:.3f} (rank {rank} of {of}, lowest first)")


def _expected_errors(docs: list[Document], selection: Selection) -> list[Pick]:
    return _by_scores(docs, selection, "expected-errors", expected_errors,
                      "{value:.1f} predictions wrong by its scores (the sum of 1 - score; rank {rank} of {of}, most first)")


def _disagreement(docs: list[Document], selection: Selection) -> list[Pick]:
    if selection.against is None:
        raise InputError("--select disagreement needs the other system's graphs (--against FILE)")
    other = {doc.id: doc for doc in selection.against}
    missing = [doc.id for doc in docs if doc.id not in other]
    if missing:
        raise InputError(f"--against has no graph for {len(missing)} of the reports (first: {missing[0]})")
    scored = sorted((agreement(doc, other[doc.id]), doc.id) for doc in docs)[:selection.count]
    return [Pick(doc_id, rank, f"F1 {value:.3f} between the two systems (rank {rank} of {len(docs)}, lowest first)",
                 value) for rank, (value, doc_id) in enumerate(scored, 1)]


def _random(docs: list[Document], selection: Selection) -> list[Pick]:
    drawn = random.Random(selection.seed).sample([doc.id for doc in docs], min(selection.count, len(docs)))
    return [Pick(doc_id, rank, f"drawn at random (seed {selection.seed})") for rank, doc_id in enumerate(drawn, 1)]


DEFAULT_SELECTION = "expected-errors"  # measured best at finding errors per report (eval/results/bench_review_*)
SELECTORS: dict[str, Callable[[list[Document], Selection], list[Pick]]] = {
    "expected-errors": _expected_errors, "lowest-score": _lowest_score, "disagreement": _disagreement,
    "random": _random}


def select(docs: list[Document], selection: Selection) -> list[Pick]:
    """The reports to review, in review order."""
    return SELECTORS[selection.how](docs, selection)
