"""RadGraph micro-F1, breakdowns, bootstrap CIs and the evaluate command, on hand-computed cases."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.evaluation.scores import HEADLINE
from llmgraph.evaluation.scoring import evaluate
from llmgraph.io.radgraph_writer import write_radgraph


def gold_doc(doc_id: str = "r1", modality: str | None = "CXR") -> Document:
    entities = [Entity("1", "small", "OBS-DP", 0, 0), Entity("2", "left", "ANAT-DP", 1, 1),
                Entity("3", "pleural", "ANAT-DP", 2, 2), Entity("4", "effusion", "OBS-DP", 3, 3)]
    relations = [Relation("modify", "1", "4"), Relation("modify", "2", "3"), Relation("located_at", "4", "3")]
    return Document(doc_id, "small left pleural effusion .", entities, relations, modality=modality)


def predicted_doc(doc_id: str = "r1") -> Document:
    """pleural mislabelled, '.' spurious; relations right except for the pleural label."""
    entities = [Entity("1", "small", "OBS-DP", 0, 0), Entity("2", "left", "ANAT-DP", 1, 1),
                Entity("3", "pleural", "OBS-DP", 2, 2), Entity("4", "effusion", "OBS-DP", 3, 3),
                Entity("5", ".", "OBS-DA", 4, 4)]
    relations = [Relation("modify", "1", "4"), Relation("modify", "2", "3"), Relation("located_at", "4", "3")]
    return Document(doc_id, "small left pleural effusion .", entities, relations)


def test_micro_f1_by_hand():
    result = evaluate([gold_doc()], [predicted_doc()], samples=0)
    assert result["entity_precision"] == pytest.approx(3 / 5)
    assert result["entity_recall"] == pytest.approx(3 / 4)
    assert result["entity_f1"] == pytest.approx(2 / 3)
    assert result["entity_unlabeled_f1"] == pytest.approx(2 * 0.8 * 1.0 / 1.8)
    assert result["relation_f1"] == pytest.approx(1 / 3)
    assert result["relation_unlabeled_f1"] == pytest.approx(1.0)
    for name in ("rg_e", "rg_er", "rg_er_bar"):  # each level matches 3 of 5 predicted, 3 of 4 gold items
        assert result[name] == pytest.approx(2 / 3)
    assert {"tp": 2, "fp": 1, "fn": 0, "support": 2}.items() <= result["per_label"]["OBS-DP"].items()
    assert {"tp": 1, "fp": 0, "fn": 1, "support": 2}.items() <= result["per_label"]["ANAT-DP"].items()
    assert result["per_label"]["OBS-DA"]["fp"] == 1
    assert {"tp": 1, "fp": 1, "fn": 1}.items() <= result["per_relation"]["modify"].items()
    assert {"tp": 0, "fp": 1, "fn": 1}.items() <= result["per_relation"]["located_at"].items()


def test_micro_averaging_pools_reports_and_missing_prediction_counts_as_empty():
    gold = [gold_doc("r1"), gold_doc("r2")]
    result = evaluate(gold, [predicted_doc("r1"), predicted_doc("unrelated")], samples=0)
    assert result["missing_predictions"] == ["r2"]
    assert result["unmatched_predictions"] == ["unrelated"]
    # pooled: tp 3, fp 2, fn 1 + 4
    assert result["entity_precision"] == pytest.approx(3 / 5)
    assert result["entity_recall"] == pytest.approx(3 / 8)
    assert result["rg_e"] == pytest.approx((2 / 3 + 0.0) / 2)  # simple reward 2/3 on r1, 0 on r2


def test_perfect_prediction_scores_one_everywhere():
    gold = [gold_doc(f"r{i}") for i in range(5)]
    result = evaluate(gold, gold, samples=200)
    for name in HEADLINE:
        assert result[name] == 1.0
        assert result["ci"][name] == [1.0, 1.0]


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    gold = [gold_doc(f"r{i}") for i in range(30)]
    pred = [predicted_doc(f"r{i}") if i % 3 else gold_doc(f"r{i}") for i in range(30)]
    first = evaluate(gold, pred, samples=500, seed=1)
    again = evaluate(gold, pred, samples=500, seed=1)
    other = evaluate(gold, pred, samples=500, seed=2)
    assert first["ci"] == again["ci"]
    assert first["ci"] != other["ci"]
    for name in HEADLINE:
        low, high = first["ci"][name]
        assert low <= first[name] <= high
        assert low < high
    assert "ci" in first["per_label"]["OBS-DP"]


def test_per_modality_and_data_source_groups():
    gold = [gold_doc("a", "CXR"), gold_doc("b", "CT")]
    gold[1].data_source = "written"
    result = evaluate(gold, [gold_doc("a"), predicted_doc("b")], samples=0)
    assert result["per_group"]["modality"]["CXR"]["entity_f1"] == 1.0
    assert result["per_group"]["modality"]["CT"]["entity_f1"] == pytest.approx(2 / 3)
    assert set(result["per_group"]["data_source"]) == {"None", "written"}


def test_label_sets_are_mapped_to_radgraph_when_they_differ():
    xl = gold_doc().with_labels(LabelSet.RADGRAPH_XL)
    assert xl.entities[1].label == "Anatomy::definitely present"
    result = evaluate([gold_doc()], [xl], samples=0)
    assert result["label_set"] == "radgraph"
    assert result["entity_f1"] == 1.0
    assert evaluate([xl], [xl], samples=0)["label_set"] == "radgraph-xl"


def test_different_tokenization_is_a_clear_error():
    other = Document("r1", "small left pleural effusion", [])
    with pytest.raises(InputError, match="report r1: predicted text differs from the gold text at token 4"):
        evaluate([gold_doc()], [other])


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmgraph", *args], capture_output=True, text=True)


def test_evaluate_command_json_and_table(tmp_path):
    gold, pred = tmp_path / "gold.json", tmp_path / "pred.json"
    write_radgraph([gold_doc(f"r{i}") for i in range(4)], gold)
    write_radgraph([predicted_doc(f"r{i}") for i in range(4)], pred)
    done = _run("evaluate", "--gold", str(gold), "--pred", str(pred), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for name in HEADLINE:
        assert isinstance(result[name], float)
    assert result["entity_f1"] == pytest.approx(2 / 3)
    assert set(result["per_label"]) == {"OBS-DP", "ANAT-DP", "OBS-DA"}
    table = _run("evaluate", "--gold", str(gold), "--pred", str(pred))
    assert table.returncode == 0
    assert "entity F1" in table.stdout and "0.667" in table.stdout and "RG_ER-bar" in table.stdout


def test_labeler_2_against_labeler_1_is_the_human_ceiling(tmp_path):
    test_file = tmp_path / "test.json"
    first = gold_doc()
    first.annotator = "labeler_1"
    second = predicted_doc()
    second.annotator = "labeler_2"
    write_radgraph([first, second], test_file)
    raw = json.loads(test_file.read_text())
    assert set(raw["r1"]) >= {"text", "labeler_1", "labeler_2"} and "entities" not in raw["r1"]
    done = _run("evaluate", "--gold", str(test_file), "--labeler", "1", "--pred", str(test_file),
                "--pred-labeler", "2", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entity_f1"] == pytest.approx(2 / 3)
    missing_choice = _run("evaluate", "--gold", str(test_file), "--pred", str(test_file))
    assert missing_choice.returncode == 2
    assert "choose one with --labeler" in missing_choice.stderr
