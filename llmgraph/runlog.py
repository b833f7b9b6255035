"""The append-only record of a batch run, so that no finished report is ever lost.

``OUT.partial.jsonl`` gets one line per finished report: ``{"id": ID, "document": {...}}`` or
``{"id": ID, "error": REASON}``, flushed and fsynced per batch. Re-running the same command
reads it back, skips what is done, and repairs a last line cut short by a kill. ``OUT.lock``
holds the pid of the run that writes; a lock whose process is gone is taken over.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.formats import document_to_raw, documents_from_raw, write_atomic


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.jsonl")


def settings_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.settings.json")


def check_settings(output: Path, settings: dict[str, Any], restart: bool) -> None:
    """Resume only a run made with the same settings; ``restart`` throws an earlier partial run away."""
    partial, recorded = partial_path(output), settings_path(output)
    if restart:
        partial.unlink(missing_ok=True)
    elif partial.exists() and recorded.exists():
        before = json.loads(recorded.read_text())
        changed = sorted(key for key in before.keys() | settings.keys() if before.get(key) != settings.get(key))
        if changed:
            raise InputError(f"a partial run with other settings ({', '.join(changed)}) is in {partial}: "
                             "pass --restart to start over, or write to another output", output)
    write_atomic(recorded, json.dumps(settings, indent=2, sort_keys=True, default=str) + "\n")


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


class RunLock:
    """``OUT.lock`` for the lifetime of a run: refuses a second live writer unless forced."""

    def __init__(self, output: Path, force: bool = False):
        self.path = lock_path(output)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                holder = self._holder()
                same_host = holder.get("host") == socket.gethostname()
                if force or (same_host and not _alive(int(holder.get("pid", 0)))):
                    self.path.unlink(missing_ok=True)  # a stale lock from a killed run, or --force
                    continue
                raise InputError(f"another run (pid {holder.get('pid')} on {holder.get('host')}) is writing this "
                                 f"output (lock {self.path}); wait for it, or pass --force if it is gone",
                                 output) from None
        with os.fdopen(handle, "w") as file:
            json.dump({"pid": os.getpid(), "host": socket.gethostname()}, file)

    def _holder(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._holder().get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class PartialRecords:
    """What a partial file holds: for each report id, the byte offset of its latest line and its outcome."""

    path: Path
    offsets: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    repaired_bytes: int = 0

    @property
    def done(self) -> set[str]:
        return set(self.offsets)

    def documents(self, ids: Iterable[str]) -> Iterator[Document]:
        """The finished documents of ``ids``, in that order (failed and unknown ids are skipped)."""
        with self.path.open("rb") as file:
            for doc_id in ids:
                if doc_id in self.offsets and doc_id not in self.failed:
                    file.seek(self.offsets[doc_id])
                    yield documents_from_raw(doc_id, json.loads(file.readline())["document"])[0]


def read_partial(path: Path) -> PartialRecords:
    """Index a partial file; a truncated last line (a kill mid-write) is cut off the file."""
    records = PartialRecords(path)
    if not path.exists():
        return records
    good_end = 0
    with path.open("rb") as file:
        for line in iter(file.readline, b""):
            offset = good_end
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("cut short")
                record = json.loads(line)
                doc_id = record["id"]
            except (ValueError, KeyError, TypeError):
                break
            good_end += len(line)
            records.offsets[doc_id] = offset
            if "error" in record:
                records.failed[doc_id] = record["error"]
            else:
                records.failed.pop(doc_id, None)
    size = path.stat().st_size
    if good_end < size:
        records.repaired_bytes = size - good_end
        with path.open("r+b") as file:
            file.truncate(good_end)
    return records


class PartialWriter:
    """Appends finished reports; ``commit`` flushes and fsyncs one batch of lines."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("ab")

    def commit(self, documents: Iterable[Document], errors: dict[str, str]) -> None:
        lines = [{"id": doc.id, "document": document_to_raw(doc)} for doc in documents]
        lines += [{"id": doc_id, "error": reason} for doc_id, reason in errors.items()]
        if not lines:
            return
        self.file.write("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8"))
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()
