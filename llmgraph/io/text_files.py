"""Input files read as UTF-8 text, lines or JSON, with one-line errors (missing file, a folder,
no permission, bytes that are not UTF-8, text that is not JSON); repeated JSON keys are remembered."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from llmgraph.core.errors import InputError


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
