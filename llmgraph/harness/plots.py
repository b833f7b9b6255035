"""Figures of a comparison in ``OUTDIR/plots``, drawn from the ``results.csv`` frame, as PNG and SVG:

- ``f1``: entity and relation F1 per system with their bootstrap CIs as error bars;
- ``per_label_f1``: F1 per entity label and relation type, system x label heatmap with the values;
- ``cost_quality``: reports per second (log scale) against relation F1.

Colours are Okabe-Ito (safe under colour-vision deficiencies), the heatmap is cividis, and bars
also differ by hatching, so the figures read in greyscale print too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
F1_METRICS = {"entity_f1": "entity F1", "relation_f1": "relation F1"}


def _systems(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame.system))


def f1_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Entity and relation F1 with CI bounds per system and gold set (all reports)."""
    chosen = frame[(frame.group == "all") & frame.metric.isin(list(F1_METRICS))]
    return chosen[["system", "gold_set", "metric", "value", "ci_low", "ci_high"]].reset_index(drop=True)


def label_data(frame: pd.DataFrame, gold_set: str) -> pd.DataFrame:
    """System x label F1 on one gold set; relation types appear as ``rel: TYPE`` after the labels."""
    chosen = frame[(frame.gold_set == gold_set) & (frame.group == "all") & frame.metric.str.contains(":")]
    table = chosen.pivot_table(index="system", columns="metric", values="value", aggfunc="first", sort=False)
    columns = sorted(table.columns, key=lambda name: (name.startswith("relation"), name))
    table = table[columns].reindex([s for s in _systems(frame) if s in table.index])
    table.columns = [name.split(":", 1)[1] if name.startswith("entity") else "rel: " + name.split(":", 1)[1]
                     for name in columns]
    return table


def cost_data(frame: pd.DataFrame) -> pd.DataFrame:
    """Reports per second and relation F1 (with CI) per system and gold set, where both are known."""
    chosen = frame[frame.group == "all"]
    speed = chosen[chosen.metric == "reports_per_second"][["system", "gold_set", "value"]]
    quality = chosen[chosen.metric == "relation_f1"][["system", "gold_set", "value", "ci_low", "ci_high"]]
    joined = speed.rename(columns={"value": "reports_per_second"}).merge(
        quality.rename(columns={"value": "relation_f1"}), on=["system", "gold_set"])
    return joined[joined.reports_per_second > 0].reset_index(drop=True)


def _errors(rows: pd.DataFrame) -> np.ndarray:
    """Asymmetric error bar lengths from CI bounds (none where a bound is missing). Give matplotlib
    ``.tolist()``: a 2 x 1 array (one bar) trips numpy's deprecated array-to-scalar conversion in it."""
    low = (rows.value - rows.ci_low.astype(float)).fillna(0).clip(lower=0)
    high = (rows.ci_high.astype(float) - rows.value).fillna(0).clip(lower=0)
    return np.vstack([low.to_numpy(), high.to_numpy()])


def f1_figure(frame: pd.DataFrame) -> Figure | None:
    """Grouped bars, one panel per gold set: entity and relation F1 per system with CI error bars."""
    data = f1_data(frame)
    if data.empty:
        return None
    gold_sets, systems = list(dict.fromkeys(data.gold_set)), _systems(data)
    figure = Figure(figsize=(max(5.0, 1.0 + 1.1 * len(systems)) * len(gold_sets), 4.2), layout="constrained")
    axes = figure.subplots(1, len(gold_sets), sharey=True, squeeze=False)[0]
    width = 0.38
    for axis, gold_set in zip(axes, gold_sets):
        x = np.arange(len(systems))
        for k, (metric, title) in enumerate(F1_METRICS.items()):
            rows = (data[(data.gold_set == gold_set) & (data.metric == metric)].set_index("system")
                    .reindex(systems).dropna(subset=["value"]))
            where = np.array([systems.index(system) for system in rows.index]) + (k - 0.5) * width
            axis.bar(where, rows.value, width, yerr=_errors(rows).tolist(), capsize=3, label=title, color=OKABE_ITO[k],
                     hatch="//" if k else None, edgecolor="black", linewidth=0.6, error_kw={"linewidth": 1})
            tops = rows.ci_high.astype(float).fillna(rows.value).clip(lower=rows.value)
            for position, value, top in zip(where, rows.value, tops):  # above the error bar
                axis.annotate(f"{value:.2f}", (position, top), xytext=(0, 3), textcoords="offset points",
                              ha="center", va="bottom", fontsize=7)
        axis.set_xticks(x, systems, rotation=30 if len(systems) > 3 else 0, ha="right" if len(systems) > 3 else "center")
        axis.set_ylim(0, 1.1)
        axis.set_title(f"gold set {gold_set}")
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("micro-F1 (bars: 95% bootstrap CI)" if data.ci_low.notna().any() else "micro-F1")
    axes[0].legend(loc="upper right", fontsize=8)
    return figure


def per_label_figure(frame: pd.DataFrame) -> Figure | None:
    """Heatmap per gold set: systems down, entity labels and relation types across, F1 in each cell."""
    gold_sets = [name for name in dict.fromkeys(frame.gold_set) if not label_data(frame, name).empty]
    if not gold_sets:
        return None
    tables = [label_data(frame, name) for name in gold_sets]
    columns = max(len(table.columns) for table in tables)
    rows = sum(len(table) for table in tables)
    figure = Figure(figsize=(2.5 + 0.9 * columns, 1.2 + 0.45 * rows + 0.9 * len(tables)), layout="constrained")
    axes = figure.subplots(len(tables), 1, squeeze=False, height_ratios=[len(t) for t in tables])[:, 0]
    for axis, gold_set, table in zip(axes, gold_sets, tables):
        values = table.to_numpy(dtype=float)
        image = axis.imshow(values, cmap="cividis", vmin=0, vmax=1, aspect="auto")
        axis.set_xticks(range(len(table.columns)), table.columns, rotation=35, ha="right", fontsize=8)
        axis.set_yticks(range(len(table.index)), table.index, fontsize=8)
        axis.set_title(f"F1 per label, gold set {gold_set}", fontsize=10)
        for (i, j), value in np.ndenumerate(values):
            text = "–" if np.isnan(value) else f"{value:.2f}"
            axis.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if value >= 0.55 else "white")
    figure.colorbar(image, ax=list(axes), label="F1", shrink=0.9)
    return figure


def cost_figure(frame: pd.DataFrame) -> Figure | None:
    """Scatter of reports per second (log x) against relation F1 with CI bars, one point per system and gold set."""
    data = cost_data(frame)
    if data.empty:
        return None
    systems, gold_sets = _systems(data), list(dict.fromkeys(data.gold_set))
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    axis = figure.subplots()
    for row, errors in zip(data.itertuples(), _errors(data.rename(columns={"relation_f1": "value"})).T):
        colour = OKABE_ITO[systems.index(row.system) % len(OKABE_ITO)]
        marker = MARKERS[gold_sets.index(row.gold_set) % len(MARKERS)]
        axis.errorbar(row.reports_per_second, row.relation_f1, yerr=errors.reshape(2, 1).tolist(), fmt=marker, color=colour,
                      markeredgecolor="black", markersize=8, capsize=3)
        axis.annotate(row.system if len(gold_sets) == 1 else f"{row.system} ({row.gold_set})",
                      (row.reports_per_second, row.relation_f1), xytext=(6, 4), textcoords="offset points", fontsize=8)
    axis.set_xscale("log")
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    low, high = data.reports_per_second.min(), data.reports_per_second.max()
    axis.set_xlim(low / 2, high * 2)
    axis.set_ylim(0, 1.05)
    axis.set_xlabel("reports per second (log scale)")
    axis.set_ylabel("relation F1")
    axis.set_title("cost against quality")
    axis.grid(alpha=0.3, which="both")
    return figure


def _calibration_panels(rows: list[dict]) -> tuple[Figure, list[tuple[Any, tuple[str, str], list[dict]]], list[str]]:
    """A figure with one panel per (gold set, kind) of the calibration ``rows``: each panel's axis, key
    and rows, and the systems in order (one colour each across the panels)."""
    keys = list(dict.fromkeys((row["gold_set"], row["kind"]) for row in rows))
    figure = Figure(figsize=(3.6 * len(keys), 3.8), layout="constrained")
    axes = figure.subplots(1, len(keys), squeeze=False)[0]
    panels = [(axis, key, [row for row in rows if (row["gold_set"], row["kind"]) == key]) for axis, key in zip(axes, keys)]
    return figure, panels, list(dict.fromkeys(row["system"] for row in rows))


def reliability_figure(calibration: list[dict]) -> Figure | None:
    """Reliability diagram: per gold set and kind, each scored system's share right against its mean
    score per bin (the diagonal is perfect calibration); systems without scores are left out."""
    rows = [row for row in calibration if row.get("reliability")]
    if not rows:
        return None
    figure, panels, systems = _calibration_panels(rows)
    for axis, (gold_set, kind), panel_rows in panels:
        axis.plot([0, 1], [0, 1], color="#999999", linestyle=":", linewidth=1)
        for row in panel_rows:
            bins = [b for b in row["reliability"] if b["n"]]
            index = systems.index(row["system"])
            axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker=MARKERS[index % len(MARKERS)],
                      color=OKABE_ITO[index % len(OKABE_ITO)], label=f"{row['system']} (ECE {row['ece']:.2f})")
        axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean score in bin", ylabel="share right",
                 title=f"{gold_set}: {kind}")
        axis.legend(fontsize=7, loc="upper left")
    return figure


def precision_recall_figure(calibration: list[dict]) -> Figure | None:
    """Precision-recall curves: per gold set and kind, each scored system's micro precision and recall of
    what it keeps at each score threshold (its average precision in the legend)."""
    rows = [row for row in calibration if row.get("pr_curve")]
    if not rows:
        return None
    figure, panels, systems = _calibration_panels(rows)
    for axis, (gold_set, kind), panel_rows in panels:
        for row in panel_rows:
            index = systems.index(row["system"])
            axis.plot([p["recall"] for p in row["pr_curve"]], [p["precision"] for p in row["pr_curve"]],
                      color=OKABE_ITO[index % len(OKABE_ITO)], linewidth=1.5,
                      label=f"{row['system']} (AP {row['average_precision']:.2f})")
        axis.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall (of the gold)", ylabel="precision", title=f"{gold_set}: {kind}")
        axis.legend(fontsize=7, loc="lower left")
    return figure


def write_plots(frame: pd.DataFrame, folder: Path, calibration: list[dict] | None = None) -> list[Path]:
    """``f1``, ``per_label_f1``, ``cost_quality``, ``reliability`` and ``precision_recall`` as .png and .svg in ``folder`` (a figure
    without data is left out). Reference rows (``frame.reference``) are named ``NAME (reference)``."""
    written = []
    if "reference" in frame and frame.reference.any():
        marked = frame.reference.fillna(False).astype(bool)
        frame = frame.assign(system=frame.system.where(~marked, frame.system + " (reference)"))
    makers = (("f1", lambda: f1_figure(frame)), ("per_label_f1", lambda: per_label_figure(frame)),
              ("cost_quality", lambda: cost_figure(frame)), ("reliability", lambda: reliability_figure(calibration or [])),
              ("precision_recall", lambda: precision_recall_figure(calibration or [])))
    for name, make in makers:
        figure = make()
        if figure is None:
            continue
        for suffix in (".png", ".svg"):
            path = folder / f"{name}{suffix}"
            folder.mkdir(parents=True, exist_ok=True)
            temporary = folder / f".{name}.tmp{suffix}"
            figure.savefig(temporary, dpi=150, metadata={"Software": None} if suffix == ".png" else {"Date": None})
            temporary.replace(path)
            written.append(path)
    return written
