"""Splitting a run over job-array tasks (``--shard I/N``) and joining their outputs (``llmgraph merge``).

The split is by a hash of the report id, so it is the same on every machine and for every input
order, and each report lands in exactly one shard. Each shard's manifest records its shard and
settings, so ``merge`` can say when a shard is missing or was run with other settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.runs.runlog import is_run_file, manifest_path


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
    return int(hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()[:12], 16) % count == index


@dataclass
class MergeSummary:
    """What ``merge`` joined, and the run files (manifests, partial records) a glob brought along."""

    reports: int = 0
    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)


def _manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_shards(paths: list[Path], allow_missing: bool) -> None:
    """When the outputs' manifests name their shards: all N shards present (unless ``allow_missing``),
    once each, with the same settings."""
    manifests = {path: _manifest(path) for path in paths}
    shards = {path: manifest.get("shard") for path, manifest in manifests.items() if manifest and manifest.get("shard")}
    if not shards:
        return
    counts = {shard.split("/")[1] for shard in shards.values()}
    if len(counts) > 1:
        raise InputError(f"the outputs come from runs split into different numbers of shards ({', '.join(sorted(counts))})")
    count = int(counts.pop())
    seen: dict[int, Path] = {}
    for path, shard in shards.items():
        index = int(shard.split("/")[0])
        if index in seen:
            raise InputError(f"shard {index}/{count} is both {seen[index]} and {path}")
        seen[index] = path
    missing = [str(index) for index in range(count) if index not in seen]
    if missing and not allow_missing:
        raise InputError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing[:20])} of {count} "
                         f"{'are' if len(missing) > 1 else 'is'} missing (a task not finished yet?); pass --allow-missing to merge the others")
    settings = {path: manifests[path].get("run_settings") for path in shards}
    first = next(iter(settings))
    for path, value in settings.items():
        if value != settings[first]:
            raise InputError(f"{path} was run with other settings than {first}")


def _documents(paths: list[Path], seen: dict[str, Path], allow_missing: bool) -> Iterator[Document]:
    """The documents of every shard output, one file in memory at a time; the shard check comes
    last, before the merged file is put in place."""
    for path in paths:
        for doc in read_radgraph(path):
            if doc.id in seen:
                raise InputError(f"report {doc.id} is in both {seen[doc.id]} and {path}")
            seen[doc.id] = path
            yield doc
    _check_shards(paths, allow_missing)


def merge_shards(paths: list[Path], output: Path, allow_missing: bool = False) -> MergeSummary:
    """Join shard outputs into one RadGraph file; a report in two shards is an error.

    Run files beside the outputs (``.partial.jsonl``, ``.manifest.json`` ...), which a glob such as
    ``out/shard-*.json`` also matches, are skipped and listed in the summary.
    """
    summary = MergeSummary()
    for path in paths:
        (summary.skipped if is_run_file(path) else summary.files).append(path)
    if not summary.files:
        raise InputError("no shard outputs to merge (only run files: manifests, partial records)")
    seen: dict[str, Path] = {}
    write_radgraph(_documents(summary.files, seen, allow_missing), output)
    summary.reports = len(seen)
    return summary
