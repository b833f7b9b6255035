"""`llmgraph compare` end to end, in a real process: tables, cache, failure isolation, and numbers
that equal `llmgraph evaluate` on the written files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.io.radgraph_reader import read_radgraph

pytestmark = pytest.mark.slow  # the module's comparison runs an LLM system (about 35 s)

SYSTEMS = ("zero", "span", "span-b4")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}

EXPERIMENT = """
name: smoke
gold:
  - {name: cxr, path: gold.json, limit: 3}
  - {name: ct, path: ct.jsonl}
bootstrap: {samples: 200, seed: 1}
dev_gold: ct
defaults: {backend: transformers, decoding: {max_tokens: 12}}  # answers cut short: only cost matters here
systems:
  - {name: zero, prompt: zero-shot, shots: 0, chunk_words: 0}  # whole reports: fewer prompts
  - {name: span, type: span, model: SPAN_MODEL}
  - {name: span-b4, type: span, model: SPAN_MODEL, batch_size: 4}
  - {name: down-server, backend: openai, url: "http://127.0.0.1:9/v1"}
  - {name: package, type: radgraph, model: radgraph-xl, cache_dir: no-such-cache}
"""


def compare(experiment: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmgraph", "compare", str(experiment), "-o", str(out), *extra],
                          capture_output=True, text=True, env=ENV, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory, span_model):
    folder = tmp_path_factory.mktemp("compare")
    gold = read_radgraph(sample_gold_path())
    (folder / "gold.json").write_text(sample_gold_path().read_text())
    ct = [doc for doc in gold if doc.modality == "CT"][:2]
    from llmgraph.io.radgraph_writer import write_radgraph

    write_radgraph(ct, folder / "ct.jsonl")
    (folder / "experiment.yaml").write_text(EXPERIMENT.replace("SPAN_MODEL", str(span_model)))
    started = time.perf_counter()
    first = compare(folder / "experiment.yaml", folder / "out")
    return folder, first, time.perf_counter() - started


def test_failing_systems_are_named_and_the_others_are_written(run):
    folder, done, _ = run
    assert done.returncode == 1, done.stderr
    assert "llmgraph: system down-server on cxr failed: server http://127.0.0.1:9/v1 is not reachable" in done.stderr
    assert "llmgraph: system package on cxr failed:" in done.stderr
    failures = json.loads((folder / "out" / "failures.json").read_text())
    assert set(failures) == {"down-server/cxr", "down-server/ct", "package/cxr", "package/ct"}
    assert "Traceback" not in done.stderr
    for system in SYSTEMS:
        for gold_set in ("cxr", "ct"):
            assert (folder / "out" / "systems" / system / f"{gold_set}.json").exists()
            assert (folder / "out" / "systems" / system / f"{gold_set}.manifest.json").exists()


def test_results_equal_llmgraph_evaluate_on_the_written_files(run):
    folder, _, _ = run
    out = folder / "out"
    frame = pd.read_csv(out / "results.csv")
    assert set(frame.system) == set(SYSTEMS)
    for system in SYSTEMS:
        for gold_set in ("cxr", "ct"):
            evaluated = subprocess.run(
                [sys.executable, "-m", "llmgraph", "evaluate", "--gold", str(out / "gold" / f"{gold_set}.json"),
                 "--pred", str(out / "systems" / system / f"{gold_set}.json"), "--json", "--bootstrap", "200",
                 "--seed", "1"], capture_output=True, text=True, env=ENV, check=True)
            expected = json.loads(evaluated.stdout)
            rows = frame[(frame.system == system) & (frame.gold_set == gold_set) & (frame.group == "all")]
            values = rows.set_index("metric")
            for metric in ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar"):
                assert values.loc[metric, "value"] == pytest.approx(expected[metric], abs=1e-12)
                assert [values.loc[metric, "ci_low"], values.loc[metric, "ci_high"]] == pytest.approx(
                    expected["ci"][metric], abs=1e-12)
            for label, entry in expected["per_label"].items():
                assert values.loc[f"entity_f1:{label}", "value"] == pytest.approx(entry["f1"], abs=1e-12)
            # errors.csv: the error classes add up to the false positives and negatives evaluate counts
            errors = pd.read_csv(out / "errors.csv")
            errors = errors[(errors.system == system) & (errors.gold_set == gold_set)]
            for kind, block in (("entity", "per_label"), ("relation", "per_relation")):
                mine = errors[errors.kind == kind].groupby("label")[["fp", "fn"]].sum()
                for label, entry in expected[block].items():
                    got = mine.loc[label] if label in mine.index else {"fp": 0, "fn": 0}
                    assert (got["fp"], got["fn"]) == (entry["fp"], entry["fn"]), (system, gold_set, label)
            for modality, block in expected["per_group"].get("modality", {}).items():
                group = frame[(frame.system == system) & (frame.gold_set == gold_set)
                              & (frame.group == f"modality={modality}")].set_index("metric")
                assert group.loc["entity_f1", "value"] == pytest.approx(block["entity_f1"], abs=1e-12)


def test_tables_diffs_and_significance(run):
    folder, _, _ = run
    out = folder / "out"
    markdown = (out / "results.md").read_text()
    assert "## Gold set `cxr` (3 reports)" in markdown and "## Gold set `ct` (2 reports)" in markdown
    assert "| system   | entity F1" in markdown and "### Cost" in markdown and "## Failed" in markdown
    diffs = [json.loads(line) for line in (out / "diffs.jsonl").read_text().splitlines()]
    assert len(diffs) == len(SYSTEMS) * (3 + 2)  # systems that ran x reports
    assert {row["system"] for row in diffs} == set(SYSTEMS)
    frame = pd.read_csv(out / "results.csv")
    for row in diffs:  # every missing gold entity is a false negative the scores counted
        assert set(row["entities"]) == {"missing", "spurious", "mislabeled"}
    assert "### What kind of errors" in markdown and "| system   | wrong type   |" in markdown
    assert "| down-server |" not in markdown.split("### What kind of errors")[1].split("###")[0]
    calibration = pd.read_csv(out / "calibration.csv")
    span = calibration[calibration.system == "span"].set_index(["gold_set", "kind"])
    assert (span.scored > 0).all() and span.average_precision.between(0, 1).all() and span.ece.between(0, 1).all()
    assert (span.dev_threshold.notna()).all() and (span.dev_gold_set == "ct").all()
    zero = calibration[calibration.system == "zero"]  # its answers were cut short: nothing scored, nothing made up
    assert zero.average_precision.isna().all() and zero.review_gain.isna().all()
    assert "### Which graphs to trust" in markdown and (out / "plots" / "reliability.png").exists()
    assert (out / "plots" / "precision_recall.png").exists()
    per_report = pd.read_csv(out / "per_report.csv")
    errors = pd.read_csv(out / "errors.csv")
    for (system, gold_set), rows in per_report.groupby(["system", "gold_set"]):  # per report = per set
        summed = errors[(errors.system == system) & (errors.gold_set == gold_set)]
        assert rows["entity_boundary"].sum() == summed[(summed.kind == "entity") & (summed.error == "boundary")][
            ["fp", "fn"]].sum().sum()
    significance = pd.read_csv(out / "significance.csv")
    assert set(zip(significance.system_a, significance.system_b)) == {("zero", "span"), ("zero", "span-b4"),
                                                                      ("span", "span-b4")}
    assert len(significance) == 3 * 2 * 5  # pairs x gold sets x headline metrics
    same = significance[(significance.system_a == "span") & (significance.system_b == "span-b4")]
    assert (same.difference == 0).all() and (same.p_value == 1).all(), "batch size changes no prediction"
    assert ((significance.p_value >= 0) & (significance.p_value <= 1)).all()
    costs = frame[frame.metric == "reports_per_second"]
    assert (costs.value > 0).all() and len(costs) == len(SYSTEMS) * 2


def test_a_rerun_reuses_finished_predictions(run):
    folder, _, _ = run
    out = folder / "out"
    before = {path: path.stat().st_mtime_ns for path in (out / "systems").rglob("*.json")}
    started = time.perf_counter()
    again = compare(folder / "experiment.yaml", out)
    elapsed = time.perf_counter() - started
    assert again.returncode == 1  # the same two systems still fail
    assert again.stdout.count(": cached") == len(SYSTEMS) * 2, again.stdout
    assert {path: path.stat().st_mtime_ns for path in (out / "systems").rglob("*.json")} == before
    assert elapsed < 30, "a cached re-run loads no model"


def test_changing_a_setting_reruns_only_that_system(run, span_model):
    folder, _, _ = run
    changed = folder / "changed.yaml"
    changed.write_text(EXPERIMENT.replace("batch_size: 4", "batch_size: 3").replace("SPAN_MODEL", str(span_model))
                       .replace("dev_gold: ct", "dev_gold: ct\nmin_score: 0.5")
                       .replace("  - {name: down-server", "  # - {name: down-server")
                       .replace("  - {name: package", "  # - {name: package"))
    done = compare(changed, folder / "out")
    assert done.returncode == 0, done.stderr
    assert "zero on cxr: cached" in done.stdout and "span on cxr: cached" in done.stdout
    assert "span-b4 on cxr: running on 3 reports" in done.stdout
    # min_score: 0.5 changes the scoring, not the cache (the predictions keep every score)
    assert "zero on cxr: scored whole: its graphs carry no scores for min_score 0.5" in done.stdout
    frame = pd.read_csv(folder / "out" / "results.csv")
    span = frame[(frame.system == "span") & (frame.gold_set == "cxr") & (frame.group == "all")].set_index("metric")
    kept = [replace(doc, entities=[e for e in doc.entities if e.score >= 0.5]) for doc in
            read_radgraph(folder / "out" / "systems" / "span" / "cxr.json")]
    kept = [replace(doc, relations=[r for r in doc.relations if r.score >= 0.5
                                    and {r.source, r.target} <= {e.id for e in doc.entities}]) for doc in kept]
    expected = evaluate(read_radgraph(folder / "out" / "gold" / "cxr.json"), kept, samples=0)
    assert span.loc["entity_f1", "value"] == pytest.approx(expected["entity_f1"])
