"""What a report is matched on, and what one gold report and its prediction score.

- Entity micro-F1 (RadGraph paper): an entity is correct when span and label match exactly.
  Relation micro-F1: both entity spans and labels and the relation type match. The
  ``unlabeled`` variants ignore entity labels (relation type still counts).
- F1RadGraph: the three rewards of the pair (``llmgraph.evaluation.rewards``).

A document's items are computed once (``document_items``); a pair of them gives the report's
tp/fp/fn counts (``pair_counts``) and rewards (``pair_rewards``).
"""

from __future__ import annotations

import operator
from collections import Counter, defaultdict
from typing import NamedTuple

from llmgraph.core.document import Document
from llmgraph.evaluation.rewards import DEFAULT_REWARDS, REWARD_LEVELS, reward_sets, set_f1


class DocumentItems(NamedTuple):
    """Everything a document is compared on, computed once per document."""

    entities: set  # (start, end, label): micro-F1
    spans: set  # (start, end): label-agnostic micro-F1
    relations: set  # (source entity, target entity, type), entities as (start, end, label)
    links: set  # the same with entities as (start, end)
    rewards: dict[str, set] | None  # reward_sets by level; None without entities (the rewards are 0)


NO_ITEMS = DocumentItems(frozenset(), frozenset(), frozenset(), frozenset(), None)  # a missing prediction


class ReportItems(NamedTuple):
    """What scoring reads of a document: its report id, text, groups and items in the label set of
    the scoring (small and cheap to hand over from a helper process that reads the file)."""

    id: str
    text: str
    modality: str | None
    data_source: str | None
    items: DocumentItems


def document_items(doc: Document, rewards: str = DEFAULT_REWARDS) -> DocumentItems:
    """The items of ``doc`` (its reward items of that reward version). An entity id given twice (only
    in documents made in code) means its last entity, as in the annotation dict
    ``radgraph.document_to_raw`` writes."""
    by_id = {entity.id: entity for entity in doc.entities}
    keys = {entity_id: (e.start_ix, e.end_ix, e.label) for entity_id, e in by_id.items()}
    entities = {(e.start_ix, e.end_ix, e.label) for e in doc.entities}
    relations = {(keys[r.source], keys[r.target], r.type) for r in doc.relations}
    items = None
    if by_id:
        targets: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for relation in doc.relations:
            targets[relation.source].append((relation.type, by_id[relation.target].tokens))
        items = reward_sets(((e.tokens, e.label, targets.get(entity_id, ())) for entity_id, e in by_id.items()),
                            rewards)
    return DocumentItems(entities, {item[:2] for item in entities}, relations,
                         {(source[:2], target[:2], kind) for source, target, kind in relations}, items)


def pair_rewards(gold: DocumentItems, pred: DocumentItems) -> dict[str, float]:
    """``rg_e``, ``rg_er``, ``rg_er_bar`` of one report (``compute_reward`` at each level)."""
    if gold.rewards is None or pred.rewards is None:
        return dict.fromkeys(REWARD_LEVELS, 0.0)
    return {name: set_f1(pred.rewards[level], gold.rewards[level]) for name, level in REWARD_LEVELS.items()}


_BUCKET = operator.itemgetter(2)  # an item's label (entities) or type (relations)


def _count(counts: dict, gold: set[tuple], pred: set[tuple], prefix: str) -> None:
    """The tp/fp/fn of one report under ``prefix`` and per bucket."""
    for outcome, items in (("tp", gold & pred), ("fp", pred - gold), ("fn", gold - pred)):
        if items:
            counts[(prefix, outcome)] = len(items)
            for bucket, number in Counter(map(_BUCKET, items)).items():
                counts[(f"{prefix}:{bucket}", outcome)] = number


def pair_counts(gold: DocumentItems, pred: DocumentItems) -> Counter:
    """All tp/fp/fn counts of one report: keys are ``(metric, outcome)``; a bucket (label,
    relation type) only when it occurs."""
    counts: Counter = Counter()
    _count(counts, gold.entities, pred.entities, "entity")
    _count(counts, gold.relations, pred.relations, "relation")
    for kind, gold_items, pred_items in (("entity", gold.spans, pred.spans), ("relation", gold.links, pred.links)):
        matched = len(gold_items & pred_items)
        counts[(f"{kind}_unlabeled", "tp")] = matched
        counts[(f"{kind}_unlabeled", "fp")] = len(pred_items) - matched
        counts[(f"{kind}_unlabeled", "fn")] = len(gold_items) - matched
    return counts


def report_counts(gold: Document, pred: Document) -> Counter:
    """All tp/fp/fn counts of one report: keys are ``(metric, outcome)``."""
    return pair_counts(document_items(gold), document_items(pred))


def report_rewards(gold: Document, pred: Document, rewards: str = DEFAULT_REWARDS) -> dict[str, float]:
    """``rg_e``, ``rg_er``, ``rg_er_bar`` of one report."""
    return pair_rewards(document_items(gold, rewards), document_items(pred, rewards))
