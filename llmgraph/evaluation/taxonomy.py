"""What kind of mistake each error behind micro-F1 is: every false positive and every false negative of
one report is given exactly one class.

Entities (an item is a token span and its label; a prediction overlaps a gold entity when their spans
share a token):

- ``wrong type``: the same span with a label of another kind (anatomy vs observation; in RadGraph-XL
  also measurement vs not);
- ``wrong certainty``: the same span and kind, another certainty (DP / U / DA, or the XL words);
- ``boundary``: no entity of the same span on the other side, one overlapping it with the same label;
- ``boundary and label``: overlapping ones only with other labels;
- ``missed`` (a false negative) / ``spurious`` (a false positive): nothing overlaps on the other side.

Relations (source, target, type; the ends are entities with their labels):

- ``wrong relation type``: the same ends with another type;
- ``reversed direction``: the ends swapped (any type);
- ``lost with its entity`` (false negatives): an end has no overlapping prediction at all;
- ``endpoint error``: a relation of the same type whose ends overlap these, one end not exactly the
  same entity (a boundary or label error of an end);
- ``missed`` / ``spurious``: nothing of the above.

A mislabeled entity is one false positive and one false negative in micro-F1, so it is counted on both
sides (``side`` fp and fn); summed over the classes, each side equals micro-F1's fp and fn, in total, per
label or relation type (``bucket``: the predicted item's for a false positive, the gold item's for a false
negative, as micro-F1 buckets them) and per report.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import NamedTuple

from llmgraph.core.labels import kind_and_certainty
from llmgraph.evaluation.items import DocumentItems

ENTITY_ERRORS = ("wrong type", "wrong certainty", "boundary", "boundary and label", "missed", "spurious")
RELATION_ERRORS = ("wrong relation type", "reversed direction", "endpoint error", "lost with its entity",
                   "missed", "spurious")
ERRORS = {"entity": ENTITY_ERRORS, "relation": RELATION_ERRORS}
SIDES = ("fp", "fn")

Item = tuple[int, int, str]  # (start, end, label)


class ErrorKey(NamedTuple):
    kind: str  # entity / relation
    error: str  # one of ERRORS[kind]
    side: str  # fp / fn
    bucket: str  # label (entities) or relation type


def _overlaps(a: Item, b: Item) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@cache
def _kind(label: str) -> str:
    return kind_and_certainty(label)[0]


class ErrorIndex:
    """One side of a report (gold or prediction) indexed to class the other side's errors against it: the
    frequent questions (is this span here, is this token covered, are these ends linked) are set probes;
    the rare ones (which labels, which relation of this type) scan the side's items."""

    def __init__(self, items: DocumentItems) -> None:
        self.entities, self.relations = items.entities, items.relations
        self.spans = {(start, end) for start, end, _ in self.entities}
        self.covered = {token for start, end, _ in self.entities for token in range(start, end + 1)}
        self.ends = {(source, target) for source, target, _ in self.relations}

    def _covered(self, item: Item) -> bool:
        """Whether an entity of this side overlaps ``item``."""
        return not self.covered.isdisjoint(range(item[0], item[1] + 1))

    def entity_error(self, item: Item, missing: str) -> str:
        """The class of an entity of the other side that this side lacks (``missing``: its class when
        nothing here overlaps it)."""
        if item[:2] in self.spans:
            kind = _kind(item[2])
            same_span = (label for start, end, label in self.entities if (start, end) == item[:2])
            return "wrong certainty" if any(_kind(label) == kind for label in same_span) else "wrong type"
        if not self._covered(item):
            return missing
        overlapping = (label for start, end, label in self.entities if start <= item[1] and item[0] <= end)
        return "boundary" if item[2] in overlapping else "boundary and label"

    def relation_error(self, relation: tuple[Item, Item, str], false_negative: bool) -> str:
        """The class of a relation of the other side that this side lacks."""
        source, target, kind = relation
        if (source, target) in self.ends:
            return "wrong relation type"
        if (target, source) in self.ends:
            return "reversed direction"
        if false_negative and not (self._covered(source) and self._covered(target)):
            return "lost with its entity"
        if any(k == kind and _overlaps(s, source) and _overlaps(t, target) for s, t, k in self.relations):
            return "endpoint error"
        return "missed" if false_negative else "spurious"


def add_errors(counts: dict[tuple, int], gold: DocumentItems, pred: DocumentItems) -> None:
    """Add every false positive and false negative of one report to ``counts``, keyed by plain
    (kind, error, side, bucket) tuples (equal to their ``ErrorKey``; the scoring's hot path)."""
    get = counts.get
    # (side, the side's items, the other side's, what an entity overlapping nothing there is)
    for side, mine, other, missing in (("fp", pred, gold, "spurious"), ("fn", gold, pred, "missed")):
        entities, relations = mine.entities - other.entities, mine.relations - other.relations
        if not entities and not relations:
            continue
        against = ErrorIndex(other)
        for item in entities:
            key = ("entity", against.entity_error(item, missing), side, item[2])
            counts[key] = get(key, 0) + 1
        for relation in relations:
            key = ("relation", against.relation_error(relation, side == "fn"), side, relation[2])
            counts[key] = get(key, 0) + 1


def error_counter(counts: dict[tuple, int]) -> Counter[ErrorKey]:
    """``add_errors``' counts with their keys as ``ErrorKey``."""
    return Counter({ErrorKey(*key): number for key, number in counts.items()})


def report_errors(gold: DocumentItems, pred: DocumentItems) -> Counter[ErrorKey]:
    """Every false positive and false negative of one report, by class, side and bucket."""
    counts: dict[tuple, int] = {}
    add_errors(counts, gold, pred)
    return error_counter(counts)


def error_summary(errors: Counter[ErrorKey]) -> dict[str, dict[str, dict[str, int]]]:
    """Totals of every class, JSON-ready: ``{kind: {error: {"fp": n, "fn": n}}}``, each class listed."""
    summary = {kind: {error: dict.fromkeys(SIDES, 0) for error in errors_of_kind} for kind, errors_of_kind in ERRORS.items()}
    for key, number in errors.items():
        summary[key.kind][key.error][key.side] += number
    return summary
