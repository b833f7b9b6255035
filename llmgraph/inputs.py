"""One entry point for every input llmgraph accepts: RadGraph JSON/JSONL or plain reports."""

from __future__ import annotations

import json
from pathlib import Path

from llmgraph.document import Document
from llmgraph.formats import LABELERS, json_lines, read_radgraph, read_text
from llmgraph.reports import ReportOptions, read_reports


def is_radgraph_file(path: Path) -> bool:
    """True for RadGraph JSON (``.json``) and for JSONL whose first line is an annotated document."""
    if path.suffix == ".json":
        return True
    if path.suffix != ".jsonl":
        return False
    first = next((line for line in json_lines(read_text(path)) if line.strip()), "")
    try:
        row = json.loads(first)
    except (ValueError, RecursionError):
        return True  # let the RadGraph reader report the broken line
    return isinstance(row, dict) and any(key in row for key in ("entities", *LABELERS))


def load_documents(path: str | Path, labeler: str | None = None,
                   report_options: ReportOptions = ReportOptions()) -> list[Document]:
    """Documents from any supported file; plain reports come back unannotated."""
    path = Path(path)
    if is_radgraph_file(path):
        return read_radgraph(path, labeler)
    return read_reports(path, report_options)
