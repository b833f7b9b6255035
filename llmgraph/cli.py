"""The ``llmgraph`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from llmgraph.errors import InputError
from llmgraph.formats import read_radgraph, write_radgraph
from llmgraph.inputs import load_documents
from llmgraph.labels import LabelSet
from llmgraph.metrics import evaluate as evaluate_documents
from llmgraph.reports import ReportOptions

app = typer.Typer(add_completion=False, no_args_is_help=True, help="RadGraph graphs from radiology reports with open LLMs.")
console = Console()

LabelerOption = typer.Option(None, "--labeler", help="For test files with labeler_1/labeler_2: 1, 2 or both.")


def _fail(error: InputError) -> None:
    typer.echo(f"llmgraph: {error}", err=True)
    raise typer.Exit(2)


def _ci(result: dict, name: str) -> str:
    low_high = result["ci"].get(name)
    return f"[{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else ""


def _print_evaluation(result: dict) -> None:
    headline = Table(title=f"{result['n_reports']} reports, label set {result['label_set']}, "
                           f"{int(result['bootstrap']['confidence'] * 100)}% bootstrap CI")
    for column in ("metric", "value", "CI", "precision", "recall"):
        headline.add_column(column, justify="left" if column == "metric" else "right")
    for name, title in (("entity", "entity F1"), ("relation", "relation F1"),
                        ("entity_unlabeled", "entity F1 (label-agnostic)"),
                        ("relation_unlabeled", "relation F1 (label-agnostic)")):
        headline.add_row(title, f"{result[f'{name}_f1']:.3f}", _ci(result, f"{name}_f1"),
                         f"{result[f'{name}_precision']:.3f}", f"{result[f'{name}_recall']:.3f}")
    for name, title in (("rg_e", "RG_E"), ("rg_er", "RG_ER"), ("rg_er_bar", "RG_ER-bar")):
        headline.add_row(title, f"{result[name]:.3f}", _ci(result, name), "", "")
    console.print(headline)
    for key, title in (("per_label", "entity label"), ("per_relation", "relation type")):
        table = Table(title=f"per {title}")
        for column in (title, "F1", "CI", "precision", "recall", "support", "tp", "fp", "fn"):
            table.add_column(column, justify="left" if column == title else "right")
        for bucket, row in result[key].items():
            ci = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]" if "ci" in row else ""
            table.add_row(bucket, f"{row['f1']:.3f}", ci, f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                          *(str(row[c]) for c in ("support", "tp", "fp", "fn")))
        console.print(table)
    for attribute, groups in result["per_group"].items():
        table = Table(title=f"per {attribute}")
        for column in (attribute, "reports", "entity F1", "relation F1", "RG_E", "RG_ER", "RG_ER-bar"):
            table.add_column(column, justify="left" if column == attribute else "right")
        for value, block in groups.items():
            table.add_row(value, str(block["n_reports"]), *(f"{block[n]:.3f}" for n in
                          ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")))
        console.print(table)
    for key, what in (("missing_predictions", "gold reports had no prediction (scored as empty)"),
                      ("unmatched_predictions", "predictions had no gold report (ignored)")):
        if result[key]:
            console.print(f"note: {len(result[key])} {what}: {', '.join(result[key][:5])}"
                          f"{' ...' if len(result[key]) > 5 else ''}")


@app.command()
def evaluate(
    gold: Path = typer.Option(..., "--gold", help="Gold RadGraph JSON/JSONL."),
    pred: Path = typer.Option(..., "--pred", help="Predicted RadGraph JSON/JSONL."),
    labeler: Optional[str] = LabelerOption,
    pred_labeler: Optional[str] = typer.Option(
        None, "--pred-labeler", help="Labeler of a test file used as predictions (2 vs --labeler 1: the human ceiling)."),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Score in this label set (default: as the files, or 1.0 when they differ)."),
    samples: int = typer.Option(1000, "--bootstrap", help="Bootstrap samples for the confidence intervals (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Score predictions against gold: entity/relation micro-F1, F1RadGraph, bootstrap CIs."""
    try:
        result = evaluate_documents(read_radgraph(gold, labeler), read_radgraph(pred, pred_labeler),
                                    label_set=labels, samples=samples, seed=seed)
    except InputError as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_evaluation(result)


@app.command()
def convert(
    source: Path = typer.Argument(..., help="RadGraph JSON/JSONL, or plain reports (.txt, .csv, .jsonl)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .json (RadGraph) or .jsonl (one document per line)."),
    labeler: Optional[str] = LabelerOption,
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Map entity labels into this label set."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Report text column of a .csv/.jsonl."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Report id column of a .csv/.jsonl."),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression."),
) -> None:
    """Read any supported input, validate it, and write RadGraph JSON or JSONL (plain reports come out tokenized)."""
    options = ReportOptions(text_column, id_column, modality,
                            tuple(name.strip().lower() for name in sections.split(",")) if sections else ())
    try:
        docs = load_documents(source, labeler, options)
        if labels is not None:
            docs = [doc.with_labels(labels) for doc in docs]
        write_radgraph(docs, output)
    except InputError as error:
        _fail(error)
    typer.echo(f"wrote {len(docs)} documents to {output}", err=True)


def main() -> None:  # pragma: no cover - console entry for `python -m llmgraph`
    app(prog_name="llmgraph")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
