"""Tables of a comparison: ``results.csv`` (long form), ``results.md`` (laid out like the RadGraph-XL
paper's comparison), ``significance.csv`` (the paired test chosen), ``diffs.jsonl`` (per-report errors),
``per_report.csv`` (per-report scores), with their figures in ``plots/`` and a report viewer per system
and gold set in ``viewer/``. Reference rows (the human ceiling, predictions flagged ``reference``) are
marked in every one of them, and ``results.md`` says how far each system is from the best reference."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from llmgraph.core.defaults import RANDOMIZATION_SHUFFLES, significance_level
from llmgraph.evaluation.scores import HEADLINE
from llmgraph.evaluation.taxonomy import ERRORS
from llmgraph.harness.comparison import Comparison, Outcome
from llmgraph.harness.layout import (
    CALIBRATION_CSV,
    DIFFS_JSONL,
    ERRORS_CSV,
    FAILURES_JSON,
    PER_REPORT_CSV,
    RESULTS_CSV,
    RESULTS_MD,
    SIGNIFICANCE_CSV,
    Layout,
)
from llmgraph.harness.plots import write_plots
from llmgraph.harness.rows import ERROR_COLUMNS
from llmgraph.harness.viewers import write_comparison_viewers
from llmgraph.io.atomic import write_atomic, write_json

TITLES = {"entity_f1": "entity F1", "relation_f1": "relation F1", "rg_e": "RG_E", "rg_er": "RG_ER",
          "rg_er_bar": "RG_ER-bar"}
SCORE_METRICS = (*HEADLINE, "entity_precision", "entity_recall", "relation_precision", "relation_recall")
PER_REPORT_COLUMNS = ["system", "gold_set", "reference", "id", "modality", "tokens", "gold_entities", "gold_relations",
                      "entity_precision", "entity_recall", "entity_f1", "relation_precision", "relation_recall",
                      "relation_f1", "rg_e", "rg_er", "rg_er_bar", *ERROR_COLUMNS, "rewards", "error"]
CALIBRATION_COLUMNS = ["system", "gold_set", "kind", "scored", "unscored", "positive_rate", "average_precision", "ece",
                       "review_signal", "review_reports", "review_errors_per_report", "random_errors_per_report", "review_gain",
                       "dev_gold_set", "dev_threshold", "f1_at_dev_threshold"]
ERRORS_COLUMNS = ["system", "gold_set", "reference", "modality", "kind", "error", "label", "fp", "fn"]


def _score_rows(outcome: Outcome, group: str, block: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    base = {"system": outcome.system, "gold_set": outcome.gold_set, "reference": outcome.reference, "group": group,
            "n_reports": block["n_reports"], "rewards": outcome.scores["rewards"]}
    for metric in SCORE_METRICS:
        low, high = block["ci"].get(metric, (None, None))
        rows.append(base | {"metric": metric, "value": block[metric], "ci_low": low, "ci_high": high})
    for key, prefix in (("per_label", "entity_f1"), ("per_relation", "relation_f1")):
        for bucket, entry in block.get(key, {}).items():
            low, high = entry.get("ci", (None, None))
            rows.append(base | {"metric": f"{prefix}:{bucket}", "value": entry["f1"], "ci_low": low, "ci_high": high,
                                "support": entry["support"]})
    return rows


def cost_columns() -> tuple[str, ...]:
    """The cost metrics of ``results.csv`` (the rest are scores)."""
    return tuple(cost(Outcome("", "")))


def cost(outcome: Outcome) -> dict[str, float | None]:
    """Cost columns of a run, from its manifest (a cached outcome shows the cost of the run that made it)."""
    manifest = outcome.manifest
    seconds, counts = manifest.get("seconds", {}), manifest.get("counts", {})
    return {"wall_seconds": manifest.get("wall_seconds"), "model_load_seconds": seconds.get("model_load"),
            "training_seconds": seconds.get("training"), "reports_per_second": manifest.get("reports_per_second"),
            "prompt_tokens": counts.get("prompt_tokens"), "completion_tokens": counts.get("completion_tokens"),
            "reports_failed": counts.get("reports_failed")}


def results_frame(comparison: Comparison) -> pd.DataFrame:
    """One row per system x gold set x group (all reports, or one modality) x metric, with CI bounds."""
    rows = []
    for outcome in comparison.outcomes:
        if outcome.scores is None:
            continue
        rows += _score_rows(outcome, "all", outcome.scores)
        for modality, block in outcome.scores["per_group"].get("modality", {}).items():
            rows += _score_rows(outcome, f"modality={modality}", block)
        rows += [{"system": outcome.system, "gold_set": outcome.gold_set, "reference": outcome.reference,
                  "group": "all", "n_reports": outcome.scores["n_reports"], "metric": metric, "value": value}
                 for metric, value in cost(outcome).items() if value is not None]
    columns = ["system", "gold_set", "reference", "group", "metric", "value", "ci_low", "ci_high", "n_reports",
               "support", "rewards"]
    return pd.DataFrame(rows, columns=columns)


def _cell(value: float | None, low: float | None = None, high: float | None = None) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None and not pd.isna(low) else f"{value:.3f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None or pd.isna(value) else f"{value:,.{digits}f}"


def _markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, disable_numparse=True) if not frame.empty else "(nothing)"


def _shown(system: str, references: set[str]) -> str:
    """A system's name in a table: references are marked."""
    return f"{system} (reference)" if system in references else system


def _headline_table(frame: pd.DataFrame, gold_set: str, group: str, systems: list[str],
                    references: set[str] = frozenset()) -> pd.DataFrame:
    rows = []
    for system in systems:
        chosen = frame[(frame.system == system) & (frame.gold_set == gold_set) & (frame.group == group)]
        by_metric = {row.metric: row for row in chosen.itertuples()}
        if not by_metric:
            continue
        row = {"system": _shown(system, references)}
        for metric in HEADLINE:
            entry = by_metric.get(metric)
            row[TITLES[metric]] = _cell(entry.value, entry.ci_low, entry.ci_high) if entry is not None else ""
        rows.append(row)
    return pd.DataFrame(rows)


def _modality_table(frame: pd.DataFrame, gold_set: str, systems: list[str],
                    references: set[str] = frozenset()) -> pd.DataFrame:
    chosen = frame[(frame.gold_set == gold_set) & frame.group.str.startswith("modality=")
                   & frame.metric.isin(["entity_f1", "relation_f1"])]
    rows = []
    for system in systems:
        mine = chosen[chosen.system == system]
        if mine.empty:
            continue
        row = {"system": _shown(system, references)}
        for group in sorted(mine.group.unique()):
            values = mine[mine.group == group].set_index("metric").value
            count = int(mine[mine.group == group].n_reports.iloc[0])
            row[f"{group.split('=', 1)[1]} ({count})"] = f"{values['entity_f1']:.3f} / {values['relation_f1']:.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def _cost_table(comparison: Comparison, gold_set: str) -> pd.DataFrame:
    rows = []
    for outcome in comparison.outcomes:
        if outcome.gold_set != gold_set or outcome.scores is None:
            continue
        numbers = cost(outcome)
        rows.append({"system": outcome.system, "reports/s": _number(numbers["reports_per_second"], 2),
                     "wall s": _number(numbers["wall_seconds"]), "load s": _number(numbers["model_load_seconds"]),
                     "training s": _number(numbers["training_seconds"]),
                     "prompt tokens": _number(numbers["prompt_tokens"], 0),
                     "generated tokens": _number(numbers["completion_tokens"], 0),
                     "failed reports": _number(numbers["reports_failed"], 0), "cached": "yes" if outcome.cached else ""})
    return pd.DataFrame(rows)


def _label_table(frame: pd.DataFrame, gold_set: str, systems: list[str]) -> pd.DataFrame:
    chosen = frame[(frame.gold_set == gold_set) & (frame.group == "all") & frame.metric.str.contains(":")]
    if chosen.empty:
        return pd.DataFrame()
    table = chosen.pivot_table(index="system", columns="metric", values="value", aggfunc="first")
    table = table.reindex([s for s in systems if s in table.index])
    table.columns = [column.split(":", 1)[1] + (" (rel)" if column.startswith("relation") else "")
                     for column in table.columns]
    return table.map(lambda value: _cell(value)).reset_index()


def _reference_table(frame: pd.DataFrame, gold_set: str, systems: list[str], references: set[str]) -> pd.DataFrame:
    """Per system (not a reference): each headline metric minus the best reference's on this gold set."""
    chosen = frame[(frame.gold_set == gold_set) & (frame.group == "all") & frame.metric.isin(HEADLINE)]
    values = chosen.pivot_table(index="system", columns="metric", values="value", aggfunc="first")
    present = [name for name in references if name in values.index]
    if not present:
        return pd.DataFrame()
    best = {metric: values.loc[present, metric].idxmax() for metric in HEADLINE if metric in values}
    rows = [{"system": "best reference", **{TITLES[metric]: f"{values.loc[name, metric]:.3f} ({name})"
                                            for metric, name in best.items()}}]
    for system in systems:
        if system in references or system not in values.index:
            continue
        rows.append({"system": system, **{TITLES[metric]: f"{values.loc[system, metric] - values.loc[name, metric]:+.3f}"
                                          for metric, name in best.items()}})
    return pd.DataFrame(rows)


def _difference(row: dict[str, Any]) -> str:
    interval = f" [{row['ci'][0]:+.3f}, {row['ci'][1]:+.3f}]" if "ci" in row else ""
    return f"{row['difference']:+.3f}{interval}"


def _significance_table(rows: list[dict[str, Any]], gold_set: str, samples: int, level: float) -> pd.DataFrame:
    chosen = [row for row in rows if row["gold_set"] == gold_set]
    floor = f"< {2 / samples:.2g}"  # no resample on the other side: p is below what the resamples can show
    return pd.DataFrame([{"A": row["system_a"], "B": row["system_b"], "metric": TITLES[row["metric"]],
                          "A - B": _difference(row),
                          "p": f"{row['p_value']:.3f}" if row["p_value"] > 0 else floor,
                          "significant": "yes" if row["p_value"] < level else "no"}
                         for row in chosen])


def _error_table(errors: pd.DataFrame, gold_set: str, systems: list[str], kind: str) -> pd.DataFrame:
    """Per system that was scored, its false positives + false negatives of each error class (``kind``
    entity or relation)."""
    chosen = errors[(errors["gold_set"] == gold_set) & (errors["kind"] == kind)]
    totals = (chosen.assign(n=chosen["fp"] + chosen["fn"]).groupby(["system", "error"])["n"].sum()
              if not chosen.empty else pd.Series(dtype=int))
    rows = []
    for system in systems:
        counts = {error: int(totals.get((system, error), 0)) for error in ERRORS[kind]}
        rows.append({"system": system, **counts, "all": sum(counts.values())})
    return pd.DataFrame(rows)


def _calibration_table(rows: list[dict[str, Any]], gold_set: str) -> pd.DataFrame:
    """Per system: entity and relation average precision (with chance, the positive rate) and calibration
    error, the review gain, and F1 at the dev threshold when there is one; n/a without scores."""
    table: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["gold_set"] != gold_set:
            continue
        cells = table.setdefault(row["system"], {"system": row["system"]})
        kind = row["kind"]
        if row["average_precision"] is None:
            cells[f"{kind} AP (chance)"] = cells[f"{kind} ECE"] = "n/a"
        else:
            cells[f"{kind} AP (chance)"] = f"{row['average_precision']:.3f} ({row['positive_rate']:.3f})"
            cells[f"{kind} ECE"] = f"{row['ece']:.3f}"
        gain = row["review_gain"]
        cells["errors/report: first 25% to review vs all"] = ("n/a" if gain is None else
                                                              f"{row['review_errors_per_report']:.1f} vs "
                                                              f"{row['random_errors_per_report']:.1f} ({gain:.2f}x)")
        if row["dev_threshold"] is not None:
            cells["dev threshold"] = f"{row['dev_threshold']:.2f}"
            cells[f"{kind} F1 at it"] = f"{row['f1_at_dev_threshold']:.3f}"
    return pd.DataFrame(list(table.values())).fillna("n/a")


def markdown_report(comparison: Comparison, frame: pd.DataFrame) -> str:
    """``results.md``: per gold set, systems x metrics overall and per modality, cost, labels, tests."""
    experiment = comparison.experiment
    samples, confidence = experiment.bootstrap["samples"], experiment.bootstrap["confidence"]
    test = ("paired bootstrap, two-sided" if experiment.significance == "bootstrap" else
            f"paired approximate randomization, two-sided ({RANDOMIZATION_SHUFFLES:,} shuffles)")
    lines = [f"# {experiment.name}", "",
             f"Experiment `{experiment.path.name}`. Values are micro-F1 / F1RadGraph (rewards as scored by "
             f"{experiment.rewards}) with {confidence:.0%} bootstrap CIs ({samples} resamples of reports). "
             f"Significance: {test}.", ""]
    systems, references = comparison.systems, comparison.references
    errors = pd.DataFrame(comparison.errors, columns=ERRORS_COLUMNS)
    for gold_set, docs in comparison.gold.items():
        lines += [f"## Gold set `{gold_set}` ({len(docs)} reports)", "",
                  _markdown(_headline_table(frame, gold_set, "all", systems, references)), ""]
        notes = [o for o in comparison.outcomes if o.gold_set == gold_set and o.note]
        lines += [f"- `{o.system}`: {o.note}." for o in notes] + ([""] if notes else [])
        scored = [s for s in systems if any(o.system == s and o.gold_set == gold_set and o.scored is not None
                                            for o in comparison.outcomes)]
        against = _reference_table(frame, gold_set, systems, references)
        if not against.empty:
            lines += ["### Against the best reference (system minus reference)", "",
                      "The best reference per metric is the reference row that scores highest on it; a reference "
                      "reads as a ceiling: how far humans (or a second model) agree.", "",
                      _markdown(against), ""]
        modalities = _modality_table(frame, gold_set, systems, references)
        if len(modalities.columns) > 2:  # more than one modality
            lines += ["### Per modality (entity F1 / relation F1)", "", _markdown(modalities), ""]
        lines += ["### Cost", "", _markdown(_cost_table(comparison, gold_set)), "",
                  "Systems that share a backend, model and decoding share one loaded model: its load time "
                  "shows on the first of them.", "",
                  "### F1 per entity label and relation type", "", _markdown(_label_table(frame, gold_set, systems)), "",
                  "### What kind of errors (false positives + false negatives, errors.csv)", "",
                  "A mislabeled or mis-bounded entity is one false positive and one false negative, so it counts "
                  "twice here, as in micro-F1 (README, Error taxonomy).", "",
                  _markdown(_error_table(errors, gold_set, scored, "entity")), "",
                  _markdown(_error_table(errors, gold_set, scored, "relation")), "",
                  "### Which graphs to trust (calibration.csv)", "",
                  "Average precision ranks each system's predictions by its confidence (chance: the share that is "
                  "right; the curves in plots/precision_recall); ECE is the expected calibration error over 10 bins "
                  "(plots/reliability); the errors per report of the first quarter of the reports in review order "
                  "(the most expected errors: the sum of 1 - score) against the mean of all (README, Confidence).", "",
                  _markdown(_calibration_table(comparison.calibration, gold_set)), "",
                  "### Is the difference significant?", "",
                  _markdown(_significance_table(comparison.significance, gold_set, samples, significance_level(confidence))), ""]
    failed = [o for o in comparison.outcomes if o.error]
    if failed:
        lines += ["## Failed", ""] + [f"- `{o.system}` on `{o.gold_set}`: {o.error}" for o in failed] + [""]
    return "\n".join(lines)


def write_results(comparison: Comparison) -> pd.DataFrame:
    """Write every table into the comparison's output folder; returns ``results.csv`` as a frame."""
    layout = Layout(comparison.out_dir)
    frame = results_frame(comparison)
    level = significance_level(comparison.experiment.bootstrap["confidence"])
    write_atomic(layout.table(RESULTS_CSV), frame.to_csv(index=False))
    write_atomic(layout.table(RESULTS_MD), markdown_report(comparison, frame))
    significance = pd.DataFrame([{**{k: v for k, v in row.items() if k != "ci"}, "ci_low": row.get("ci", [None])[0],
                                  "ci_high": row.get("ci", [None, None])[1], "significant": row["p_value"] < level,
                                  "rewards": comparison.experiment.rewards}
                                 for row in comparison.significance])
    write_atomic(layout.table(SIGNIFICANCE_CSV), significance.to_csv(index=False))
    write_atomic(layout.table(DIFFS_JSONL),
                 "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in comparison.diffs))
    write_atomic(layout.table(PER_REPORT_CSV),
                 pd.DataFrame(comparison.per_report, columns=PER_REPORT_COLUMNS).to_csv(index=False))
    write_atomic(layout.table(CALIBRATION_CSV),
                 pd.DataFrame(comparison.calibration, columns=CALIBRATION_COLUMNS).to_csv(index=False))
    write_atomic(layout.table(ERRORS_CSV), pd.DataFrame(comparison.errors, columns=ERRORS_COLUMNS).to_csv(index=False))
    failures = {f"{o.system}/{o.gold_set}": o.error for o in comparison.outcomes if o.error}
    write_json(layout.table(FAILURES_JSON), failures)
    write_plots(frame, layout.plots, comparison.calibration)
    write_comparison_viewers(comparison)
    return frame
