"""Splitting a run over job-array tasks (``--shard I/N``) and joining their outputs (``llmgraph merge``).

The split is by a hash of the report id, so it is the same on every machine and for every input
order, and each report lands in exactly one shard.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.formats import read_radgraph, write_radgraph


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` with 0 <= I < N (a SLURM array index runs 0..N-1)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: expected I/N, e.g. 0/8") from None
    if not 0 <= index < count:
        raise InputError(f"--shard {text!r}: I must be in 0..N-1")
    return index, count


def in_shard(doc_id: str, index: int, count: int) -> bool:
    return int(hashlib.sha256(doc_id.encode("utf-8")).hexdigest()[:12], 16) % count == index


def _documents(paths: list[Path], seen: dict[str, Path]) -> Iterator[Document]:
    for path in paths:  # one file in memory at a time
        for doc in read_radgraph(path):
            if doc.id in seen:
                raise InputError(f"report {doc.id} is in both {seen[doc.id]} and {path}")
            seen[doc.id] = path
            yield doc


def merge(paths: list[Path], output: Path) -> int:
    """Join shard outputs into one RadGraph file; a report in two shards is an error. Returns the count."""
    seen: dict[str, Path] = {}
    write_radgraph(_documents(paths, seen), output)
    return len(seen)
