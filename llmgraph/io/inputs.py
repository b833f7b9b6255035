"""One entry point for every input llmgraph accepts: RadGraph JSON/JSONL or plain reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.radgraph import LABELERS
from llmgraph.io.radgraph_reader import iter_radgraph
from llmgraph.io.reports import ReportOptions, iter_reports
from llmgraph.io.text_files import read_lines


def is_radgraph_file(path: Path) -> bool:
    """True for RadGraph JSON (``.json``) and for JSONL whose first line is an annotated document."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return True
    if suffix != ".jsonl":
        return False
    first = next((line for line in read_lines(path) if line.strip()), "")
    try:
        row = json.loads(first)
    except (ValueError, RecursionError):
        return True  # let the RadGraph reader report the broken line
    return isinstance(row, dict) and any(key in row for key in ("entities", *LABELERS))


def iter_documents(path: str | Path, labeler: str | None = None,
                   report_options: ReportOptions = ReportOptions(), read_ahead: bool = False) -> Iterator[Document]:
    """Documents from any supported file, read as they are needed (a RadGraph file is still checked
    as one collection: duplicate ids, one label set, the labeler choice); plain reports come back
    unannotated. ``write_radgraph(iter_documents(path, read_ahead=True), out)`` converts a file of
    any size in flat memory, a helper process parsing a RadGraph file while this one writes."""
    path = Path(path)
    if is_radgraph_file(path):
        return iter_radgraph(path, labeler, read_ahead)
    return iter_reports(path, report_options)


def iter_run_input(path: str | Path, labeler: str | None = None,
                   report_options: ReportOptions = ReportOptions()) -> Iterator[Document]:
    """``iter_documents`` of the input of a run: a file without a single report is a one-line error."""
    empty = True
    for doc in iter_documents(path, labeler, report_options):
        empty = False
        yield doc
    if empty:
        raise InputError("no reports", path)


def load_documents(path: str | Path, labeler: str | None = None,
                   report_options: ReportOptions = ReportOptions()) -> list[Document]:
    """Every document of a supported file (see ``iter_documents``)."""
    return list(iter_documents(path, labeler, report_options))
