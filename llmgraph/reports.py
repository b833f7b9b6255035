"""Plain radiology reports in: .txt, .csv or .jsonl, with optional section selection.

A ``.txt`` file holds one report per line, or reports separated by blank lines (detected).
A ``.csv`` / ``.jsonl`` file holds one report per row in a text column, with optional id and
modality columns. Sections (ReXGradient-160K / MIMIC-CXR style) are read either from columns
named after them (``findings``, ``impression``) or from ``FINDINGS:``-style headers in the
text; only the chosen sections are tokenized, and token offsets still index the original report.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from llmgraph.document import Document, document_from_report
from llmgraph.errors import InputError
from llmgraph.formats import json_lines, parse_json, read_text

TEXT_COLUMNS = ("report", "text", "report_text")
ID_COLUMNS = ("id", "report_id", "study_id")
# A header: start of a line, a known section name or an all-caps phrase, then a colon.
_KNOWN_SECTIONS = (
    "findings|impression|impressions|indication|indications|history|clinical history|clinical information|"
    "comparison|comparisons|technique|examination|exam|reason for exam|reason for examination|conclusion|"
    "conclusions|recommendation|recommendations|notification|addendum|procedure|wet read|final report"
)
_HEADER = re.compile(rf"^[ \t]*(?P<name>(?i:{_KNOWN_SECTIONS})|[A-Z][A-Z /&()-]{{2,40}}?)[ \t]*:", re.MULTILINE)


@dataclass(frozen=True)
class ReportOptions:
    """How to read plain reports."""

    text_column: str | None = None
    id_column: str | None = None
    modality: str | None = None
    sections: tuple[str, ...] = ()


def section_name(header: str) -> str:
    return re.sub(r"\s+", " ", header.strip().lower())


def find_sections(report: str) -> dict[str, tuple[int, int]]:
    """Character span of each headed section's body (text after ``NAME:`` up to the next header)."""
    headers = list(_HEADER.finditer(report))
    spans: dict[str, tuple[int, int]] = {}
    for header, following in zip(headers, headers[1:] + [None]):
        end = following.start() if following else len(report)
        spans.setdefault(section_name(header.group("name")), (header.end(), end))
    return spans


def report_document(doc_id: str, report: str, sections: tuple[str, ...] = (), **fields: Any) -> Document:
    """A document for one raw report, restricted to the chosen sections when asked.

    A report without any chosen section gets empty text and a note in ``meta["problem"]``:
    the caller reports it per report instead of failing the whole run.
    """
    if not sections:
        return document_from_report(doc_id, report, **fields)
    return _sections_document(doc_id, report, sections, find_sections(report), **fields)


def _sections_document(doc_id: str, report: str, sections: tuple[str, ...], found: dict[str, tuple[int, int]],
                       **fields: Any) -> Document:
    """A document tokenized over the chosen ones of the ``found`` section bodies (character spans)."""
    chosen = {name: found[name] for name in sections if name in found}
    if not chosen:
        document = document_from_report(doc_id, report, spans=[(0, 0)], **fields)
        document.meta["problem"] = f"no {' or '.join(sections)} section (found: {', '.join(found) or 'none'})"
        return document
    document = document_from_report(doc_id, report, spans=sorted(chosen.values()), **fields)
    document.meta["sections"] = {name: list(span) for name, span in chosen.items()}
    return document


def _from_columns(doc_id: str, row: dict[str, Any], sections: tuple[str, ...], **fields: Any) -> Document:
    """Sections held in columns: the report is rebuilt as ``NAME:\\nbody`` blocks, and tokenized per body.

    The body spans are known as the report is built: a body is never searched for headers
    (a ``LUNGS:`` line inside a findings column stays part of the findings).
    """
    report, found = "", {}
    for name in sections:
        body = str(row.get(name) or "").strip()
        if body:
            report += ("\n\n" if report else "") + f"{name.upper()}:\n"
            found[name] = (len(report), len(report) + len(body))
            report += body
    return _sections_document(doc_id, report, sections, found, **fields)


def _rows_to_documents(rows: list[dict[str, Any]], path: Path, options: ReportOptions) -> list[Document]:
    columns = {key.lower(): key for row in rows[:1] for key in row}
    text_column = options.text_column or next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    column_sections = bool(options.sections) and all(name in columns for name in options.sections)
    if text_column is None and not column_sections:
        raise InputError(f"no report text column (looked for {', '.join(TEXT_COLUMNS)}; choose one with --text-column)", path)
    if text_column is not None and rows and text_column not in rows[0] and not column_sections:
        raise InputError(f"no column {text_column!r} (columns: {', '.join(rows[0])})", path)
    id_column = options.id_column or next((columns[c] for c in ID_COLUMNS if c in columns), None)
    if options.id_column and rows and options.id_column not in rows[0]:
        raise InputError(f"no column {options.id_column!r} (columns: {', '.join(rows[0])})", path)
    docs = []
    for number, row in enumerate(rows, 1):
        if id_column and id_column not in row:
            raise InputError(f"row {number}: no {id_column!r} field", path)
        doc_id = str(row[id_column]) if id_column else str(number)
        if not column_sections and text_column not in row:
            raise InputError(f"no {text_column!r} field", path, doc_id)
        given = row.get(columns["modality"]) if "modality" in columns else None
        modality = options.modality or (str(given) if given not in (None, "") else None)
        if column_sections:
            lowered = {key.lower(): value for key, value in row.items()}
            docs.append(_from_columns(doc_id, lowered, options.sections, modality=modality))
        else:
            docs.append(report_document(doc_id, str(row[text_column] or ""), options.sections, modality=modality))
    return docs


def _split_txt(text: str) -> list[str]:
    blank_line = r"\n(?:[ \t\r]*\n)+"  # one or more blank lines; \r: files with Windows line ends
    if re.search(blank_line, text.strip()):
        return [block.strip("\r\n") for block in re.split(blank_line, text.strip()) if block.strip()]
    return [line for line in text.splitlines() if line.strip()]


def read_reports(path: str | Path, options: ReportOptions = ReportOptions()) -> list[Document]:
    """Read plain reports from ``.txt``, ``.csv`` or ``.jsonl`` into unannotated documents."""
    path = Path(path)
    text = read_text(path)
    if path.suffix == ".txt":
        docs = [report_document(str(n), report, options.sections, modality=options.modality)
                for n, report in enumerate(_split_txt(text), 1)]
    elif path.suffix == ".csv":
        try:
            with warnings.catch_warnings():
                # index_col=False: rows longer than the header are an error, never a silent index column
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
        except pd.errors.ParserWarning:
            raise InputError("not a readable CSV file (a row has more fields than the header: "
                             "quote texts that hold commas)", path) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise InputError(f"not a readable CSV file ({str(error).strip().splitlines()[-1]})", path) from None
        docs = _rows_to_documents(frame.to_dict("records"), path, options)
    elif path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(json_lines(text), 1):
            if line.strip():
                row = parse_json(line, path, number)
                if not isinstance(row, dict):
                    raise InputError(f"line {number}: expected a JSON object", path)
                rows.append(row)
        docs = _rows_to_documents(rows, path, options)
    else:
        raise InputError(f"unknown report file type {path.suffix!r} (expected .txt, .csv or .jsonl)", path)
    ids = [doc.id for doc in docs]
    if len(set(ids)) != len(ids):
        duplicate = next(doc_id for doc_id in ids if ids.count(doc_id) > 1)
        raise InputError("duplicate report id", path, duplicate)
    return docs
