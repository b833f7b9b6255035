"""Read and write every RadGraph JSON flavour, validated, one entry at a time.

Flavours (detected on reading):
- official RadGraph 1.0 / RadGraph-XL train and dev files and the ``radgraph`` package's output:
  ``{report_id: {"text", "entities", "data_source", "data_split"}}``;
- the RadGraph 1.0 test file: entities under ``labeler_1`` and ``labeler_2``;
- JSONL: one document per line, with its ``id`` (and ``annotator`` for doubly annotated sets).

Files are streamed both ways: a RadGraph ``.json`` collection is one JSON object, but it is parsed
entry by entry (``{id: document, ...}``), so reading the 220,763 MIMIC-CXR graphs keeps only the
report ids in memory (for the duplicate check), never the documents. The collection-wide checks
(unique ids, one label set, the labeler choice of a test file) run as the entries come, and every
error is the one line the whole-file reader gave.
"""

from __future__ import annotations

import codecs
import errno
import itertools
import json
import multiprocessing
import os
import re
import tempfile
from collections import defaultdict
from json.decoder import scanstring
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, NoReturn

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.io.validation import CollectionCheck, check_document, check_schema

LABELERS = ("labeler_1", "labeler_2")
RADGRAPH_SUFFIXES = (".json", ".jsonl")
_KNOWN_KEYS = {"id", "text", "entities", *LABELERS, "annotator", "data_source", "data_split",
               "modality", "source_text", "token_offsets"}
CHUNK_BYTES = 1 << 20  # how much of a .json file is read at a time


class _JSONObject(dict):
    """A parsed JSON object that remembers keys it saw twice."""

    duplicates: tuple[str, ...] = ()


def _object_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        obj = _JSONObject(pairs)
        seen: set[str] = set()
        obj.duplicates = tuple(key for key, _ in pairs if key in seen or seen.add(key))
    return obj


_DECODER = json.JSONDecoder(object_pairs_hook=_object_hook)
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what json skips between tokens


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


def _not_utf8(error: UnicodeDecodeError, offset: int, path: Path) -> InputError:
    """The error for bytes that are not UTF-8; ``offset`` is where ``error.object`` starts in the file."""
    return InputError(f"not UTF-8 text (byte {error.object[error.start]:#04x} at offset {offset + error.start})", path)


def read_text(path: Path) -> str:
    """The file's text; one-line errors for a missing file or non-UTF-8 bytes."""
    with open_input(path) as file:
        data = file.read()
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(error, start, path) from None


def _lines_at(path: Path) -> Iterator[tuple[int, str]]:
    """(byte offset, text) of each line of the file (split at ``\\n`` only, line ends dropped)."""
    with open_input(path) as file:
        offset = 0
        for line in file:
            start = 3 if offset == 0 and line.startswith(codecs.BOM_UTF8) else 0
            try:
                yield offset, line[start:].decode("utf-8").removesuffix("\n")
            except UnicodeDecodeError as error:
                raise _not_utf8(error, offset + start, path) from None
            offset += len(line)


def read_lines(path: Path) -> Iterator[str]:
    """The file's lines (split at ``\\n`` only, line ends dropped), read as they are needed; the same
    one-line errors as ``read_text``, so a large input never has to fit in memory."""
    return (line for _, line in _lines_at(path))


def _unreadable(error: Exception, line: int | None = None) -> str:
    """What to say about JSON that ``json`` cannot hold: nested too deeply, or an integer too long for int()."""
    reason = "nested too deeply" if isinstance(error, RecursionError) else str(error).split(":")[0]
    return f"unreadable JSON ({reason}{f' at line {line}' if line else ''})"


def parse_json(text: str, path: Path | None = None, line: int | None = None) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object_hook)
    except json.JSONDecodeError as error:
        where = f"line {line}" if line else f"line {error.lineno} column {error.colno}"
        raise InputError(f"not valid JSON ({error.msg} at {where})", path) from None
    except (RecursionError, ValueError) as error:
        raise InputError(_unreadable(error, line), path) from None


# Reading a .json collection entry by entry ------------------------------------------------------

class _TextStream:
    """A UTF-8 file decoded piece by piece for the JSON reader: the text not parsed yet, and where
    it lies in the file (line and column as ``json`` counts them, byte offset), so that errors
    and offsets are those of the whole file."""

    def __init__(self, file: BinaryIO, path: Path, start: int = 0):
        self.file, self.path = file, path
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text, self.pos, self.eof = "", 0, False
        self.bytes_read = start  # file offset of the next byte to decode
        self.lines = self.column = 0  # line breaks in the text dropped so far, characters after the last one
        self.mark, self.mark_offset = 0, start  # a position in ``text`` and its byte offset in the file
        self.at_start = start == 0

    def more(self) -> bool:
        """Read more of the file (at least as much as is buffered, so a huge entry costs linear
        time), dropping the text already parsed; False at the end of the file."""
        if self.eof:
            return False
        data = self.file.read(max(CHUNK_BYTES, len(self.text) - self.pos))
        if self.at_start and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
            self.bytes_read += len(codecs.BOM_UTF8)
            self.mark_offset += len(codecs.BOM_UTF8)
        self.at_start = False
        try:
            piece = self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as error:  # error.object is the bytes held back from before, then data
            raise _not_utf8(error, self.bytes_read - (len(error.object) - len(data)), self.path) from None
        self.bytes_read += len(data)
        self.eof = not data
        self._drop_parsed()
        self.text += piece
        return True

    def _drop_parsed(self) -> None:
        self.offset()
        self.lines += self.text.count("\n", 0, self.pos)
        last = self.text.rfind("\n", 0, self.pos)
        self.column = self.pos - last - 1 if last >= 0 else self.column + self.pos
        self.text, self.pos, self.mark = self.text[self.pos:], 0, 0

    def offset(self) -> int:
        """The byte offset in the file of the parse position (counted forward from the last call)."""
        piece = self.text[self.mark:self.pos]
        self.mark_offset += len(piece) if piece.isascii() else len(piece.encode("utf-8"))
        self.mark = self.pos
        return self.mark_offset

    def skip_whitespace(self) -> None:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()
        while self.pos == len(self.text) and self.more():
            self.pos = _WHITESPACE.match(self.text, self.pos).end()

    def peek(self) -> str:
        """The character at the parse position ("" at the end of the file)."""
        while self.pos >= len(self.text) and self.more():
            pass
        return self.text[self.pos:self.pos + 1]

    def expect(self, char: str, message: str) -> None:
        if self.peek() != char:
            self.fail(message, self.pos)
        self.pos += 1

    def value(self, key: bool = False) -> Any:
        """The JSON value at the parse position (with ``key``, the object key string there)."""
        while True:
            try:
                value, end = (scanstring(self.text, self.pos + 1, True) if key
                              else _DECODER.raw_decode(self.text, self.pos))
            except json.JSONDecodeError as error:
                cut_short = error.msg.startswith("Unterminated string") or error.pos >= len(self.text) - 16
                if cut_short and self.more():  # the text may go on in the next piece
                    continue
                self.fail(error.msg, error.pos)
            except (RecursionError, ValueError) as error:
                raise InputError(_unreadable(error), self.path) from None
            if end == len(self.text) and self.more():  # a number or literal may go on
                continue
            self.pos = end
            return value

    def fail(self, message: str, pos: int) -> NoReturn:
        """A JSON syntax error at ``pos``, located as ``json.loads`` of the whole file locates it."""
        line = self.lines + self.text.count("\n", 0, pos) + 1
        last = self.text.rfind("\n", 0, pos)
        column = pos - last if last >= 0 else self.column + pos + 1
        raise InputError(f"not valid JSON ({message} at line {line} column {column})", self.path)


def _not_a_collection(path: Path) -> NoReturn:
    """The error for a ``.json`` file that does not start with ``{``: what reading it whole says
    (not valid JSON, or JSON of another type)."""
    value = parse_json(read_text(path), path)
    raise InputError(f"expected a JSON object mapping report ids to documents, found {type(value).__name__}", path)


def _json_entries(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(byte offset, report id, raw document) of every entry of a RadGraph JSON collection, in
    file order, parsed one at a time; syntax errors as ``json.loads`` of the whole file gives them.
    A repeated id is the caller's to find (``RadGraphFile`` keeps the ids)."""
    with open_input(path) as file:
        stream = _TextStream(file, path)
        stream.skip_whitespace()
        if stream.peek() != "{":
            _not_a_collection(path)
        stream.pos += 1
        stream.skip_whitespace()
        more = stream.peek() != "}"
        while more:
            yield (stream.offset(), *_key_and_value(stream))
            stream.skip_whitespace()
            more = stream.peek() != "}"
            if more:
                stream.expect(",", "Expecting ',' delimiter")
                stream.skip_whitespace()
        stream.pos += 1
        stream.skip_whitespace()
        if stream.peek():
            stream.fail("Extra data", stream.pos)


def _key_and_value(stream: _TextStream) -> tuple[str, Any]:
    """One ``"key": value`` member of a JSON object, from the parse position (at the key's quote)."""
    if stream.peek() != '"':
        stream.fail("Expecting property name enclosed in double quotes", stream.pos)
    key = stream.value(key=True)
    stream.skip_whitespace()
    stream.expect(":", "Expecting ':' delimiter")
    stream.skip_whitespace()
    return key, stream.value()


def _json_entry_at(path: Path, offset: int) -> tuple[str, Any]:
    """(report id, raw document) of the collection entry at byte ``offset`` (from ``_json_entries``)."""
    with open_input(path) as file:
        file.seek(offset)
        return _key_and_value(_TextStream(file, path, offset))


def _jsonl_entries(path: Path) -> Iterator[tuple[int, str, Any]]:
    """(byte offset, report id, raw document) of every non-blank line of a RadGraph JSONL file."""
    for number, (offset, line) in enumerate(_lines_at(path), 1):
        if line.strip():
            yield (offset, *_jsonl_entry(line, path, number))


def _jsonl_entry(line: str, path: Path, number: int) -> tuple[str, Any]:
    raw = parse_json(line, path, number)
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise InputError(f"line {number}: expected a JSON object with a string 'id'", path)
    return raw["id"], raw


def _jsonl_entry_at(path: Path, offset: int) -> tuple[str, Any]:
    with open_input(path) as file:
        file.seek(offset)
        data = file.readline()
    try:
        line = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(error, offset, path) from None
    return _jsonl_entry(line, path, 0)


# Documents ----------------------------------------------------------------------------------

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


_RELATIONS: dict[tuple[str, str, str], Relation] = {}  # relations are values: documents share them
_MAX_SHARED_RELATIONS = 1 << 16


def _relation(kind: str, source: str, target: str) -> Relation:
    """The relation ``source -kind-> target``; the same object for every document that has it
    (building one costs more than looking it up, and files repeat them: "1" modify "2" ...)."""
    key = (kind, source, target)
    relation = _RELATIONS.get(key)
    if relation is None:
        if len(_RELATIONS) >= _MAX_SHARED_RELATIONS:
            _RELATIONS.clear()
        relation = _RELATIONS[key] = Relation(kind, source, target)
    return relation


def _entities(raw: dict[str, Any]) -> tuple[list[Entity], list[Relation]]:
    """Entities and relations of a schema-checked block (JSON Schema integers may be written ``1.0``)."""
    entities, relations = [], []
    for entity_id, value in raw.items():
        start, end = value["start_ix"], value["end_ix"]
        if type(start) is not int or type(end) is not int:
            start, end = int(start), int(end)
        entities.append(Entity(entity_id, value["tokens"], value["label"], start, end))
        for kind, target in value["relations"]:
            relations.append(_relation(kind, entity_id, target))
    return entities, relations


def _offsets(raw: list[list[Any]]) -> list[tuple[int, int]]:
    """Schema-checked ``token_offsets`` as (start, end) integer pairs."""
    pairs = list(map(tuple, raw))
    if set(map(type, itertools.chain.from_iterable(pairs))) <= {int}:
        return pairs
    return [(int(start), int(end)) for start, end in pairs]


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
        token_offsets=_offsets(raw["token_offsets"]) if "token_offsets" in raw else None,
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


READ_AHEAD_BATCH = 64  # entries a helper process sends at a time


def _can_read_ahead() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


def _entries_from_helper(file: RadGraphFile) -> Iterator[tuple[int, list[Document]]]:
    """``file``'s entries, read by a helper process: batches come through a pipe (which holds a
    few batches at most, so the helper is never far ahead); its errors are raised here."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    helper = context.Process(target=_send_entries, args=(file, sender), daemon=True)
    helper.start()
    sender.close()
    try:
        while True:
            try:
                kind, payload = receiver.recv()
            except EOFError:
                raise InputError(f"the process reading the file stopped (exit code {helper.exitcode})",
                                 file.path) from None
            if kind == "entries":
                yield from payload
            elif kind == "error":
                raise InputError(*payload)
            else:
                return
    finally:
        receiver.close()
        helper.join(timeout=5)
        if helper.is_alive():
            helper.terminate()
            helper.join()


def _send_entries(file: RadGraphFile, sender) -> None:
    """In the helper process: read ``file`` and send its entries, then "done" or the error."""
    batch: list[tuple[int, list[Document]]] = []
    try:
        for entry in file._read():
            batch.append(entry)
            if len(batch) == READ_AHEAD_BATCH:
                sender.send(("entries", batch))
                batch = []
        sender.send(("entries", batch))
        sender.send(("done", None))
    except InputError as error:
        sender.send(("entries", batch))
        sender.send(("error", (error.problem, error.path, error.doc_id)))
    except (BrokenPipeError, KeyboardInterrupt):  # the reader went away: nothing to tell
        pass
    finally:
        sender.close()


def iter_radgraph(path: str | Path, labeler: str | None = None, read_ahead: bool = False) -> Iterator[Document]:
    """The documents of a RadGraph JSON or JSONL file, validated, read as they are needed;
    ``labeler`` is ``"1"``, ``"2"`` or ``"both"`` for test files; ``read_ahead``: see ``RadGraphFile``."""
    return iter(RadGraphFile(path, labeler, read_ahead))


def read_radgraph(path: str | Path, labeler: str | None = None) -> list[Document]:
    """Every document of a RadGraph JSON or JSONL file (see ``iter_radgraph``)."""
    return list(iter_radgraph(path, labeler))


# Writing ------------------------------------------------------------------------------------

def document_to_raw(doc: Document) -> dict[str, Any]:
    """The RadGraph JSON object for one document (llmgraph extension keys only when set)."""
    relations: dict[str, list[list[str]]] = defaultdict(list)
    for relation in doc.relations:
        relations[relation.source].append([relation.type, relation.target])
    entities = {
        entity.id: {
            "tokens": entity.tokens,
            "label": entity.label,
            "start_ix": entity.start_ix,
            "end_ix": entity.end_ix,
            "relations": relations.get(entity.id, []),
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
        raw["token_offsets"] = list(map(list, doc.token_offsets))
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
    """Write ``text`` (a string, or chunks streamed one by one) to ``path`` through a temporary file
    and a rename. The file appears whole or not at all: whatever fails (bad input in the chunks,
    a full disk, a read-only folder), no temporary file is left behind, and a file system error is
    one line: ``PATH: cannot write the file (No space left on device)``."""
    path = Path(path)
    temp: str | None = None
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file stands where a folder of the path should be
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(temp, 0o644)  # mkstemp makes owner-only files; outputs are ordinary files
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines([text] if isinstance(text, str) else text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as error:
        _remove(temp)
        reason = error.strerror or os.strerror(error.errno or errno.EIO)
        raise InputError(f"cannot write the file ({reason})", path) from None
    except BaseException:
        _remove(temp)
        raise


def write_json(path: str | Path, value: Any, sort_keys: bool = False) -> None:
    """``value`` as indented JSON (anything else as its ``str``), written atomically (``write_atomic``)."""
    write_atomic(path, json.dumps(value, indent=2, sort_keys=sort_keys, default=str) + "\n")


def _remove(temp: str | None) -> None:
    """Delete a temporary file if it is still there."""
    if temp is not None:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass


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
