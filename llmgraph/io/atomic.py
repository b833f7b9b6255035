"""Files written whole or not at all: through a temporary file and a rename, with one-line errors."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from llmgraph.core.errors import InputError


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
