"""Per-report diffs agree with the metric counts; the paired bootstrap behaves like a test should."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.diff import document_diff
from llmgraph.evaluation.items import report_counts
from llmgraph.evaluation.scores import HEADLINE
from llmgraph.evaluation.scoring import evaluate
from llmgraph.evaluation.significance import paired_bootstrap, paired_randomization
from llmgraph.io.radgraph_reader import read_radgraph

GOLD = read_radgraph(sample_gold_path())


def test_diff_of_a_hand_made_report():
    text = "small left pleural effusion without pneumothorax"
    gold = Document("r", text, [Entity("1", "small", "OBS-DP", 0, 0), Entity("2", "left", "ANAT-DP", 1, 1),
                                Entity("3", "pleural", "ANAT-DP", 2, 2), Entity("4", "effusion", "OBS-DP", 3, 3),
                                Entity("5", "pneumothorax", "OBS-DA", 5, 5)],
                    [Relation("modify", "1", "4"), Relation("located_at", "4", "3"), Relation("modify", "2", "3")])
    pred = Document("r", text, [Entity("1", "left", "ANAT-DP", 1, 1), Entity("2", "pleural", "ANAT-DP", 2, 2),
                                Entity("3", "effusion", "OBS-U", 3, 3), Entity("4", "without", "OBS-DA", 4, 4)],
                    [Relation("modify", "3", "2"), Relation("modify", "1", "2")])
    diff = document_diff(gold, pred)
    entities, relations = diff["entities"], diff["relations"]
    assert [e["tokens"] for e in entities["missing"]] == ["small", "pneumothorax"]
    assert [e["tokens"] for e in entities["spurious"]] == ["without"]
    assert entities["mislabeled"] == [{"tokens": "effusion", "start_ix": 3, "end_ix": 3, "label": "OBS-U",
                                       "gold_label": "OBS-DP"}]
    assert [(r["source"], r["target"], r["type"]) for r in relations["missing"]] == [("small", "effusion", "modify")]
    assert relations["spurious"] == []
    assert [(r["source"], r["target"], r["type"], r["gold_type"]) for r in relations["mislabeled"]] == [
        ("effusion", "pleural", "modify", "located_at")]
    assert diff["correct"] == {"entities": 2, "relations": 1}


def perturbed(doc: Document, rng: random.Random) -> Document:
    """A plausible wrong prediction: entities dropped, relabeled, or shifted."""
    entities = []
    for entity in doc.entities:
        roll = rng.random()
        if roll < 0.2:
            continue
        if roll < 0.35:
            entity = replace(entity, label=rng.choice(["ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]))
        entities.append(entity)
    kept = {entity.id for entity in entities}
    relations = [r for r in doc.relations if r.source in kept and r.target in kept and rng.random() < 0.8]
    return replace(doc, entities=entities, relations=relations)


@pytest.mark.parametrize("seed", range(5))
def test_entity_diffs_add_up_to_the_metric_counts(seed):
    rng = random.Random(seed)
    for gold in GOLD:
        pred = perturbed(gold, rng)
        diff, counts = document_diff(gold, pred), report_counts(gold, pred)
        entities = diff["entities"]
        assert counts[("entity", "tp")] == diff["correct"]["entities"]
        assert counts[("entity", "fn")] == len(entities["missing"]) + len(entities["mislabeled"])
        assert counts[("entity", "fp")] == len(entities["spurious"]) + len(entities["mislabeled"])
        relations = diff["relations"]  # compared by the spans of both ends, as the label-agnostic relation F1
        assert counts[("relation_unlabeled", "tp")] == diff["correct"]["relations"]
        assert counts[("relation_unlabeled", "fn")] == len(relations["missing"]) + len(relations["mislabeled"])
        assert counts[("relation_unlabeled", "fp")] == len(relations["spurious"]) + len(relations["mislabeled"])


def test_a_system_against_itself_is_no_different():
    preds = [perturbed(doc, random.Random(1)) for doc in GOLD]
    tests = paired_bootstrap(GOLD, preds, preds, samples=300)
    assert set(tests) == set(HEADLINE)
    for test in tests.values():
        assert test["difference"] == 0 and test["ci"] == [0, 0] and test["p_value"] == 1


def test_gold_beats_an_empty_prediction_and_the_test_is_antisymmetric():
    empty = [replace(doc, entities=[], relations=[]) for doc in GOLD]
    forward = paired_bootstrap(GOLD, GOLD, empty, samples=500, seed=3)
    backward = paired_bootstrap(GOLD, empty, GOLD, samples=500, seed=3)
    for metric in HEADLINE:
        assert forward[metric]["difference"] == pytest.approx(1.0)
        assert forward[metric]["p_value"] < 0.01
        assert backward[metric]["difference"] == -forward[metric]["difference"]
        assert backward[metric]["p_value"] == forward[metric]["p_value"]


def test_close_systems_are_not_called_different():
    rng = random.Random(7)
    first = [perturbed(doc, rng) for doc in GOLD]
    second = [replace(doc, entities=doc.entities[:-1] if doc.entities else [],
                      relations=[r for r in doc.relations if doc.entities and r.source != doc.entities[-1].id
                                 and r.target != doc.entities[-1].id]) for doc in first]
    test = paired_bootstrap(GOLD, first, second, samples=500)["entity_f1"]
    assert 0 < test["difference"] < 0.03
    assert test["ci"][0] <= test["difference"] <= test["ci"][1]


def test_randomization_of_a_system_against_itself_and_against_gold():
    preds = [perturbed(doc, random.Random(1)) for doc in GOLD]
    same = paired_randomization(GOLD, preds, preds, samples=200)
    assert set(same) == set(HEADLINE)
    assert all(test["difference"] == 0 and test["p_value"] == 1 for test in same.values())
    empty = [replace(doc, entities=[], relations=[]) for doc in GOLD]
    forward = paired_randomization(GOLD, GOLD, empty, samples=999, seed=3)
    backward = paired_randomization(GOLD, empty, GOLD, samples=999, seed=3)
    for metric in HEADLINE:
        assert forward[metric]["difference"] == pytest.approx(1.0)
        assert forward[metric]["p_value"] == pytest.approx(1 / 1000)  # no shuffle is as far apart as gold vs empty
        assert backward[metric]["p_value"] == forward[metric]["p_value"]


def test_randomization_equals_a_shuffle_by_shuffle_recount_with_the_same_draws():
    """The vectorised test against a plain loop: each shuffle swaps the two systems' graphs of the reports
    drawn < 1/2 (numpy's stream, seeded, drawn shuffle-major) and scores both lists with ``evaluate``."""
    rng = random.Random(11)
    first = [perturbed(doc, rng) for doc in GOLD]
    second = [perturbed(doc, rng) for doc in GOLD]
    samples, seed = 60, 9
    fast = paired_randomization(GOLD, first, second, samples=samples, seed=seed)
    draws = np.random.default_rng(seed).random((samples, len(GOLD))) < 0.5
    observed = {m: evaluate(GOLD, first, samples=0)[m] - evaluate(GOLD, second, samples=0)[m] for m in HEADLINE}
    extreme = dict.fromkeys(HEADLINE, 0)
    for swap in draws:
        a = [s if flip else f for f, s, flip in zip(first, second, swap)]
        b = [f if flip else s for f, s, flip in zip(first, second, swap)]
        scores_a, scores_b = evaluate(GOLD, a, samples=0), evaluate(GOLD, b, samples=0)
        for m in HEADLINE:
            extreme[m] += abs(scores_a[m] - scores_b[m]) >= abs(observed[m]) - 1e-12
    for m in HEADLINE:
        assert fast[m]["difference"] == pytest.approx(observed[m], abs=1e-12)
        assert fast[m]["p_value"] == (extreme[m] + 1) / (samples + 1), m
    assert fast == paired_randomization(GOLD, first, second, samples=samples, seed=seed)  # seeded
    assert 0 < min(test["p_value"] for test in fast.values()) < 1
