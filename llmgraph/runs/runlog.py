"""The append-only record of a batch run, so that no finished report is ever lost.

``OUT.partial.jsonl`` gets one line per finished report: ``{"id": ID, "report": FINGERPRINT,
"document": {...}}`` or ``{"id": ID, "report": FINGERPRINT, "error": REASON}``, flushed and
fsynced per batch. The fingerprint (``Document.fingerprint``) is a hash of what a system reads
of the report, so a resumed run re-runs a report whose text changed instead of reusing a
stale graph. Re-running the same command reads the file back and skips what is done; a last
line cut short by a kill is cut off, and an unreadable line anywhere else is skipped and
reported (its report runs again), never the rest of the file.

``OUT.lock`` holds the pid and host of the run that writes; a lock whose process is gone is
taken over.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.atomic import write_json
from llmgraph.io.radgraph import document_to_raw, documents_from_raw


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.jsonl")


def settings_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.settings.json")


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def manifest_path(output: Path) -> Path:
    return output.with_name(output.name + ".manifest.json")


RUN_FILE_SUFFIXES = (".partial.jsonl", ".partial.settings.json", ".manifest.json", ".lock")


def is_run_file(path: Path) -> bool:
    """True for the files a run writes beside its output (partial record, settings, manifest, lock)."""
    return path.name.endswith(RUN_FILE_SUFFIXES)


def _recorded_settings(path: Path) -> dict[str, Any]:
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not valid JSON"
        raise InputError(f"the settings of the partial run cannot be read ({reason}): pass --restart to start "
                         "over", path) from None
    if not isinstance(recorded, dict):
        raise InputError("the settings of the partial run are not a JSON object: pass --restart to start over", path)
    return recorded


def check_settings(output: Path, settings: dict[str, Any], restart: bool) -> None:
    """Resume only a run made with the same settings; ``restart`` throws an earlier partial run away."""
    partial, recorded = partial_path(output), settings_path(output)
    if restart:
        partial.unlink(missing_ok=True)
    elif partial.exists() and partial.stat().st_size:
        if not recorded.exists():
            raise InputError(f"{partial} holds a partial run whose settings were not recorded ({recorded.name} is "
                             "missing): pass --restart to start over, or write to another output", output)
        before = _recorded_settings(recorded)
        now = json.loads(json.dumps(settings, default=str))  # as it would read back
        changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
        if changed:
            raise InputError(f"a partial run with other settings ({', '.join(changed)}) is in {partial}: "
                             "pass --restart to start over, or write to another output", output)
    if not settings_match(output, settings):  # an unchanged record is left as it is
        write_json(recorded, settings, sort_keys=True)


def settings_match(output: Path, settings: dict[str, Any]) -> bool:
    """Whether ``output``'s partial run was recorded with exactly ``settings`` (False when there is no
    readable record): the caller that owns the output can then restart a stale partial run itself."""
    recorded = settings_path(output)
    if not recorded.exists():
        return False
    try:
        return _recorded_settings(recorded) == json.loads(json.dumps(settings, default=str))
    except InputError:
        return False


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _os_error(error: OSError, path: Path, doing: str) -> InputError:
    return InputError(f"cannot {doing} ({error.strerror or error})", path)


class RunLock:
    """``OUT.lock`` for the lifetime of a run: refuses a second live writer unless forced.

    The lock file appears whole or not at all (written aside, then hard-linked into place), so a
    lock that cannot be read was not written by llmgraph.
    """

    def __init__(self, output: Path, force: bool = False):
        self.path = lock_path(output)
        mine = {"pid": os.getpid(), "host": socket.gethostname()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            while not self._create(mine):
                if not self.path.exists():
                    continue  # released meanwhile
                holder = self._holder()
                if force or (holder and holder["host"] == mine["host"] and not _alive(holder["pid"])):
                    self.path.unlink(missing_ok=True)  # a stale lock from a killed run, or --force
                    continue
                if holder is None:
                    raise InputError(f"the lock {self.path} was not written by llmgraph (it cannot be read): if no "
                                     "other run is writing this output, delete it or pass --force", output)
                raise InputError(f"another run (pid {holder['pid']} on {holder['host']}) is writing this output "
                                 f"(lock {self.path}); wait for it, or pass --force if it is gone", output)
        except OSError as error:
            raise _os_error(error, self.path, "create the run's lock file") from None

    def _create(self, content: dict[str, Any]) -> bool:
        """Put the lock in place with its content; False when a lock is there already."""
        handle, temp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(content, file)
            os.link(temp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(temp)

    def _holder(self) -> dict[str, Any] | None:
        """The pid and host in the lock, or None when it is not a lock llmgraph wrote."""
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        if not (isinstance(holder, dict) and isinstance(holder.get("pid"), int) and isinstance(holder.get("host"), str)):
            return None
        return holder

    def release(self) -> None:
        if (self._holder() or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class PartialRecords:
    """What a partial file holds: for each report id, the byte offset of its latest line, the
    fingerprint of the report it was made from, and its outcome."""

    path: Path
    offsets: dict[str, int] = field(default_factory=dict)
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    repaired_bytes: int = 0
    unreadable_lines: list[int] = field(default_factory=list)

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


def _record(line: bytes) -> dict[str, Any] | None:
    """A partial-file line as a record, or None when it is not one llmgraph wrote whole."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    if isinstance(record.get("error"), str) or isinstance(record.get("document"), dict):
        return record
    return None


def read_partial(path: Path) -> PartialRecords:
    """Index a partial file. A last line without its line end (a kill mid-write) is cut off the
    file; any other unreadable line is skipped and its number recorded: its report runs again."""
    records = PartialRecords(path)
    if not path.exists():
        return records
    position = 0
    torn_at = None
    with path.open("rb") as file:
        for number, line in enumerate(iter(file.readline, b""), 1):
            offset, position = position, position + len(line)
            record = _record(line) if line.endswith(b"\n") else None
            if record is None:
                if line.endswith(b"\n"):
                    records.unreadable_lines.append(number)
                else:
                    torn_at = offset  # only the last line can lack its line end
                continue
            doc_id = record["id"]
            records.offsets[doc_id] = offset
            records.fingerprints[doc_id] = record.get("report")
            if "error" in record:
                records.failed[doc_id] = record["error"]
            else:
                records.failed.pop(doc_id, None)
    if torn_at is not None:
        records.repaired_bytes = position - torn_at
        with path.open("r+b") as file:
            file.truncate(torn_at)
    return records


class PartialWriter:
    """Appends finished reports; ``commit`` flushes and fsyncs one batch of lines."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = path.open("ab")
        except OSError as error:
            raise _os_error(error, path, "open the partial file") from None

    def commit(self, documents: Iterable[Document], errors: dict[str, str], fingerprints: dict[str, str]) -> None:
        """Append one batch: ``fingerprints`` maps each report id to the fingerprint of its input report."""
        lines = [{"id": doc.id, "report": fingerprints.get(doc.id), "document": document_to_raw(doc)}
                 for doc in documents]
        lines += [{"id": doc_id, "report": fingerprints.get(doc_id), "error": reason}
                  for doc_id, reason in errors.items()]
        if not lines:
            return
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8", "surrogatepass")
        try:
            self.file.write(data)
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as error:
            raise _os_error(error, self.path, "append to the partial file") from None

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # the write that failed has said why
