"""Read and write every RadGraph JSON flavour, validated.

Flavours (detected on reading):
- official RadGraph 1.0 / RadGraph-XL train and dev files and the ``radgraph`` package's output:
  ``{report_id: {"text", "entities", "data_source", "data_split"}}``;
- the RadGraph 1.0 test file: entities under ``labeler_1`` and ``labeler_2``;
- JSONL: one document per line, with its ``id`` (and ``annotator`` for doubly annotated sets).
"""

from __future__ import annotations

import codecs
import itertools
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

from llmgraph.document import Document, Entity, Relation
from llmgraph.errors import InputError
from llmgraph.validation import CollectionCheck, check_collection, check_document, check_schema

LABELERS = ("labeler_1", "labeler_2")
_KNOWN_KEYS = {"id", "text", "entities", *LABELERS, "annotator", "data_source", "data_split",
               "modality", "source_text", "token_offsets"}


class _JSONObject(dict):
    """A parsed JSON object that remembers keys it saw twice."""

    duplicates: tuple[str, ...] = ()


def _object_hook(pairs: list[tuple[str, Any]]) -> _JSONObject:
    obj = _JSONObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        obj.duplicates = tuple(key for key, _ in pairs if key in seen or seen.add(key))
    return obj


def open_input(path: Path) -> BinaryIO:
    """The file, opened for reading; one-line errors for a missing file, a folder or no permission."""
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputError("no such file", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path) from None
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror or error})", path) from None


def read_text(path: Path) -> str:
    """The file's text; one-line errors for a missing file or non-UTF-8 bytes."""
    with open_input(path) as file:
        data = file.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"not UTF-8 text (byte {data[error.start]:#04x} at offset {error.start})", path) from None


def read_lines(path: Path) -> Iterator[str]:
    """The file's lines (split at ``\\n`` only, line ends dropped), read as they are needed; the same
    one-line errors as ``read_text``, so a large input never has to fit in memory."""
    with open_input(path) as file:
        offset = 0
        for line in file:
            start = 3 if offset == 0 and line.startswith(codecs.BOM_UTF8) else 0
            try:
                yield line[start:].decode("utf-8").removesuffix("\n")
            except UnicodeDecodeError as error:
                position = offset + start + error.start
                raise InputError(f"not UTF-8 text (byte {line[start + error.start]:#04x} at offset {position})",
                                 path) from None
            offset += len(line)


def parse_json(text: str, path: Path | None = None, line: int | None = None) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object_hook)
    except json.JSONDecodeError as error:
        where = f"line {line}" if line else f"line {error.lineno} column {error.colno}"
        raise InputError(f"not valid JSON ({error.msg} at {where})", path) from None
    except (RecursionError, ValueError) as error:  # nesting too deep, or an integer too long for int()
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).split(":")[0]
        raise InputError(f"unreadable JSON ({reason}{f' at line {line}' if line else ''})", path) from None


def json_lines(text: str) -> list[str]:
    """The lines of a JSONL text: split at ``\\n`` only (U+2028, U+0085 ... may sit inside JSON strings)."""
    return text.split("\n")


def _check_duplicates(raw: dict[str, Any]) -> None:
    """Reject a document whose JSON repeats a key (a repeated entity id, say)."""
    blocks = [raw, *(raw[name] for name in LABELERS if isinstance(raw.get(name), dict))]
    for block in blocks:
        if getattr(block, "duplicates", ()):
            raise InputError(f"duplicate key {block.duplicates[0]!r}")
        entities = block.get("entities")
        if getattr(entities, "duplicates", ()):
            raise InputError(f"duplicate entity id {entities.duplicates[0]!r}")
        for entity_id, entity in entities.items() if isinstance(entities, dict) else ():
            if getattr(entity, "duplicates", ()):
                raise InputError(f"entity {entity_id}: duplicate key {entity.duplicates[0]!r}")


def _entities(raw: dict[str, Any]) -> tuple[list[Entity], list[Relation]]:
    """Entities and relations of a schema-checked block (JSON Schema integers may be written ``1.0``)."""
    entities, relations = [], []
    for entity_id, value in raw.items():
        start, end = int(value["start_ix"]), int(value["end_ix"])
        entities.append(Entity(entity_id, value["tokens"], value["label"], start, end))
        relations.extend(Relation(kind, entity_id, target) for kind, target in value["relations"])
    return entities, relations


def documents_from_raw(doc_id: str, raw: Any) -> list[Document]:
    """Documents from one raw document object: one per labeler in a test-file entry."""
    if not isinstance(raw, dict):
        raise InputError(f"expected a JSON object, found {type(raw).__name__}", doc_id=doc_id)
    try:
        _check_duplicates(raw)
        check_schema(raw)
    except InputError as error:
        raise error.at(doc_id=doc_id) from None
    common = dict(
        id=doc_id,
        text=raw["text"],
        data_source=raw.get("data_source"),
        data_split=raw.get("data_split"),
        modality=raw.get("modality"),
        source_text=raw.get("source_text"),
        token_offsets=([(int(start), int(end)) for start, end in raw["token_offsets"]]
                       if "token_offsets" in raw else None),
        meta={key: value for key, value in raw.items() if key not in _KNOWN_KEYS},
    )
    if "entities" in raw:
        blocks = {raw.get("annotator"): raw}
    else:
        blocks = {name: raw[name] for name in LABELERS if name in raw}
    docs = []
    for annotator, block in blocks.items():
        entities, relations = _entities(block["entities"])
        doc = Document(entities=entities, relations=relations, annotator=annotator, **common)
        check_document(doc)
        docs.append(doc)
    return docs


def choose_labeler(docs: list[Document], labeler: str | None) -> list[Document]:
    """Keep one labeler's documents (``"1"``/``"2"``), or all of them (``"both"``)."""
    if labeler == "both" or not any(doc.annotator for doc in docs):
        return docs
    if labeler is None:
        raise InputError("holds labeler_1 and labeler_2 annotations: choose one with --labeler 1|2 (or both)")
    if labeler not in ("1", "2"):
        raise InputError(f"unknown labeler {labeler!r} (expected 1, 2 or both)")
    name = f"labeler_{labeler}"
    chosen = [doc for doc in docs if doc.annotator == name]
    missing = {doc.id for doc in docs} - {doc.id for doc in chosen}
    if missing:
        raise InputError(f"has no {name} annotations", doc_id=sorted(missing)[0])
    return chosen


def _located(path: Path, make):
    try:
        return make()
    except InputError as error:
        raise error.at(path=path) from None


def read_radgraph(path: str | Path, labeler: str | None = None) -> list[Document]:
    """Read a RadGraph JSON or JSONL file; ``labeler`` is ``"1"``, ``"2"`` or ``"both"`` for test files."""
    path = Path(path)
    text = read_text(path)
    if path.suffix == ".jsonl":
        raws = []
        for number, line in enumerate(json_lines(text), 1):
            if line.strip():
                raw = _located(path, lambda: parse_json(line, path, number))
                if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                    raise InputError(f"line {number}: expected a JSON object with a string 'id'", path)
                raws.append((raw["id"], raw))
    else:
        collection = parse_json(text, path)
        if not isinstance(collection, dict):
            raise InputError(f"expected a JSON object mapping report ids to documents, found {type(collection).__name__}", path)
        if collection.duplicates:
            raise InputError("duplicate report id", path, collection.duplicates[0])
        raws = list(collection.items())
    docs = [doc for doc_id, raw in raws for doc in _located(path, lambda: documents_from_raw(doc_id, raw))]
    _located(path, lambda: check_collection(docs))
    return _located(path, lambda: choose_labeler(docs, labeler))


def document_to_raw(doc: Document) -> dict[str, Any]:
    """The RadGraph JSON object for one document (llmgraph extension keys only when set)."""
    entities = {
        entity.id: {
            "tokens": entity.tokens,
            "label": entity.label,
            "start_ix": entity.start_ix,
            "end_ix": entity.end_ix,
            "relations": [[relation.type, relation.target] for relation in doc.relations_from(entity.id)],
        }
        for entity in doc.entities
    }
    raw: dict[str, Any] = {"text": doc.text, "entities": entities,
                           "data_source": doc.data_source, "data_split": doc.data_split}
    if doc.modality is not None:
        raw["modality"] = doc.modality
    if doc.source_text is not None:
        raw["source_text"] = doc.source_text
    if doc.token_offsets is not None:
        raw["token_offsets"] = [list(pair) for pair in doc.token_offsets]
    return raw | doc.meta


def to_collection(docs: Iterable[Document]) -> dict[str, Any]:
    """A RadGraph JSON collection; doubly annotated documents become a test-file entry."""
    grouped: dict[str, list[Document]] = defaultdict(list)
    for doc in docs:
        grouped[doc.id].append(doc)
    collection = {}
    for doc_id, group in grouped.items():
        if len(group) == 1 and group[0].annotator is None:
            collection[doc_id] = document_to_raw(group[0])
            continue
        raw = document_to_raw(group[0])
        raw.pop("entities")
        for doc in group:
            if doc.annotator not in LABELERS:
                raise InputError(f"annotator {doc.annotator!r} cannot be written to a test file", doc_id=doc_id)
            raw[doc.annotator] = {"entities": document_to_raw(doc)["entities"]}
        collection[doc_id] = raw
    return collection


def write_atomic(path: str | Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (a string, or chunks streamed one by one) to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(temp, 0o644)  # mkstemp makes owner-only files; outputs are ordinary files
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines([text] if isinstance(text, str) else text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _dumps(value: Any) -> str:
    """JSON text, UTF-8 where possible; ``\\u`` escapes when a string holds a lone surrogate."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return text


def _checked(docs: Iterable[Document]) -> Iterator[Document]:
    check = CollectionCheck()
    for doc in docs:
        check_document(doc)
        check.add(doc)
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


def write_radgraph(docs: Iterable[Document], path: str | Path) -> None:
    """Write documents as RadGraph JSON (``.json``) or one document per line (``.jsonl``), streamed:
    every document is validated as it goes, and the file appears only when all are written."""
    chunks = _jsonl_chunks if Path(path).suffix == ".jsonl" else _collection_chunks
    write_atomic(path, chunks(_checked(docs)))
