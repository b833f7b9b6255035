"""Predictions made elsewhere as systems of ``llmgraph compare``, and the reference rows they are read
against: every number equals ``llmgraph evaluate`` on the same files."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate, evaluate_files
from llmgraph.evaluation.significance import paired_randomization
from llmgraph.harness.compare import compare
from llmgraph.harness.layout import folder_name
from llmgraph.harness.results import cost_columns
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

SAMPLES, SEED = 200, 3
XL_LABELS = {"ANAT-DP": "Anatomy::definitely present", "OBS-DP": "Observation::definitely present",
             "OBS-U": "Observation::uncertain", "OBS-DA": "Observation::definitely absent"}


def perturbed(doc: Document, rng: random.Random) -> Document:
    """``doc`` with about a fifth of its entities dropped (and their relations), a tenth relabelled
    and a tenth of the remaining relations dropped."""
    kept = [e for e in doc.entities if rng.random() > 0.2]
    labels = sorted(XL_LABELS)
    kept = [replace(e, label=rng.choice(labels)) if rng.random() < 0.1 else e for e in kept]
    ids = {e.id for e in kept}
    relations = [r for r in doc.relations if r.source in ids and r.target in ids and rng.random() > 0.1]
    return replace(doc, entities=kept, relations=relations)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """The sample gold; predictions A (a RadGraph JSON file: two reports missing, one not in the gold),
    predictions B (JSONL), a two-labeler test file, and an experiment over them."""
    folder = tmp_path_factory.mktemp("predictions")
    gold = read_radgraph(sample_gold_path())
    rng = random.Random(0)
    write_radgraph(gold, folder / "gold.json")
    a = [perturbed(doc, rng) for doc in gold[2:]]
    a.append(Document(id="not-in-gold", text="No pneumothorax ."))
    write_radgraph(a, folder / "a.json")
    write_radgraph([perturbed(doc, rng) for doc in gold], folder / "b.jsonl")
    two = [replace(doc, annotator=labeler) if labeler == "labeler_1" else
           replace(perturbed(doc, rng), annotator=labeler) for doc in gold for labeler in ("labeler_1", "labeler_2")]
    write_radgraph(two, folder / "test.json")
    (folder / "experiment.yaml").write_text(f"""
name: elsewhere
gold:
  - {{name: sample, path: gold.json}}
  - {{name: two, path: test.json, labeler: 1}}
bootstrap: {{samples: {SAMPLES}, seed: {SEED}}}
systems:
  - {{name: a, type: predictions, path: {{sample: a.json, two: a.json}}}}
  - {{name: b, type: predictions, path: b.jsonl}}
  - {{name: second-model, type: predictions, path: b.jsonl, reference: true}}
""")
    return folder


@pytest.fixture(scope="module")
def compared(files):
    logged: list[str] = []
    comparison = compare(files / "experiment.yaml", files / "out", log=logged.append)
    return comparison, logged


def _evaluated(gold: Path, pred: Path, gold_labeler: str | None = None, pred_labeler: str | None = None) -> dict:
    return evaluate_files(gold, pred, gold_labeler, pred_labeler, samples=SAMPLES, seed=SEED)


def test_every_number_equals_llmgraph_evaluate_on_the_same_files(files, compared):
    frame = pd.read_csv(files / "out" / "results.csv")
    expected_files = {("a", "sample"): (files / "gold.json", files / "a.json", None, None),
                      ("b", "sample"): (files / "gold.json", files / "b.jsonl", None, None),
                      ("a", "two"): (files / "test.json", files / "a.json", "1", None),
                      ("b", "two"): (files / "test.json", files / "b.jsonl", "1", None),
                      ("second-model", "sample"): (files / "gold.json", files / "b.jsonl", None, None),
                      ("second-model", "two"): (files / "test.json", files / "b.jsonl", "1", None),
                      ("human (labeler 2 vs 1)", "two"): (files / "test.json", files / "test.json", "1", "2")}
    assert set(zip(frame.system, frame.gold_set)) == set(expected_files)
    scored = frame[~frame.metric.isin(list(cost_columns()))]
    for (system, gold_set), rows in scored.groupby(["system", "gold_set"]):
        expected = _evaluated(*expected_files[system, gold_set])
        for row in rows.itertuples():
            block = expected if row.group == "all" else expected["per_group"]["modality"][row.group.split("=", 1)[1]]
            assert row.n_reports == block["n_reports"]
            if ":" in row.metric:  # entity_f1:LABEL, relation_f1:TYPE
                kind, bucket = row.metric.split(":", 1)
                entry = block["per_label" if kind == "entity_f1" else "per_relation"][bucket]
                value, ci = entry["f1"], entry["ci"]
            else:
                value, ci = block[row.metric], block["ci"][row.metric]
            assert row.value == pytest.approx(value, abs=1e-12), (system, gold_set, row.metric, row.group)
            assert [row.ci_low, row.ci_high] == pytest.approx(ci, abs=1e-12)
    assert len(scored) > 500  # every number of every row above was checked


def test_missing_and_extra_reports_are_counted(files, compared):
    comparison, _ = compared
    gold = read_radgraph(files / "gold.json")
    outcome = next(o for o in comparison.outcomes if (o.system, o.gold_set) == ("a", "sample"))
    counts = outcome.manifest["counts"]
    assert counts["reports_missing"] == 2 and counts["predictions_not_in_gold"] == 1
    assert set(outcome.manifest["errors"]) == {gold[0].id, gold[1].id}
    assert outcome.scores["missing_predictions"] == [gold[0].id, gold[1].id]  # scored as empty graphs
    per_report = pd.read_csv(files / "out" / "per_report.csv")
    mine = per_report[(per_report.system == "a") & (per_report.gold_set == "sample")]
    assert len(mine) == len(gold) and set(mine[mine.error.notna()].id) == {gold[0].id, gold[1].id}


def test_references_are_marked_and_measured_against(files, compared):
    comparison, _ = compared
    assert comparison.references == {"second-model", "human (labeler 2 vs 1)"}
    markdown = (files / "out" / "results.md").read_text()
    assert re.search(r"\| human \(labeler 2 vs 1\) \(reference\) +\|", markdown)
    assert re.search(r"\| second-model \(reference\) +\|", markdown)
    assert markdown.count("### Against the best reference") == 2
    frame = pd.read_csv(files / "out" / "results.csv")
    value = frame[(frame.group == "all") & (frame.metric == "entity_f1")].set_index(["system", "gold_set"]).value
    section = markdown.split("## Gold set `two`")[1]
    best = max(value["human (labeler 2 vs 1)", "two"], value["second-model", "two"])
    assert re.search(rf"\| a +\| {value['a', 'two'] - best:+.3f} +\|", section)
    assert set(frame[frame.reference].system) == {"second-model", "human (labeler 2 vs 1)"}
    viewer = files / "out" / "viewer" / f"{folder_name('human (labeler 2 vs 1)')}__two.html"
    assert viewer.exists() and "human (labeler 2 vs 1) (reference) on two" in viewer.read_text()


def test_per_report_scores_sum_to_the_micro_scores(files, compared):
    """per_report.csv: the reports' rewards average to RG_E etc.; each report's precision, recall and F1 are
    what ``evaluate`` says of that report alone (0.0, never blank, where there is nothing to count)."""
    frame = pd.read_csv(files / "out" / "results.csv")
    per_report = pd.read_csv(files / "out" / "per_report.csv")
    for (system, gold_set), rows in per_report.groupby(["system", "gold_set"]):
        value = frame[(frame.system == system) & (frame.gold_set == gold_set) & (frame.group == "all")].set_index(
            "metric").value
        for metric in ("rg_e", "rg_er", "rg_er_bar"):
            assert rows[metric].mean() == pytest.approx(value[metric], abs=1e-12)
    assert {"modality", "tokens", "entity_f1", "relation_recall"} <= set(per_report.columns)
    assert per_report.tokens.min() > 0
    scores = [c for c in per_report.columns if c.endswith(("_precision", "_recall", "_f1"))]
    assert not per_report[scores].isna().any().any()
    gold = {doc.id: doc for doc in read_radgraph(files / "gold.json")}
    row = per_report[(per_report.system == "a") & (per_report.gold_set == "sample")].iloc[0]  # no prediction
    alone = evaluate([gold[row.id]], [], samples=0)
    assert (row.entity_precision, row.entity_recall, row.entity_f1) == (alone["entity_precision"], alone["entity_recall"],
                                                                        alone["entity_f1"])


def test_a_changed_predictions_file_is_scored_again(files, compared, tmp_path):
    out = tmp_path / "out"
    experiment = files / "experiment.yaml"
    compare(experiment, out, log=lambda line: None)
    logged: list[str] = []
    compare(experiment, out, log=logged.append)
    assert all("cached" in line for line in logged if line.startswith(("a on", "b on")))
    original = (files / "b.jsonl").read_text()
    try:
        (files / "b.jsonl").write_text("".join(original.splitlines(keepends=True)[1:]))
        logged.clear()
        compare(experiment, out, log=logged.append)
        assert any(line.startswith("b on sample: running") for line in logged)
        assert any(line.startswith("a on sample: cached") for line in logged)
    finally:
        (files / "b.jsonl").write_text(original)


def test_another_label_set_is_scored_in_radgraph_labels_and_said_so(files, tmp_path):
    gold = read_radgraph(files / "gold.json")
    write_radgraph([doc.with_labels(LabelSet.RADGRAPH_XL) for doc in gold], tmp_path / "xl.json")
    (tmp_path / "e.yaml").write_text(f"gold: [{{name: s, path: {files / 'gold.json'}}}]\n"
                                     "bootstrap: {samples: 10}\n"
                                     "systems: [{name: xl, type: predictions, path: xl.json}]\n")
    logged: list[str] = []
    comparison = compare(tmp_path / "e.yaml", tmp_path / "out", log=logged.append)
    outcome = comparison.outcomes[0]
    assert outcome.scores["label_set"] == "radgraph" and outcome.scores["entity_f1"] == 1.0
    assert any("scored in radgraph labels" in line for line in logged)
    assert "`xl`: scored in radgraph labels" in (tmp_path / "out" / "results.md").read_text()


@pytest.mark.parametrize("case, problem", [
    ("text", "report {first}: predicted text differs from the gold text at token 0"),
    ("empty", "holds no predictions"),
    ("folder", "has no predictions for gold set 's' (expected s.json or s.jsonl)"),
    ("labeler", "labeler 2 given, but the file has no labeler_1/labeler_2 annotations"),
    ("missing", "no such predictions file"),
])
def test_bad_predictions_are_one_line_errors_naming_the_file(files, tmp_path, case, problem):
    gold = read_radgraph(files / "gold.json")
    path, extra = tmp_path / "p.json", ""
    if case == "text":
        write_radgraph([replace(gold[0], text="Other " + gold[0].text, entities=[], relations=[],
                                     token_offsets=None, source_text=None), *gold[1:]], path)
    elif case == "empty":
        path.write_text("{}")
    elif case == "folder":
        path = tmp_path / "folder"
        path.mkdir()
        (path / "other.json").write_text("{}")
    elif case == "labeler":
        write_radgraph(gold, path)
        extra = ", labeler: 2"
    (tmp_path / "e.yaml").write_text(f"gold: [{{name: s, path: {files / 'gold.json'}}}]\nbootstrap: {{samples: 10}}\n"
                                     f"systems: [{{name: p, type: predictions, path: {path.name}{extra}}}]\n")
    comparison = compare(tmp_path / "e.yaml", tmp_path / "out", log=lambda line: None)
    error = comparison.outcomes[0].error
    assert error is not None and "\n" not in error
    assert problem.format(first=gold[0].id) in error and str(path) in error
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert failures == {"p/s": error}


def test_a_predictions_file_per_gold_set_from_a_folder(files, tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    (folder / "s.jsonl").write_text((files / "b.jsonl").read_text())
    (tmp_path / "e.yaml").write_text(f"gold: [{{name: s, path: {files / 'gold.json'}}}]\nbootstrap: {{samples: 10}}\n"
                                     "systems: [{name: p, type: predictions, path: preds}]\n")
    comparison = compare(tmp_path / "e.yaml", tmp_path / "out", log=lambda line: None)
    expected = evaluate_files(files / "gold.json", folder / "s.jsonl", samples=10)
    assert comparison.outcomes[0].scores["entity_f1"] == pytest.approx(expected["entity_f1"], abs=1e-12)


def test_a_system_named_like_the_human_ceiling_folder_is_refused(files, tmp_path):
    (tmp_path / "e.yaml").write_text(f"gold: [{{name: t, path: {files / 'test.json'}, labeler: 1}}]\n"
                                     "systems: [{name: human-labeler-2-vs-1, type: predictions, "
                                     f"path: {files / 'b.jsonl'}}}]\n")
    with pytest.raises(InputError, match="would write into one folder"):
        compare(tmp_path / "e.yaml", tmp_path / "out", log=lambda line: None)


def test_randomization_significance_and_main_branch_rewards_are_chosen_and_named(files, tmp_path):
    (tmp_path / "e.yaml").write_text(f"gold: [{{name: s, path: {files / 'gold.json'}}}]\n"
                                     "bootstrap: {samples: 10, seed: 4}\nsignificance: randomization\n"
                                     "rewards: radgraph-main\n"
                                     f"systems: [{{name: a, type: predictions, path: {files / 'a.json'}}},\n"
                                     f"          {{name: b, type: predictions, path: {files / 'b.jsonl'}}}]\n")
    compare(tmp_path / "e.yaml", tmp_path / "out", log=lambda line: None)
    out = tmp_path / "out"
    significance = pd.read_csv(out / "significance.csv")
    assert set(significance.test) == {"randomization"} and set(significance.rewards) == {"radgraph-main"}
    first = {doc.id: doc for doc in read_radgraph(files / "a.json")}
    gold = read_radgraph(files / "gold.json")
    a = [first.get(doc.id, replace(doc, entities=[], relations=[])) for doc in gold]
    expected = paired_randomization(gold, a, read_radgraph(files / "b.jsonl"), samples=10_000, seed=4,
                                    rewards="radgraph-main")
    for row in significance.itertuples():
        assert row.p_value == pytest.approx(expected[row.metric]["p_value"], abs=1e-12)
    text = (out / "results.md").read_text()
    assert "approximate randomization" in text and "radgraph-main" in text
    frame = pd.read_csv(out / "results.csv")
    scores = ~frame.metric.isin(cost_columns())  # cost rows are not scored, so they name no rewards
    assert set(frame[scores].rewards) == {"radgraph-main"} and frame[~scores].rewards.isna().all()
