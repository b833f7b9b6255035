"""What the commands print: score tables, run summaries, comparison tables, and the reports left
out (tables on stdout, summaries and notes on stderr).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.evaluation.scoring import evaluate as evaluate_documents
from llmgraph.io.radgraph_reader import read_radgraph


def _console() -> Console:
    """Rich output on stdout: the terminal's width, or unbounded when piped (no wrapped cells, no cut names)."""
    return Console(highlight=False) if sys.stdout.isatty() else Console(width=100_000, highlight=False)


def _ci(result: dict, name: str) -> str:
    low_high = result["ci"].get(name)
    return f"[{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""


def _print_evaluation(result: dict) -> None:
    console = _console()
    console.print(_headline_table(result))
    for key, title in (("per_label", "entity label"), ("per_relation", "relation type")):
        console.print(_bucket_table(result[key], title))
    for attribute, groups in result["per_group"].items():
        console.print(_group_table(groups, attribute))
    for kind, classes in result["errors"].items():
        console.print(_error_table(kind, classes))
    for kind, curve in result.get("curve", {}).items():
        console.print(_curve_table(kind, curve))
    for key, what in (("missing_predictions", "gold reports had no prediction (scored as empty)"),
                      ("unmatched_predictions", "predictions had no gold report (ignored)")):
        if result[key]:
            console.print(f"note: {len(result[key])} {what}: {', '.join(result[key][:5])}"
                          f"{' ...' if len(result[key]) > 5 else ''}", markup=False)


def _headline_table(result: dict) -> Table:
    """The micro-F1s (labelled and label-agnostic) and F1RadGraph, with their CIs."""
    headline = Table(title=f"{result['n_reports']} reports, label set {result['label_set']}, "
                           f"{int(result['bootstrap']['confidence'] * 100)}% bootstrap CI, rewards {result['rewards']}")
    for column in ("metric", "value", "CI", "precision", "recall"):
        headline.add_column(column, justify="left" if column == "metric" else "right")
    for name, title in (("entity", "entity F1"), ("relation", "relation F1"),
                        ("entity_unlabeled", "entity F1 (label-agnostic)"),
                        ("relation_unlabeled", "relation F1 (label-agnostic)")):
        headline.add_row(title, f"{result[f'{name}_f1']:.3f}", _ci(result, f"{name}_f1"),
                         f"{result[f'{name}_precision']:.3f}", f"{result[f'{name}_recall']:.3f}")
    for name, title in (("rg_e", "RG_E"), ("rg_er", "RG_ER"), ("rg_er_bar", "RG_ER-bar")):
        headline.add_row(title, f"{result[name]:.3f}", _ci(result, name), "", "")
    return headline


def _bucket_table(buckets: dict, title: str) -> Table:
    """One row per entity label (or relation type): F1 with its CI, precision, recall and counts."""
    table = Table(title=f"per {title}")
    for column in (title, "F1", "CI", "precision", "recall", "support", "tp", "fp", "fn"):
        table.add_column(column, justify="left" if column == title else "right")
    for bucket, row in buckets.items():
        ci = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]" if "ci" in row else ""
        table.add_row(bucket, f"{row['f1']:.3f}", ci, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      *(str(row[c]) for c in ("support", "tp", "fp", "fn")))
    return table


def _error_table(kind: str, classes: dict) -> Table:
    """What kind of mistakes: each error class's false positives and false negatives (README, Error taxonomy)."""
    table = Table(title=f"{kind} errors by kind")
    for column in ("error", "fp", "fn"):
        table.add_column(column, justify="left" if column == "error" else "right")
    for error, sides in classes.items():
        table.add_row(error, str(sides["fp"]), str(sides["fn"]))
    return table


def _curve_table(kind: str, curve: dict) -> Table:
    """Precision, recall and F1 of the predictions kept at each confidence threshold."""
    if not curve["scored"]:
        return Table(title=f"{kind} confidence: n/a (the predictions carry no scores)")
    table = Table(title=f"{kind} confidence: average precision {curve['average_precision'] or 0:.3f} (chance "
                        f"{curve['positive_rate']:.3f}), calibration error {curve['ece']:.3f}")
    for column in ("min score", "kept", "precision", "recall", "F1"):
        table.add_column(column, justify="right")
    for row in curve["thresholds"]:
        table.add_row(f"{row['threshold']:.1f}", str(row["kept"]), f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      f"{row['f1']:.3f}")
    return table


def _group_table(groups: dict, attribute: str) -> Table:
    """One row per value of a report attribute (modality, section ...): its reports' headline scores."""
    table = Table(title=f"per {attribute}")
    for column in (attribute, "reports", "entity F1", "relation F1", "RG_E", "RG_ER", "RG_ER-bar"):
        table.add_column(column, justify="left" if column == attribute else "right")
    for value, block in groups.items():
        table.add_row(value, str(block["n_reports"]), *(f"{block[n]:.3f}" for n in
                      ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")))
    return table


def _print_scores(gold_docs: list[Document], output: Path) -> None:
    """The scores of a run's output against gold (extract --gold, batch results --gold)."""
    try:
        _print_evaluation(evaluate_documents(gold_docs, read_radgraph(output)))
    except InputError as error:
        raise error.at(output) from None


def _print_skipped(skipped: dict[str, str], what: str) -> None:
    for doc_id, problem in list(skipped.items())[:10]:
        typer.echo(f"  report {doc_id}: {problem}", err=True)
    if len(skipped) > 10:
        typer.echo(f"  ... and {len(skipped) - 10} more {what}", err=True)


def _print_run_summary(summary, manifest: dict, output: Path) -> None:  # noqa: ANN001
    counts = manifest["counts"]
    line = f"{summary.written}/{summary.total} reports extracted to {output} ({len(summary.errors)} failed"
    line += f"; {summary.reused} from an earlier run)" if summary.reused else ")"
    if counts.get("entities_generated"):
        line += (f"; {counts['entities_kept']} entities kept, {counts['entities_generated'] - counts['entities_kept']} "
                 f"dropped; {counts['relations_kept']} relations kept, {counts['relations_dropped']} dropped")
    if summary.min_score is not None:
        below = summary.below_min_score
        line += (f"; below --min-score {summary.min_score:g}: {below['entities']} entities, {below['relations']} "
                 "relations left out")
    if manifest.get("reports_per_second"):
        line += f"; {manifest['reports_per_second']:.2f} reports/s"
    if manifest.get("generated_tokens_per_second"):
        line += f", {manifest['generated_tokens_per_second']:.1f} generated tokens/s"
    typer.echo(line, err=True)
    if summary.changed:
        typer.echo(f"  {len(summary.changed)} reports changed since the earlier run and ran again: "
                   f"{', '.join(summary.changed[:5])}{' ...' if len(summary.changed) > 5 else ''}", err=True)
    if summary.unreadable_lines:
        lines = ", ".join(map(str, summary.unreadable_lines[:10]))
        typer.echo(f"  {output}.partial.jsonl: skipped {len(summary.unreadable_lines)} unreadable line(s) "
                   f"(line {lines}); their reports ran again", err=True)
    _print_skipped(summary.errors, f"(all in {output}.manifest.json)")


def _print_comparison(comparison) -> None:  # noqa: ANN001
    """Systems x headline metrics (with CIs) and reports/s, one table per gold set."""
    from llmgraph.harness.results import TITLES, cost

    console = _console()
    for gold_set, docs in comparison.gold.items():
        table = Table(title=f"{gold_set}: {len(docs)} reports")
        for column in ("system", *TITLES.values(), "reports/s"):
            table.add_column(column, justify="left" if column == "system" else "right")
        for outcome in comparison.outcomes:
            if outcome.gold_set != gold_set or outcome.scores is None:
                continue
            scores = outcome.scores
            cells = [f"{scores[m]:.3f} {_ci(scores, m)}" for m in TITLES]
            speed = cost(outcome)["reports_per_second"]
            table.add_row(outcome.system, *cells, f"{speed:.2f}" if speed else "")
        console.print(table)
