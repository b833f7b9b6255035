"""RadGraph JSON and JSONL files read entry by entry, validated.

Reading the 220,763 MIMIC-CXR graphs keeps only the report ids in memory (for the duplicate
check), never the documents. The collection-wide checks (unique ids, one label set, the labeler
choice of a test file) run as the entries come, and every error is the one line the whole-file
reader gave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.json_stream import _json_entries, _json_entry_at, _jsonl_entries, _jsonl_entry_at
from llmgraph.io.radgraph import documents_from_raw
from llmgraph.io.read_ahead import _can_read_ahead, _entries_from_helper
from llmgraph.io.validation import CollectionCheck


def check_labeler_named(docs: list[Document], labeler: str | None, path: str | Path, option: str = "labeler") -> None:
    """Refuse a labeler named for a file without labeler_1/labeler_2 annotations (``option``: how the caller
    names the choice, such as ``--labeler``)."""
    if labeler is not None and docs and not any(doc.annotator for doc in docs):
        raise InputError(f"{option} {labeler} given, but the file has no labeler_1/labeler_2 annotations", path)


class LabelerChoice:
    """The documents a reader keeps, decided one document at a time: from a file with
    labeler_1/labeler_2 annotations one labeler's (``"1"``, ``"2"``) or both (``"both"``); from
    any other file all of them. A missing or unknown choice is reported at the end of the file,
    after every document and collection check, as when files were read whole."""

    def __init__(self, labeler: str | None):
        self.labeler = labeler
        self.annotated = False  # a labeler's document has been seen
        self.refused: InputError | None = None  # the file needs a labeler choice the caller did not make
        self.kept_plain: str | None = None  # the first document without an annotator kept before that

    @property
    def name(self) -> str:
        return f"labeler_{self.labeler}"

    def keep(self, doc: Document) -> bool:
        if self.labeler == "both":
            return True
        if doc.annotator and not self.annotated:
            self.annotated = True
            if self.labeler is None:
                self.refused = InputError(
                    "holds labeler_1 and labeler_2 annotations: choose one with --labeler 1|2 (or both)")
            elif self.labeler not in ("1", "2"):
                self.refused = InputError(f"unknown labeler {self.labeler!r} (expected 1, 2 or both)")
        if not self.annotated:
            self.kept_plain = doc.id if self.kept_plain is None else self.kept_plain
            return True
        return self.refused is None and doc.annotator == self.name

    def finish(self, check: CollectionCheck) -> None:
        """At the end of the file: every report of a test file has the chosen labeler's annotations."""
        if self.labeler == "both" or not self.annotated:
            return
        if self.refused is not None:
            raise self.refused
        missing = check.lacking(self.name)
        if missing:
            raise InputError(f"has no {self.name} annotations", doc_id=min(missing))
        if self.kept_plain is not None:  # a JSONL line without an annotator, read before the labeled ones
            raise InputError(f"has a document without an annotator as well as {self.name} annotations",
                             doc_id=self.kept_plain)


class RadGraphFile:
    """A RadGraph JSON or JSONL file read entry by entry. Each document is validated as it comes;
    the collection checks (unique ids, one label set, the labeler choice) hold over the whole file,
    and every error is one line naming the file (and the report).

    With ``read_ahead``, a helper process parses and validates the file while the caller works on
    the entries already read (on two cores, a reader that does work per document, such as
    ``evaluate_files`` or ``convert``, then waits far less for the file); without ``fork`` (or on
    one core) the file is read in this process.
    """

    def __init__(self, path: str | Path, labeler: str | None = None, read_ahead: bool = False,
                 prepare: Callable[[Document], Any] | None = None):
        self.path = Path(path)
        self.labeler = labeler
        self.jsonl = self.path.suffix.lower() == ".jsonl"
        self.read_ahead = read_ahead and _can_read_ahead()
        self.prepare = prepare  # what ``entries`` gives for each document (computed where the file is read)

    def entries(self) -> Iterator[tuple[int, list[Any]]]:
        """(byte offset, documents kept by the labeler choice) of every entry, in file order (each
        document passed through ``prepare``, if given)."""
        return _entries_from_helper(self) if self.read_ahead else self._read()

    def _read(self) -> Iterator[tuple[int, list[Any]]]:
        check, choice = CollectionCheck(), LabelerChoice(self.labeler)
        raws = _jsonl_entries(self.path) if self.jsonl else _json_entries(self.path)
        try:
            for offset, doc_id, raw in raws:
                if not self.jsonl and check.has(doc_id):  # one entry per report in a collection
                    raise InputError("duplicate report id", doc_id=doc_id)
                kept = []
                for doc in documents_from_raw(doc_id, raw):
                    check.add(doc)
                    if choice.keep(doc):
                        kept.append(doc if self.prepare is None else self.prepare(doc))
                yield offset, kept
            choice.finish(check)
        except InputError as error:
            raise error.at(path=self.path) from None

    def __iter__(self) -> Iterator[Any]:
        for _, docs in self.entries():
            yield from docs

    def documents_at(self, offset: int) -> list[Document]:
        """The documents of the entry at ``offset`` (an offset ``entries`` gave), read again and
        kept as a file whose reading raised no error keeps them."""
        try:
            doc_id, raw = (_jsonl_entry_at if self.jsonl else _json_entry_at)(self.path, offset)
            docs = documents_from_raw(doc_id, raw)
        except InputError as error:
            raise error.at(path=self.path) from None
        if self.labeler == "both":
            return docs
        return [doc for doc in docs if not doc.annotator or doc.annotator == f"labeler_{self.labeler}"]


def iter_radgraph(path: str | Path, labeler: str | None = None, read_ahead: bool = False) -> Iterator[Document]:
    """The documents of a RadGraph JSON or JSONL file, validated, read as they are needed;
    ``labeler`` is ``"1"``, ``"2"`` or ``"both"`` for test files; ``read_ahead``: see ``RadGraphFile``."""
    return iter(RadGraphFile(path, labeler, read_ahead))


def read_radgraph(path: str | Path, labeler: str | None = None) -> list[Document]:
    """Every document of a RadGraph JSON or JSONL file (see ``iter_radgraph``)."""
    return list(iter_radgraph(path, labeler))
