"""Figures of a comparison: what they draw is what results.csv holds, and the PNG and SVG files are
valid; `write_results` also writes a viewer per system and gold set."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer

from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.harness.comparison import Comparison, Outcome
from llmgraph.harness.experiment import Experiment, GoldSet, SystemSpec
from llmgraph.harness.plots import cost_figure, f1_figure, label_data, per_label_figure, write_plots
from llmgraph.harness.results import results_frame, write_results
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

SYSTEMS = ("few-shot", "zero-shot", "span")
GOLD_SETS = ("sample", "ct")
SPEED = {"few-shot": 0.5, "zero-shot": 0.9, "span": 40.0}


def row(system: str, gold_set: str, metric: str, value: float, low=None, high=None) -> dict:
    return {"system": system, "gold_set": gold_set, "group": "all", "metric": metric, "value": value,
            "ci_low": low, "ci_high": high, "n_reports": 10, "support": None}


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for system in SYSTEMS:
        for gold_set in GOLD_SETS:
            for metric in ("entity_f1", "relation_f1", "entity_f1:ANAT-DP", "entity_f1:OBS-DP", "relation_f1:modify"):
                value = float(rng.uniform(0.2, 0.9))
                rows.append(row(system, gold_set, metric, value, value - 0.05, value + 0.04))
            rows.append(row(system, gold_set, "entity_f1", 0.1) | {"group": "modality=CT"})  # not "all": not drawn
            if system != "zero-shot" or gold_set != "ct":  # a run without timing is left out of the cost plot
                rows.append(row(system, gold_set, "reports_per_second", SPEED[system]))
    return pd.DataFrame(rows)


def value(frame: pd.DataFrame, system: str, gold_set: str, metric: str) -> pd.Series:
    return frame[(frame.system == system) & (frame.gold_set == gold_set) & (frame.group == "all")
                 & (frame.metric == metric)].iloc[0]


def test_f1_bars_and_error_bars_are_the_frame(frame):
    figure = f1_figure(frame)
    for axis, gold_set in zip(figure.axes, GOLD_SETS):
        assert axis.get_title() == f"gold set {gold_set}"
        assert [label.get_text() for label in axis.get_xticklabels()] == list(SYSTEMS)
        bars = [container for container in axis.containers if isinstance(container, BarContainer)]
        for container, metric in zip(bars, ("entity_f1", "relation_f1"), strict=True):
            expected = [value(frame, system, gold_set, metric) for system in SYSTEMS]
            assert [bar.get_height() for bar in container] == pytest.approx([e.value for e in expected])
            segments = container.errorbar.lines[2][0].get_segments()
            assert np.array([[s[0][1], s[1][1]] for s in segments]) == pytest.approx(
                np.array([[e.ci_low, e.ci_high] for e in expected]))


def test_per_label_heatmap_is_the_frame(frame):
    figure = per_label_figure(frame)
    axes = [axis for axis in figure.axes if axis.images]
    assert len(axes) == len(GOLD_SETS)
    for axis, gold_set in zip(axes, GOLD_SETS):
        assert [label.get_text() for label in axis.get_xticklabels()] == ["ANAT-DP", "OBS-DP", "rel: modify"]
        assert [label.get_text() for label in axis.get_yticklabels()] == list(SYSTEMS)
        expected = np.array([[value(frame, system, gold_set, metric).value
                              for metric in ("entity_f1:ANAT-DP", "entity_f1:OBS-DP", "relation_f1:modify")]
                             for system in SYSTEMS])
        assert np.asarray(axis.images[0].get_array()) == pytest.approx(expected)
        assert [text.get_text() for text in axis.texts] == [f"{v:.2f}" for v in expected.ravel()]
        assert label_data(frame, gold_set).to_numpy() == pytest.approx(expected)


def test_cost_quality_points_are_the_frame(frame):
    figure = cost_figure(frame)
    axis = figure.axes[0]
    assert axis.get_xscale() == "log"
    drawn = np.array(sorted((c.lines[0].get_xdata()[0], c.lines[0].get_ydata()[0]) for c in axis.containers))
    expected = sorted((SPEED[system], value(frame, system, gold_set, "relation_f1").value)
                      for system in SYSTEMS for gold_set in GOLD_SETS if (system, gold_set) != ("zero-shot", "ct"))
    assert drawn == pytest.approx(np.array(expected))


def test_png_and_svg_files_are_valid(frame, tmp_path):
    written = write_plots(frame, tmp_path / "plots")
    names = {path.name for path in written}
    assert names == {f"{name}.{suffix}" for name in ("f1", "per_label_f1", "cost_quality") for suffix in ("png", "svg")}
    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert ElementTree.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(names)  # no temporary files left
    assert write_plots(frame[frame.metric == "reports_per_second"], tmp_path / "none") == []


def test_write_results_adds_plots_and_a_viewer_per_system(tmp_path):
    gold = read_radgraph(sample_gold_path())
    sets = {"sample": gold, "ct": [doc for doc in gold if doc.modality == "CT"]}
    outcomes = []
    for k, system in enumerate(SYSTEMS):
        for name, docs in sets.items():
            pred = [replace(doc, entities=doc.entities[k:], relations=[]) for doc in docs[:-1]]
            path = tmp_path / "systems" / system / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_radgraph(pred, path)
            outcomes.append(Outcome(system, name, path, evaluate(docs, pred, samples=50),
                                    {"reports_per_second": SPEED[system]}))
    outcomes.append(Outcome("broken", "sample", error="server down"))
    experiment = Experiment("test", tmp_path / "experiment.yaml", [GoldSet(name, Path("x")) for name in sets],
                            [SystemSpec(system, "llm") for system in (*SYSTEMS, "broken")])
    comparison = Comparison(experiment, tmp_path, sets, outcomes, [], [])
    write_results(comparison)
    viewers = sorted(path.name for path in (tmp_path / "viewer").iterdir())
    assert viewers == sorted(f"{system}__{name}.html" for system in SYSTEMS for name in sets)
    page = (tmp_path / "viewer" / "span__ct.html").read_text(encoding="utf-8")
    assert "<title>span on ct</title>" in page
    assert '"gold_only":{"count":1' in page
    assert {path.name for path in (tmp_path / "plots").iterdir()} >= {"f1.png", "f1.svg", "cost_quality.svg"}
    frame = results_frame(comparison)
    entity_bars = next(c for c in f1_figure(frame).axes[0].containers if isinstance(c, BarContainer))
    assert [bar.get_height() for bar in entity_bars] == pytest.approx(
        [value(frame, system, "sample", "entity_f1").value for system in SYSTEMS])
