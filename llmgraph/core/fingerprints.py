"""Fingerprints that decide reuse by content, never by names: of a file, of a model folder's files, of any
JSON-able value (the cache keys of ``compare``, a resumed run's settings)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def value_sha256(value: Any) -> str:
    """The SHA-256 of a JSON-able value (keys sorted; what JSON cannot hold is written as text)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def files_under(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else every file below it, in a fixed order."""
    if path.is_file():
        return [path]
    return sorted(child for child in path.rglob("*") if child.is_file())


def contents_fingerprint(folder: str | Path, names: tuple[str, ...]) -> str | None:
    """A SHA-256 over the contents (and relative paths) of the files and folders ``names`` of ``folder``.
    Rewriting them in place changes it; copying the folder elsewhere does not. None when the folder holds
    none of them."""
    folder = Path(folder)
    files = [file for name in names if (folder / name).exists() for file in files_under(folder / name)]
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        line = f"{file.relative_to(folder).as_posix()}\t{file_sha256(file)}\n"
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def model_files_fingerprint(model: str | Path | None) -> str | None:
    """A cheap fingerprint of a local model (a folder, or a file such as a ``.gguf``): a hash of every
    file's relative path, size and modification time, without reading weights that can be many GB.
    A model retrained or replaced in place changes it. None when ``model`` is not a local path (the
    embedded default or a hub id, which their wheel and revision pin)."""
    if not model:
        return None
    path = Path(model).expanduser()
    if not path.exists():
        return None
    digest = hashlib.sha256()
    for file in files_under(path):
        stat = file.stat()
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
