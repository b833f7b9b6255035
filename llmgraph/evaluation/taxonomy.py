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


def entity_error(item: Item, others: set[Item], missing: str) -> str:
    """The class of an entity on one side that the other side (``others``) lacks."""
    same_span = [other for other in others if other[:2] == item[:2]]
    if same_span:
        kind, _ = kind_and_certainty(item[2])
        return "wrong certainty" if any(kind_and_certainty(o[2])[0] == kind for o in same_span) else "wrong type"
    overlapping = [other for other in others if _overlaps(item, other)]
    if not overlapping:
        return missing
    return "boundary" if any(other[2] == item[2] for other in overlapping) else "boundary and label"


def relation_error(relation: tuple[Item, Item, str], others: set[tuple[Item, Item, str]],
                   other_entities: set[Item], false_negative: bool) -> str:
    """The class of a relation on one side that the other side (its ``others``, its entities
    ``other_entities``) lacks."""
    source, target, kind = relation
    if any(o[:2] == (source, target) for o in others):
        return "wrong relation type"
    if any(o[:2] == (target, source) for o in others):
        return "reversed direction"
    if false_negative and not all(any(_overlaps(end, e) for e in other_entities) for end in (source, target)):
        return "lost with its entity"
    if any(o[2] == kind and _overlaps(o[0], source) and _overlaps(o[1], target) for o in others):
        return "endpoint error"
    return "missed" if false_negative else "spurious"


def report_errors(gold: DocumentItems, pred: DocumentItems) -> Counter[ErrorKey]:
    """Every false positive and false negative of one report, by class, side and bucket."""
    counts: Counter[ErrorKey] = Counter()
    for item in pred.entities - gold.entities:
        counts[ErrorKey("entity", entity_error(item, gold.entities, "spurious"), "fp", item[2])] += 1
    for item in gold.entities - pred.entities:
        counts[ErrorKey("entity", entity_error(item, pred.entities, "missed"), "fn", item[2])] += 1
    for relation in pred.relations - gold.relations:
        error = relation_error(relation, gold.relations, gold.entities, false_negative=False)
        counts[ErrorKey("relation", error, "fp", relation[2])] += 1
    for relation in gold.relations - pred.relations:
        error = relation_error(relation, pred.relations, pred.entities, false_negative=True)
        counts[ErrorKey("relation", error, "fn", relation[2])] += 1
    return counts


def error_summary(errors: Counter[ErrorKey]) -> dict[str, dict[str, dict[str, int]]]:
    """Totals of every class, JSON-ready: ``{kind: {error: {"fp": n, "fn": n}}}``, each class listed."""
    summary = {kind: {error: dict.fromkeys(SIDES, 0) for error in errors_of_kind} for kind, errors_of_kind in ERRORS.items()}
    for key, number in errors.items():
        summary[key.kind][key.error][key.side] += number
    return summary
