"""The error taxonomy: each built perturbation is detected as its class, and the classes add up exactly
to micro-F1's false positives and false negatives (in total, per label / relation type, per report)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.labels import RADGRAPH_LABELS, RELATION_TYPES
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.items import document_items, pair_counts
from llmgraph.evaluation.taxonomy import ENTITY_ERRORS, RELATION_ERRORS, report_errors
from llmgraph.io.radgraph_reader import read_radgraph

TEXT = "mild patchy opacity in the left lower lobe suggests pneumonia . no effusion"
GOLD = Document("r", TEXT, [
    Entity("1", "mild", "OBS-DP", 0, 0),
    Entity("2", "patchy", "OBS-DP", 1, 1),
    Entity("3", "opacity", "OBS-DP", 2, 2),
    Entity("4", "left", "ANAT-DP", 5, 5),
    Entity("5", "lower lobe", "ANAT-DP", 6, 7),
    Entity("6", "pneumonia", "OBS-U", 9, 9),
    Entity("7", "effusion", "OBS-DA", 12, 12),
], [
    Relation("modify", "1", "3"), Relation("modify", "2", "3"), Relation("located_at", "3", "5"),
    Relation("modify", "4", "5"), Relation("suggestive_of", "3", "6"),
])


def errors(pred: Document, gold: Document = GOLD) -> Counter:
    """(kind, error, side) -> count."""
    counts: Counter = Counter()
    for key, number in report_errors(document_items(gold), document_items(pred)).items():
        counts[key[:3]] += number
    return counts


def with_entity(doc: Document, entity_id: str, **fields) -> Document:
    entities = [replace(e, **fields) if e.id == entity_id else e for e in doc.entities]
    tokens = doc.tokens
    entities = [replace(e, tokens=" ".join(tokens[e.start_ix:e.end_ix + 1])) for e in entities]
    return replace(doc, entities=entities)


def without_entity(doc: Document, entity_id: str) -> Document:
    return replace(doc, entities=[e for e in doc.entities if e.id != entity_id],
                   relations=[r for r in doc.relations if entity_id not in (r.source, r.target)])


def test_a_perfect_prediction_has_no_errors():
    assert errors(GOLD) == Counter()


@pytest.mark.parametrize("change, expected", [
    (lambda d: with_entity(d, "7", label="ANAT-DP"), {("entity", "wrong type", "fp"): 1, ("entity", "wrong type", "fn"): 1}),
    (lambda d: with_entity(d, "7", label="OBS-U"),
     {("entity", "wrong certainty", "fp"): 1, ("entity", "wrong certainty", "fn"): 1}),
    (lambda d: with_entity(d, "7", start_ix=11), {("entity", "boundary", "fp"): 1, ("entity", "boundary", "fn"): 1}),
    (lambda d: with_entity(d, "7", start_ix=11, label="OBS-DP"),
     {("entity", "boundary and label", "fp"): 1, ("entity", "boundary and label", "fn"): 1}),
    (lambda d: without_entity(d, "7"), {("entity", "missed", "fn"): 1}),
    (lambda d: replace(d, entities=[*d.entities, Entity("9", "the", "ANAT-DP", 4, 4)]), {("entity", "spurious", "fp"): 1}),
])
def test_each_entity_error_is_detected_as_built(change, expected):
    assert errors(change(GOLD)) == Counter(expected)


def with_relations(doc: Document, relations: list[Relation]) -> Document:
    return replace(doc, relations=relations)


@pytest.mark.parametrize("change, expected", [
    (lambda d: with_relations(d, [*d.relations[:4], Relation("located_at", "3", "6")]),
     {("relation", "wrong relation type", "fp"): 1, ("relation", "wrong relation type", "fn"): 1}),
    (lambda d: with_relations(d, [*d.relations[:4], Relation("suggestive_of", "6", "3")]),
     {("relation", "reversed direction", "fp"): 1, ("relation", "reversed direction", "fn"): 1}),
    (lambda d: with_relations(d, d.relations[:4]), {("relation", "missed", "fn"): 1}),
    (lambda d: with_relations(d, [*d.relations, Relation("modify", "7", "6")]), {("relation", "spurious", "fp"): 1}),
])
def test_each_relation_error_is_detected_as_built(change, expected):
    assert errors(change(GOLD)) == Counter(expected)


def test_a_relation_lost_with_its_entity_and_one_with_an_endpoint_error():
    lost = errors(without_entity(GOLD, "6"))  # pneumonia never predicted: its suggestive_of is lost with it
    assert lost == Counter({("entity", "missed", "fn"): 1, ("relation", "lost with its entity", "fn"): 1})
    moved = errors(with_entity(GOLD, "5", start_ix=7))  # "lobe" for "lower lobe": two relations end there
    assert moved == Counter({("entity", "boundary", "fp"): 1, ("entity", "boundary", "fn"): 1,
                             ("relation", "endpoint error", "fp"): 2, ("relation", "endpoint error", "fn"): 2})


def perturbed(doc: Document, rng: random.Random) -> Document:
    """A prediction near ``doc`` with errors of every kind mixed: labels, boundaries, drops, spurious
    entities, relation types, directions, drops and spurious relations."""
    tokens, entities = doc.tokens, []
    for e in doc.entities:
        roll = rng.random()
        if roll < 0.1:
            continue
        if roll < 0.2:
            e = replace(e, label=rng.choice(RADGRAPH_LABELS))
        elif roll < 0.3:
            start = max(0, e.start_ix - rng.randint(0, 1))
            end = min(len(tokens) - 1, e.end_ix + rng.randint(0, 1))
            e = replace(e, start_ix=start, end_ix=end, tokens=" ".join(tokens[start:end + 1]))
        entities.append(e)
    for number in range(rng.randint(0, 2)):
        at = rng.randrange(len(tokens))
        entities.append(Entity(f"x{number}", tokens[at], rng.choice(RADGRAPH_LABELS), at, at))
    kept = [e.id for e in entities]
    relations = []
    for r in doc.relations:
        if r.source not in kept or r.target not in kept or rng.random() < 0.1:
            continue
        roll = rng.random()
        if roll < 0.1:
            r = replace(r, type=rng.choice(RELATION_TYPES))
        elif roll < 0.2:
            r = replace(r, source=r.target, target=r.source)
        relations.append(r)
    for _ in range(rng.randint(0, 2)):
        source, target = rng.sample(kept, 2) if len(kept) > 1 else (None, None)
        if source:
            relations.append(Relation(rng.choice(RELATION_TYPES), source, target))
    return replace(doc, entities=entities, relations=list(dict.fromkeys(relations)))


def test_the_classes_add_up_to_the_false_positives_and_negatives_of_micro_f1():
    rng = random.Random(0)
    gold = read_radgraph(sample_gold_path())
    seen = Counter()
    for round_ in range(20):
        for doc in gold:
            gold_items, pred_items = document_items(doc), document_items(perturbed(doc, rng))
            counts, classified = pair_counts(gold_items, pred_items), report_errors(gold_items, pred_items)
            for kind, classes in (("entity", ENTITY_ERRORS), ("relation", RELATION_ERRORS)):
                for side in ("fp", "fn"):
                    mine = [key for key in classified if key.kind == kind and key.side == side]
                    assert all(key.error in classes for key in mine)
                    assert sum(classified[key] for key in mine) == counts.get((kind, side), 0)
                    for bucket in {key.bucket for key in mine} | {m.split(":")[1] for m, s in counts
                                                                 if m.startswith(f"{kind}:") and s == side}:
                        assert (sum(classified[key] for key in mine if key.bucket == bucket)
                                == counts.get((f"{kind}:{bucket}", side), 0))
            seen.update(key[:2] for key in classified)
    # every class turned up in the mix
    assert {error for kind, error in seen if kind == "entity"} == set(ENTITY_ERRORS)
    assert {error for kind, error in seen if kind == "relation"} == set(RELATION_ERRORS)


def test_evaluate_reports_the_classes_and_they_sum_to_its_counts():
    from llmgraph.evaluation.scoring import evaluate

    rng = random.Random(1)
    gold = read_radgraph(sample_gold_path())
    result = evaluate(gold, [perturbed(doc, rng) for doc in gold], samples=0)
    for kind, block in (("entity", "per_label"), ("relation", "per_relation")):
        for side in ("fp", "fn"):
            assert sum(sides[side] for sides in result["errors"][kind].values()) == sum(
                entry[side] for entry in result[block].values())
    assert list(result["errors"]["entity"]) == list(ENTITY_ERRORS)
