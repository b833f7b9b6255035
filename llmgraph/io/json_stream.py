"""The entries of a RadGraph ``.json`` collection or ``.jsonl`` file, parsed one at a time.

A ``.json`` collection is one JSON object, but it is read ``CHUNK_BYTES`` at a time and parsed
entry by entry (``{id: document, ...}``), so a file of any size is read in flat memory; syntax
errors, lines, columns and byte offsets are those ``json.loads`` of the whole file gives. Each
entry is found again by its byte offset.
"""

from __future__ import annotations

import codecs
import json
import re
from json.decoder import scanstring
from pathlib import Path
from typing import Any, BinaryIO, Iterator, NoReturn

from llmgraph.core.errors import InputError
from llmgraph.io.text_files import _lines_at, _not_utf8, _object_hook, _unreadable, open_input, parse_json, read_text

CHUNK_BYTES = 1 << 20  # how much of a .json file is read at a time
_DECODER = json.JSONDecoder(object_pairs_hook=_object_hook)
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # what json skips between tokens


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
