"""``llmgraph convert`` and ``llmgraph synth``: write RadGraph files from any supported input, or
synthetic reports with their gold."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import typer

from llmgraph.cli.base import _labeler_option
from llmgraph.cli.options import TxtLayout
from llmgraph.cli.render import _print_skipped
from llmgraph.cli.settings import _report_options
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.io.inputs import iter_documents
from llmgraph.io.outputs import check_output
from llmgraph.io.radgraph_writer import write_radgraph


def _writable_reports(docs: Iterator[Document], skipped: dict[str, str]) -> Iterator[Document]:
    """The documents that can be written; a report a reader could not use (no chosen section ...) is
    left out and recorded in ``skipped``, as ``extract`` fails it alone."""
    for doc in docs:
        if doc.meta.get("problem"):
            skipped[doc.id] = doc.meta["problem"]
        else:
            yield doc


def convert(
    source: Path = typer.Argument(..., metavar="INPUT", help="RadGraph JSON/JSONL, or plain reports (.txt, .csv, .jsonl)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Output .json (RadGraph) or .jsonl (one document per line)."),
    labeler: Optional[str] = _labeler_option(),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Map entity labels into this label set."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Report text column of a .csv/.jsonl (default: report, text or report_text)."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Report id column of a .csv/.jsonl (default: id, report_id or study_id; else the row number)."),
    modality: Optional[str] = typer.Option(None, "--modality", help="Modality of every report (CXR, CT, MR, US, ...)."),
    sections: Optional[str] = typer.Option(None, "--sections", help="Keep only these sections, e.g. findings,impression."),
    txt_layout: TxtLayout = typer.Option(TxtLayout.AUTO, "--txt-layout", help="A .txt file holds one report per line, reports separated by blank lines, or either (detected, with a note)."),
) -> None:
    """Read any supported input, validate it, and write RadGraph JSON or JSONL (plain reports come out tokenized)."""
    check_output(output, [source])
    options = _report_options(text_column, id_column, modality, sections, txt_layout)
    skipped: dict[str, str] = {}
    docs = _writable_reports(iter_documents(source, labeler, options, read_ahead=True), skipped)
    count = write_radgraph((doc.with_labels(labels) for doc in docs) if labels is not None else docs, output)
    typer.echo(f"wrote {count} documents to {output}" + (f"; {len(skipped)} reports left out:" if skipped else ""),
               err=True)
    _print_skipped(skipped, "reports left out")


def synth(
    count: int = typer.Option(100, "-n", min=1, help="Number of reports."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="RadGraph .json or .jsonl (streamed, for large N)."),
    seed: int = typer.Option(0, "--seed", min=0, max=2**32 - 1, help="Seed of the template draws: the same seed gives the same reports."),
    modalities: Optional[str] = typer.Option(None, "--modality", help="Comma-separated subset of the modalities."),
    labels: LabelSet = typer.Option(LabelSet.RADGRAPH, "--labels", help="Label set of the gold annotations."),
) -> None:
    """Synthetic reports with their exact RadGraph gold, for load tests and training demos (not a benchmark)."""
    from llmgraph.io.synth import MODALITIES, synth_documents

    check_output(output)
    chosen = tuple(m.strip() for m in modalities.split(",")) if modalities is not None else MODALITIES
    unknown = [m for m in chosen if m not in MODALITIES]
    if unknown:
        raise InputError(f"--modality: unknown modality {unknown[0]!r} (expected some of {', '.join(MODALITIES)})")
    written = write_radgraph((doc.with_labels(labels) for doc in synth_documents(count, seed, chosen)), output)
    typer.echo(f"wrote {written} synthetic reports to {output}", err=True)
