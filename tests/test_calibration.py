"""Calibration measures against hand counts: average precision, ECE and its bins, threshold curves, the
review gain, and prediction files' scores read, written and refused."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.evaluation.calibration import (
    average_precision,
    calibration_summary,
    expected_calibration_error,
    precision_recall_points,
    reliability,
    review_gain,
    review_order,
    scored_items,
    threshold_curve,
)

GOLD = Document("r", "a b c d", [Entity("1", "a", "OBS-DP", 0, 0), Entity("2", "b", "ANAT-DP", 1, 1),
                                 Entity("3", "c", "OBS-DA", 2, 2)], [Relation("located_at", "1", "2")])
PRED = Document("r", "a b c d", [Entity("1", "a", "OBS-DP", 0, 0, 0.9), Entity("2", "b", "ANAT-DP", 1, 1, 0.8),
                                 Entity("4", "d", "OBS-DP", 3, 3, 0.85), Entity("5", "c", "OBS-U", 2, 2, 0.2)],
                [Relation("located_at", "1", "2", 0.7), Relation("modify", "4", "2", 0.6)])


def test_average_precision_by_hand():
    # ranked: a (0.9, right), d (0.85, wrong), b (0.8, right), c (0.2, wrong): AP = (1/2)(1/1) + (1/2)(2/3)
    items = scored_items([(GOLD, PRED)])
    assert average_precision(items.scores["entity"], items.correct["entity"]) == pytest.approx(0.5 + 1 / 3)
    assert average_precision(np.array([0.5, 0.5]), np.array([True, False])) == pytest.approx(0.5)  # one step
    assert average_precision(np.array([0.5]), np.array([False])) is None
    assert items.gold == {"entity": 3, "relation": 1}


def test_a_random_score_earns_the_positive_rate_and_a_perfect_one_earns_1():
    rng = np.random.default_rng(0)
    correct = rng.random(20000) < 0.3
    assert average_precision(rng.random(20000), correct) == pytest.approx(0.3, abs=0.02)
    assert average_precision(correct.astype(float), correct) == 1.0


def test_ece_and_bins_by_hand():
    scores, correct = np.array([0.05, 0.15, 0.95, 1.0]), np.array([False, True, True, True])
    bins = reliability(scores, correct)
    assert [row["n"] for row in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 falls in the last bin
    # |0 - 0.05| + |1 - 0.15| + 2 |1 - 0.975|, each over 4
    assert expected_calibration_error(scores, correct) == pytest.approx((0.05 + 0.85 + 0.05) / 4)
    assert expected_calibration_error(np.array([]), np.array([], dtype=bool)) is None


def test_threshold_curve_and_summary():
    items = scored_items([(GOLD, PRED)])
    rows = threshold_curve(items, "entity", [0.0, 0.5, 0.86])
    assert [(r["tp"], r["fp"], r["fn"]) for r in rows] == [(2, 2, 1), (2, 1, 1), (1, 0, 2)]
    assert rows[1]["precision"] == pytest.approx(2 / 3) and rows[1]["recall"] == pytest.approx(2 / 3)
    summary = calibration_summary(items)
    assert summary["relation"]["positive_rate"] == 0.5 and summary["relation"]["scored"] == 2
    unscored = calibration_summary(scored_items([(GOLD, GOLD)]))  # gold has no scores: nothing made up
    assert unscored["entity"] == {"scored": 0, "unscored": 3, "positive_rate": None, "average_precision": None,
                                  "ece": None, "reliability": [], "pr_curve": []}


def test_precision_recall_points_by_hand():
    scores, correct = np.array([0.9, 0.8, 0.8, 0.3]), np.array([True, False, True, False])
    assert precision_recall_points(scores, correct, gold=4) == [
        {"threshold": 0.9, "precision": 1.0, "recall": 0.25},
        {"threshold": 0.8, "precision": 2 / 3, "recall": 0.5},  # a tie is kept or dropped together
        {"threshold": 0.3, "precision": 0.5, "recall": 0.5}]
    assert precision_recall_points(np.array([]), np.array([], dtype=bool), gold=3) == []
    many = precision_recall_points(np.linspace(0, 1, 1000), np.ones(1000, dtype=bool), gold=1000, points=50)
    assert len(many) == 50 and many[-1]["recall"] == 1.0


def test_review_order_and_gain():
    docs = [Document("x", "a", [Entity("1", "a", "OBS-DP", 0, 0, 0.9)]),
            Document("y", "a", [Entity("1", "a", "OBS-DP", 0, 0, 0.2)]),
            Document("z", "a"), Document("w", "a", [Entity("1", "a", "OBS-DP", 0, 0, 0.5)])]
    assert review_order(docs) == ["z", "y", "w", "x"]  # nothing found first, then the least confident
    gain = review_gain(["z", "y", "w", "x"], {"z": 4, "y": 2, "x": 2})
    assert gain == {"reports": 1, "errors_per_report": 4.0, "random_errors_per_report": 2.0, "ratio": 2.0}
    assert review_gain(["z"], {}) is None


def test_review_signals_rank_differently():
    def doc(doc_id, *scores):
        return Document(doc_id, "a", [Entity(str(i), "a", "OBS-DP", 0, 0, s) for i, s in enumerate(scores)])

    docs = [doc("short", 0.5), doc("long", 0.9, 0.9, 0.9, 0.9, 0.9, 0.3), doc("sure", 0.99, 0.98)]
    assert review_order(docs, "mean-score") == ["short", "long", "sure"]
    assert review_order(docs, "min-score") == ["long", "short", "sure"]
    assert review_order(docs, "expected-errors") == ["long", "short", "sure"]  # 1.1 expected errors > 0.5
    assert review_order(docs + [Document("none", "a")], "expected-errors")[0] == "none"
    with pytest.raises(KeyError):
        review_order(docs, "loudest")


# --- scores in files, and thresholds on them ---------------------------------------------------------

from dataclasses import replace

from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.runs.runlog import manifest_path
from llmgraph.runs.runner import run_resumable


def scored_copy(doc: Document, rng: np.random.Generator) -> Document:
    return replace(doc, entities=[replace(e, score=float(rng.random())) for e in doc.entities],
                   relations=[replace(r, score=float(rng.random())) for r in doc.relations])


@pytest.fixture
def scored_predictions(tmp_path):
    rng = np.random.default_rng(0)
    docs = [scored_copy(doc, rng) for doc in read_radgraph(sample_gold_path())]
    path = tmp_path / "pred.json"
    write_radgraph(docs, path)
    return docs, path


def test_scores_survive_writing_and_reading(scored_predictions, tmp_path):
    docs, path = scored_predictions
    assert read_radgraph(path) == docs
    write_radgraph(docs, tmp_path / "pred.jsonl")
    assert read_radgraph(tmp_path / "pred.jsonl") == docs
    raw = json.loads(path.read_text())
    entities = [e for doc in raw.values() for e in doc["entities"].values()]
    assert all(0 <= e["score"] <= 1 for e in entities)
    assert all(len(e.get("relation_scores", [])) == len(e["relations"]) for e in entities)


@pytest.mark.parametrize("bad, message", [
    (1.5, "entities.1.score: 1.5 is greater than the maximum of 1"),
    ("high", "entities.1.score: 'high' is not of type 'number'"),
    (math.nan, "entity 1: score is NaN (expected a number in [0, 1])"),
])
def test_a_prediction_file_with_bad_scores_is_one_line_exit_2(tmp_path, bad, message):
    gold = sample_gold_path()
    raw = json.loads(gold.read_text())
    first = next(iter(raw))
    raw[first]["entities"]["1"]["score"] = bad
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(raw))
    done = CliRunner().invoke(app, ["evaluate", "--gold", str(gold), "--pred", str(pred)])
    assert done.exit_code == 2
    assert done.output.strip().splitlines()[-1] == f"llmgraph: {pred}: report {first}: {message}"


def test_min_score_equals_scoring_the_thresholded_file(scored_predictions, tmp_path):
    docs, path = scored_predictions
    gold = read_radgraph(sample_gold_path())
    kept = [replace(d, entities=[e for e in d.entities if e.score >= 0.4]) for d in docs]
    kept = [replace(d, relations=[r for r in d.relations if r.score >= 0.4
                                  and {r.source, r.target} <= {e.id for e in d.entities}]) for d in kept]
    expected = evaluate(gold, kept, samples=0)
    assert evaluate(gold, docs, samples=0, min_score=0.4)["entity_f1"] == expected["entity_f1"]
    done = CliRunner().invoke(app, ["evaluate", "--gold", str(sample_gold_path()), "--pred", str(path),
                                    "--min-score", "0.4", "--bootstrap", "0", "--json", "--curve"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["relation_f1"] == expected["relation_f1"] and result["min_score"] == 0.4
    curve = result["curve"]["entity"]["thresholds"]
    assert curve[4]["threshold"] == 0.4 and curve[4]["f1"] == pytest.approx(expected["entity_f1"])
    assert result["curve"]["entity"]["average_precision"] == 1.0  # every predicted entity is right
    for bad in ("1.5", "-0.1"):
        refused = CliRunner().invoke(app, ["evaluate", "--gold", str(sample_gold_path()), "--pred", str(path),
                                           "--min-score", bad])
        assert refused.exit_code == 2


def test_a_run_leaves_out_what_scores_below_min_score_and_rethresholds_without_rerunning(scored_predictions, tmp_path):
    docs, _ = scored_predictions
    by_id = {doc.id: doc for doc in docs}
    ran: list[str] = []

    def predict(reports):
        for doc in reports:
            ran.append(doc.id)
            yield [by_id[doc.id]], {}

    output = tmp_path / "out.json"
    inputs = lambda: (replace(doc, entities=[], relations=[]) for doc in docs)
    summary = run_resumable(predict, inputs, output, {"system": "test"}, quiet=True, min_score=0.5)
    written = read_radgraph(output)
    assert all(e.score >= 0.5 for doc in written for e in doc.entities)
    assert summary.below_min_score["entities"] == sum(e.score < 0.5 for doc in docs for e in doc.entities)
    assert summary.below_min_score["relations"] == sum(len(a.relations) - len(b.relations)
                                                       for a, b in zip(docs, written))
    assert len(ran) == len(docs)
    again = run_resumable(predict, inputs, output, {"system": "test"}, quiet=True, min_score=0.0)
    assert len(ran) == len(docs) and again.reused == len(docs)  # nothing ran again
    assert read_radgraph(output) == docs


def test_min_score_on_a_run_without_scores_is_refused_and_keeps_the_work(tmp_path):
    gold = read_radgraph(sample_gold_path())[:3]
    output = tmp_path / "out.json"
    with pytest.raises(Exception, match="carry no scores"):
        run_resumable(lambda reports: (([doc], {}) for doc in gold), lambda: iter(gold), output, {"s": 1},
                      quiet=True, min_score=0.5)
    assert not output.exists() and (tmp_path / "out.json.partial.jsonl").exists()
    assert manifest_path(output).name.endswith(".manifest.json")
