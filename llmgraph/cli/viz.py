"""``llmgraph viz``: one self-contained HTML page of a RadGraph file's reports (and their diff against gold)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from llmgraph.cli.base import _labeler_option
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.io.outputs import check_output
from llmgraph.io.radgraph_reader import read_radgraph


def viz(
    pred: Path = typer.Argument(..., metavar="PRED", help="RadGraph JSON/JSONL to show (predictions, or any annotated file)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="The HTML file to write (self-contained, works offline)."),
    gold: Optional[Path] = typer.Option(None, "--gold", metavar="FILE", help="Gold RadGraph file: mark correct, missing, spurious and wrong-label entities and relations."),
    labeler: Optional[str] = _labeler_option(),
    pred_labeler: Optional[str] = typer.Option(None, "--pred-labeler", metavar="1|2", help="Labeler of a test file shown as the predictions (e.g. 2, against --gold with --labeler 1)."),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Show labels in this label set (default: as the files, or 1.0 when they differ)."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: the file names)."),
) -> None:
    """Write one HTML page showing every report with its entities and relations (and the diff against gold)."""
    from llmgraph.viz import write_viewer

    check_output(output, [pred, gold], suffixes=(".html", ".htm"))
    sources = f"{pred} against gold {gold}" if gold else str(pred)
    predicted = read_radgraph(pred, pred_labeler)
    gold_docs = read_radgraph(gold, labeler) if gold else None
    try:
        payload = write_viewer(output, predicted, gold_docs, labels, title or f"llmgraph: {pred.name}", sources)
    except InputError as error:
        raise error.at(pred) from None
    unmatched = payload["unmatched"]
    line = f"wrote {output}: {len(payload['reports'])} reports"
    if unmatched["pred_only"]["count"] or unmatched["gold_only"]["count"]:
        line += (f" ({unmatched['pred_only']['count']} predicted reports have no gold, "
                 f"{unmatched['gold_only']['count']} gold reports have no prediction)")
    typer.echo(line, err=True)
