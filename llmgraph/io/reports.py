"""Plain radiology reports in: .txt, .csv, .jsonl or .parquet, with optional section selection.

A ``.txt`` file holds one report per line, or reports separated by blank lines (detected).
A ``.csv`` / ``.jsonl`` / ``.parquet`` file holds one report per row in a text column, with optional id and
modality columns. Sections (ReXGradient-160K / MIMIC-CXR style) are read either from columns
named after them (``findings``, ``impression``) or from ``FINDINGS:``-style headers in the
text; only the chosen sections are tokenized, and token offsets still index the original report.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from llmgraph.core.document import Document, document_from_report
from llmgraph.core.errors import InputError
from llmgraph.io.text_files import open_input, parse_json, read_lines

TEXT_COLUMNS = ("report", "text", "report_text")
ID_COLUMNS = ("id", "report_id", "study_id")
CSV_CHUNK = 10_000  # rows read at a time
# A header: start of a line (after \n, or \r alone: old Mac line ends), a known section name or an all-caps
# phrase, then a colon.
_KNOWN_SECTIONS = (
    "findings|impression|impressions|indication|indications|history|clinical history|clinical information|"
    "comparison|comparisons|technique|examination|exam|reason for exam|reason for examination|conclusion|"
    "conclusions|recommendation|recommendations|notification|addendum|procedure|wet read|final report"
)
_HEADER = re.compile(rf"(?:^|(?<=\r))[ \t]*(?P<name>(?i:{_KNOWN_SECTIONS})|[A-Z][A-Z /&()-]{{2,40}}?)[ \t]*:", re.MULTILINE)


TXT_LAYOUTS = ("auto", "lines", "blocks")
log = logging.getLogger("llmgraph.io.reports")


@dataclass(frozen=True)
class ReportOptions:
    """How to read plain reports. ``txt_layout``: a ``.txt`` file holds one report per line
    (``lines``), reports separated by blank lines (``blocks``), or either, detected (``auto``)."""

    text_column: str | None = None
    id_column: str | None = None
    modality: str | None = None
    sections: tuple[str, ...] = ()
    txt_layout: str = "auto"

    def __post_init__(self) -> None:
        if any(not name.strip() for name in self.sections):
            raise InputError(f"--sections {','.join(self.sections)!r}: a section name is empty")
        if self.txt_layout not in TXT_LAYOUTS:
            raise InputError(f"unknown .txt layout {self.txt_layout!r} (expected {', '.join(TXT_LAYOUTS)})")


def section_name(header: str) -> str:
    return re.sub(r"\s+", " ", header.strip().lower())


def section_headers(report: str) -> list[tuple[str, int, int, int]]:
    """Every section header of ``report``: (name, header start, body start, body end), in text order."""
    headers = list(_HEADER.finditer(report))
    return [(section_name(header.group("name")), header.start(), header.end(),
             following.start() if following else len(report))
            for header, following in zip(headers, headers[1:] + [None])]


def find_sections(report: str) -> dict[str, tuple[int, int]]:
    """Character span of each headed section's body (text after ``NAME:`` up to the next header)."""
    spans: dict[str, tuple[int, int]] = {}
    for name, _, body, end in section_headers(report):
        spans.setdefault(name, (body, end))
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


def _documents_from_rows(rows: Iterable[dict[str, Any]], path: Path, options: ReportOptions) -> Iterator[Document]:
    """Documents from table rows, one at a time; the columns are those of the first row."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:  # no rows: no reports (the callers say so), whatever the columns
        return
    header = first
    columns = {key.lower(): key for key in header}
    text_column = options.text_column or next((columns[c] for c in TEXT_COLUMNS if c in columns), None)
    column_sections = bool(options.sections) and all(name in columns for name in options.sections)
    if text_column is None and not column_sections:
        raise InputError(f"no report text column (looked for {', '.join(TEXT_COLUMNS)}; choose one with --text-column)", path)
    if text_column not in header and not column_sections:
        raise InputError(f"no column {text_column!r} (columns: {', '.join(header)})", path)
    id_column = options.id_column or next((columns[c] for c in ID_COLUMNS if c in columns), None)
    if options.id_column and options.id_column not in header:
        raise InputError(f"no column {options.id_column!r} (columns: {', '.join(header)})", path)
    seen: set[str] = set()
    for number, row in enumerate(itertools.chain([first], rows), 1):
        doc_id = _row_id(row, id_column, number, path)
        if doc_id in seen:
            raise InputError("duplicate report id", path, doc_id)
        seen.add(doc_id)
        if not column_sections and text_column not in row:
            raise InputError(f"no {text_column!r} field", path, doc_id)
        given = row.get(columns["modality"]) if "modality" in columns else None
        modality = options.modality or (str(given) if given not in (None, "") else None)
        if column_sections:
            lowered = {key.lower(): value for key, value in row.items()}
            for name in options.sections:
                _text_value(lowered.get(name), name, path, doc_id)
            yield _from_columns(doc_id, lowered, options.sections, modality=modality)
        else:
            text = _text_value(row[text_column], text_column, path, doc_id)
            yield report_document(doc_id, text, options.sections, modality=modality)


def _row_id(row: dict[str, Any], id_column: str | None, number: int, path: Path) -> str:
    """A row's report id: its id column (text or a whole number, not empty), else its row number."""
    if not id_column:
        return str(number)
    if id_column not in row:
        raise InputError(f"row {number}: no {id_column!r} field", path)
    value = row[id_column]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"row {number}: the report id in {id_column!r} is {_kind(value)}, expected text or a "
                         "whole number", path)
    if not str(value).strip():
        raise InputError(f"row {number}: the report id in {id_column!r} is empty", path)
    return str(value)


def _text_value(value: Any, column: str, path: Path, doc_id: str) -> str:
    """A text cell: a string, or nothing (an empty report, reported per report)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{column!r} is {_kind(value)}, expected the report text as a string", path, doc_id)
    return value


def _kind(value: Any) -> str:
    """What a JSON value is, in words."""
    for kind, name in ((bool, "a boolean"), ((int, float), "a number"), (list, "a list"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


_BLANK = re.compile(r"[ \t\r]*")  # a line that separates reports (\r: files with Windows line ends)


def _blank_line_between_reports(lines: Iterable[str]) -> bool:
    text_seen = blank_after_text = False
    for line in lines:
        if line.strip():
            if blank_after_text:
                return True
            text_seen = True
        elif text_seen and _BLANK.fullmatch(line):
            blank_after_text = True
    return False


_announced: set[Path] = set()  # files whose detected layout was already reported in this process


def _txt_blocks(path: Path, layout: str) -> bool:
    """Whether a ``.txt`` file is read as blank-line separated blocks; when that was detected, say so
    once (a stray blank line in a one-report-per-line file would otherwise merge reports unseen)."""
    if layout != "auto":
        return layout == "blocks"
    blocks = _blank_line_between_reports(read_lines(path))
    if blocks and path.resolve() not in _announced:
        _announced.add(path.resolve())
        log.warning("%s: blank lines separate the reports, so a report may span several lines; if the file holds "
                    "one report per line, pass --txt-layout lines (or --txt-layout blocks to keep this and "
                    "silence the note)", path)
    return blocks


def _txt_reports(path: Path, layout: str = "auto") -> Iterator[str]:
    """The reports of a ``.txt`` file: one per line, or blocks separated by blank lines (``layout``,
    or detected: blocks when some blank line separates two non-blank ones). Streamed: decide, then read."""
    blocks = _txt_blocks(path, layout)
    if not blocks:
        yield from (part for line in read_lines(path) for part in line.splitlines() if part.strip())
        return
    block: list[str] = []
    pending = None  # a block is yielded once the next one is found: the last one is stripped at its end
    for line in itertools.chain(read_lines(path), [""]):
        if not _BLANK.fullmatch(line):
            block.append(line)
            continue
        text = "\n".join(block).strip("\r\n")
        block = []
        if text.strip():
            if pending is not None:
                yield pending
            pending = text.lstrip() if pending is None else text
    if pending is not None:
        yield pending.rstrip()


def _csv_chunks(path: Path) -> Iterator[pd.DataFrame]:
    """The rows of a CSV file, a chunk at a time."""
    try:
        with io.TextIOWrapper(open_input(path), encoding="utf-8-sig", newline="") as file:
            # index_col=False: rows longer than the header are an error, never a silent index column
            chunks = pd.read_csv(file, dtype=str, keep_default_na=False, index_col=False, chunksize=CSV_CHUNK)
            while True:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield chunk
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte {error.object[error.start]:#04x})", path) from None
    except pd.errors.ParserWarning:
        raise InputError("not a readable CSV file (a row has more fields than the header: "
                         "quote texts that hold commas)", path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"not a readable CSV file ({str(error).strip().splitlines()[-1]})", path) from None


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    for chunk in _csv_chunks(path):
        yield from chunk.to_dict("records")


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(read_lines(path), 1):
        if line.strip():
            row = parse_json(line, path, number)
            if not isinstance(row, dict):
                raise InputError(f"line {number}: expected a JSON object", path)
            yield row


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a Parquet file, a row group's batch at a time (pyarrow: ``llmgraph[ray]`` has it)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow (pip install pyarrow, or llmgraph[ray])", path) from None
    try:
        file = pq.ParquetFile(path)
    except Exception as error:  # pyarrow's ArrowInvalid and OSError: not a Parquet file
        raise InputError(f"not a readable Parquet file ({str(error).strip().splitlines()[0]})", path) from None
    for batch in file.iter_batches(batch_size=CSV_CHUNK):
        yield from batch.to_pylist()


def iter_reports(path: str | Path, options: ReportOptions = ReportOptions()) -> Iterator[Document]:
    """Plain reports from ``.txt``, ``.csv``, ``.jsonl`` or ``.parquet`` as unannotated documents, read as they are
    needed (memory stays flat however large the file); a bad row raises when it is reached."""
    path = Path(path)
    if path.suffix == ".txt":
        for number, report in enumerate(_txt_reports(path, options.txt_layout), 1):
            yield report_document(str(number), report, options.sections, modality=options.modality)
    elif path.suffix == ".csv":
        yield from _documents_from_rows(_csv_rows(path), path, options)
    elif path.suffix == ".jsonl":
        yield from _documents_from_rows(_jsonl_rows(path), path, options)
    elif path.suffix == ".parquet":
        yield from _documents_from_rows(_parquet_rows(path), path, options)
    else:
        raise InputError(f"unknown report file type {path.suffix!r} (expected .txt, .csv, .jsonl or .parquet)", path)


def read_reports(path: str | Path, options: ReportOptions = ReportOptions()) -> list[Document]:
    """Every plain report of a ``.txt``, ``.csv``, ``.jsonl`` or ``.parquet`` file (see ``iter_reports``)."""
    return list(iter_reports(path, options))
