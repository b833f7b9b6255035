"""A helper process that reads a RadGraph file ahead of its reader (``RadGraphFile(read_ahead=True)``).

The helper is forked (the file object and its ``prepare`` function are never pickled) and sends
the entries it read through a pipe, in batches of ``READ_AHEAD_BATCH``, then "done" or its error.
"""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any, Iterator, Protocol

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError

READ_AHEAD_BATCH = 64  # entries a helper process sends at a time


class _EntrySource(Protocol):
    """What a helper reads: a ``RadGraphFile`` (its path, and its reader of the file in this process)."""

    path: Path

    def _read(self) -> Iterator[tuple[int, list[Any]]]: ...


def _can_read_ahead() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


def _entries_from_helper(file: _EntrySource) -> Iterator[tuple[int, list[Document]]]:
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


def _send_entries(file: _EntrySource, sender) -> None:
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
