"""Documents written as a RadGraph ``.json`` collection or ``.jsonl`` file: streamed, validated as
they go, and the file appears whole or not at all."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from llmgraph.core.defaults import RADGRAPH_SUFFIXES
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.atomic import write_atomic
from llmgraph.io.radgraph import document_to_raw, to_collection
from llmgraph.io.validation import CollectionCheck, check_document


def _dumps(value: Any) -> str:
    """JSON text, UTF-8 where possible; ``\\u`` escapes when a string holds a lone surrogate."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


class _Checked:
    """Documents validated (each, and as one collection) as they are written, and counted."""

    def __init__(self, docs: Iterable[Document]):
        self.docs, self.count = docs, 0

    def __iter__(self) -> Iterator[Document]:
        check = CollectionCheck()
        for doc in self.docs:
            check_document(doc)
            check.add(doc)
            self.count += 1
            yield doc


def _jsonl_chunks(docs: Iterable[Document]) -> Iterator[str]:
    for doc in docs:
        raw = {"id": doc.id, **document_to_raw(doc)}
        if doc.annotator is not None:
            raw["annotator"] = doc.annotator
        yield _dumps(raw) + "\n"


def _collection_chunks(docs: Iterable[Document]) -> Iterator[str]:
    """A RadGraph JSON collection written entry by entry (the labelers of a report come together)."""
    written: set[str] = set()
    separator = "{"
    for doc_id, group in itertools.groupby(docs, key=lambda doc: doc.id):
        if doc_id in written:
            raise InputError("the labelers of this report are not next to each other", doc_id=doc_id)
        written.add(doc_id)
        yield f"{separator}{_dumps(doc_id)}: {_dumps(to_collection(group)[doc_id])}"
        separator = ", "
    yield "{}\n" if separator == "{" else "}\n"


def write_radgraph(docs: Iterable[Document], path: str | Path) -> int:
    """Write documents as RadGraph JSON (``.json``) or one document per line (``.jsonl``), streamed:
    every document is validated as it goes, and the file appears only when all are written.
    Returns the number of documents written. ``write_radgraph(iter_documents(...), out)`` converts
    a file of any size in flat memory."""
    suffix = Path(path).suffix.lower()
    if suffix not in RADGRAPH_SUFFIXES:
        raise InputError(f"unknown output type {suffix or '(none)'!r} (expected .json or .jsonl)", path)
    checked = _Checked(docs)
    write_atomic(path, (_jsonl_chunks if suffix == ".jsonl" else _collection_chunks)(checked))
    return checked.count
