"""Runs that never lose finished work: skip what the partial file holds, append each finished
batch, then assemble the output in input order, atomically.

``predict`` is any function from an iterable of documents to finished batches (documents and
per-report errors): ``Extractor.stream`` for LLMs, a span model's batched ``predict`` otherwise.
A report is reused from an earlier run only when its fingerprint (what the system reads of it)
is the one recorded with its result; a report that changed runs again.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from tqdm import tqdm

from llmgraph.core.document import Batch, Document, has_scores, keep_scored
from llmgraph.core.errors import InputError
from llmgraph.io.atomic import write_json
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.runs.runlog import (
    PartialRecords,
    PartialWriter,
    RunLock,
    check_settings,
    manifest_path,
    partial_path,
    read_partial,
)

Predict = Callable[[Iterable[Document]], Iterator[Batch]]  # a system's stream: reports in, finished batches out


@dataclass
class RunSummary:
    """How a run went: what the input held, what came from earlier runs, what ran now and was written."""

    total: int = 0  # reports in the input (of this shard)
    reused: int = 0  # finished in an earlier run, for the same report text
    ran: int = 0
    written: int = 0  # documents in the output
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)  # finished earlier, but the report changed since: run again
    repaired_bytes: int = 0
    unreadable_lines: list[int] = field(default_factory=list)  # lines of the partial file skipped (run again)
    input_sha256: str = ""  # of the ids and fingerprints of the input's reports, in order
    min_score: float | None = None  # entities and relations below it were left out of the output
    below_min_score: dict[str, int] = field(default_factory=lambda: {"entities": 0, "relations": 0})

    def manifest(self) -> dict[str, Any]:
        """The summary's part of the run manifest."""
        return {"reports_in_input": self.total, "reports_from_earlier_runs": self.reused, "reports_run": self.ran,
                "reports_written": self.written, "reports_changed_since_earlier_run": self.changed,
                "repaired_partial_bytes": self.repaired_bytes, "partial_unreadable_lines": self.unreadable_lines,
                "input_sha256": self.input_sha256, "min_score": self.min_score,
                "dropped_below_min_score": self.below_min_score if self.min_score is not None else None,
                "errors": self.errors}


def _scan_input(docs: Iterable[Document], partial: PartialRecords, summary: RunSummary,
                read: Callable[[Document], str]) -> list[str]:
    """The input's ids in order (the whole input is read, so a bad row fails before any model loads);
    records the input's hash and the reports that changed since the partial run."""
    ids, digest = [], hashlib.sha256()
    for doc in docs:
        fingerprint = read(doc)
        ids.append(doc.id)
        digest.update(f"{doc.id}\t{fingerprint}\n".encode("utf-8", "surrogatepass"))
        if doc.id in partial.offsets and partial.fingerprints.get(doc.id) != fingerprint:
            summary.changed.append(doc.id)
    summary.total, summary.input_sha256 = len(ids), digest.hexdigest()
    return ids


def _counted(docs: Iterable[Document], summary: RunSummary, output: Path) -> Iterator[Document]:
    """The documents written, counted; without what scores below ``summary.min_score`` when it is set
    (a run whose graphs carry no score at all is refused: there is nothing to threshold)."""
    scored = False
    for doc in docs:
        summary.written += 1
        if summary.min_score is not None:
            scored = scored or has_scores(doc)
            doc, entities, relations = keep_scored(doc, summary.min_score)
            summary.below_min_score["entities"] += entities
            summary.below_min_score["relations"] += relations
        yield doc
    if summary.min_score is not None and not scored and summary.written:
        raise InputError("--min-score: this system's graphs carry no scores (README, Confidence); the finished "
                         f"reports are kept in {partial_path(output)}", output)


def run_resumable(predict: Predict, docs: Callable[[], Iterable[Document]], output: Path, settings: dict[str, Any],
                retry_failed: bool = False, force: bool = False, restart: bool = False, quiet: bool = False,
                tokens: Callable[[], int] = lambda: 0,
                fingerprint: Callable[[Document], str] | None = None, min_score: float | None = None) -> RunSummary:
    """Run ``predict`` over the reports not yet finished in ``output``'s partial file, then write
    ``output`` with every finished report in input order.

    ``docs`` opens the input anew at each call: a first pass reads the ids (the input is checked
    whole before any model loads), a second streams the reports to run, so memory holds the ids,
    not the reports. ``settings`` (model, prompt, decoding ...) must match those of the partial
    run it resumes. ``fingerprint`` is what decides that a finished report is reused: by default what
    the system reads of the report (``Document.fingerprint``); a system with more per-report input
    (batch results: the report's answers) gives its own. ``min_score`` leaves out of ``output`` what
    scores below it (the partial file keeps everything: another threshold needs no re-run).
    """
    fingerprint = fingerprint or Document.fingerprint
    with RunLock(output, force):
        check_settings(output, settings, restart)
        partial = read_partial(partial_path(output))
        summary = RunSummary(repaired_bytes=partial.repaired_bytes, unreadable_lines=partial.unreadable_lines,
                             min_score=min_score)
        ids = _scan_input(docs(), partial, summary, fingerprint)
        redo = set(summary.changed) | (set(partial.failed) if retry_failed else set())
        summary.reused = sum(doc_id in partial.offsets and doc_id not in redo for doc_id in ids)
        in_flight: dict[str, str] = {}  # id -> fingerprint of the reports handed to predict, not yet written

        def todo() -> Iterator[Document]:
            for doc in docs():
                if doc.id not in partial.offsets or doc.id in redo:
                    in_flight[doc.id] = fingerprint(doc)
                    yield doc

        writer = PartialWriter(partial_path(output))
        bar = tqdm(total=len(ids) - summary.reused, unit="report", disable=True if quiet else None, file=sys.stderr,
                   dynamic_ncols=True)
        try:
            for documents, errors in predict(todo()):
                writer.commit(documents, errors, in_flight)
                for doc_id in [*(doc.id for doc in documents), *errors]:
                    in_flight.pop(doc_id, None)
                summary.ran += len(documents) + len(errors)
                bar.update(len(documents) + len(errors))
                elapsed = bar.format_dict["elapsed"] or 1e-9
                bar.set_postfix(failed=len(errors), tokens_per_s=f"{tokens() / elapsed:.1f}", refresh=False)
        finally:
            bar.close()
            writer.close()
        partial = read_partial(partial_path(output))
        summary.errors = {doc_id: partial.failed[doc_id] for doc_id in ids if doc_id in partial.failed}
        write_radgraph(_counted(partial.documents(ids), summary, output), output)
    return summary


def run_extraction(system: Any, reports: Callable[[], Iterable[Document]], output: Path, source: Path,
                   resume: dict[str, bool] | None = None, shard: str | None = None,
                   quiet: bool = False, fingerprint: Callable[[Document], str] | None = None,
                   min_score: float | None = None) -> tuple[RunSummary, dict[str, Any]]:
    """One system over one input into ``output`` and its manifest: what ``llmgraph extract`` runs.

    ``reports`` opens the input (see ``run_resumable``); ``resume`` holds ``retry_failed``, ``force``
    and ``restart``; ``fingerprint`` and ``min_score``: see ``run_resumable``. The system is closed at the end; the manifest is
    written even when some reports failed. Returns the run's summary and its manifest.
    """
    started = time.perf_counter()
    try:
        summary = run_resumable(system.stream, reports, output, system.settings(), quiet=quiet, tokens=system.tokens,
                              fingerprint=fingerprint, min_score=min_score, **(resume or {}))
        manifest = system.manifest()
    finally:
        system.close()
    manifest |= {"input": str(source), "output": str(output), "shard": shard, "run_settings": system.settings(),
                 "wall_seconds": time.perf_counter() - started, **summary.manifest()}
    write_json(manifest_path(output), manifest)
    return summary, manifest
