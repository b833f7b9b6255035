"""The viewer of every system and gold set of a comparison (``OUTDIR/viewer/SYSTEM__GOLDSET.html``)."""

from __future__ import annotations

from pathlib import Path

from llmgraph.core.labels import LabelSet
from llmgraph.harness.comparison import Comparison
from llmgraph.harness.layout import Layout
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.viz.viewer import write_viewer


def write_comparison_viewers(comparison: Comparison) -> list[Path]:
    """A viewer for every system that was scored, in the labels it was scored in (SYSTEM as its folder under
    ``systems/``; a reference's title says it is one)."""
    layout = Layout(comparison.out_dir)
    written = []
    for outcome in comparison.outcomes:
        if outcome.scores is None:
            continue
        label_set = outcome.scores["label_set"]
        path = layout.viewer(outcome.system, outcome.gold_set)
        shown = f"{outcome.system} (reference)" if outcome.reference else outcome.system
        write_viewer(path, read_radgraph(outcome.predictions), comparison.gold[outcome.gold_set],
                     LabelSet(label_set) if label_set else None, title=f"{shown} on {outcome.gold_set}",
                     sources=f"predictions {outcome.predictions}, gold set {outcome.gold_set}")
        written.append(path)
    return written
