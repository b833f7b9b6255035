"""Batch runs that never lose finished work: skip what the partial file holds, append each finished
batch, then assemble the output in input order, atomically.

``predict`` is any function from an iterable of documents to finished batches (documents and
per-report errors): ``Extractor.stream`` for LLMs, a span model's batched ``predict`` otherwise.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from tqdm import tqdm

from llmgraph.document import Document
from llmgraph.formats import write_radgraph
from llmgraph.runlog import PartialWriter, RunLock, check_settings, partial_path, read_partial

Batches = Callable[[Iterable[Document]], Iterator[tuple[list[Document], dict[str, str]]]]


@dataclass
class BatchSummary:
    """How a run went: reports taken from earlier runs, reports run now, and every failure."""

    total: int = 0
    reused: int = 0
    ran: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    repaired_bytes: int = 0


def run_batches(predict: Batches, docs: Callable[[], Iterable[Document]], output: Path, settings: dict[str, Any],
                retry_failed: bool = False, force: bool = False, restart: bool = False, quiet: bool = False,
                tokens: Callable[[], int] = lambda: 0) -> BatchSummary:
    """Run ``predict`` over the reports not yet finished in ``output``'s partial file, then write
    ``output`` with every finished report in input order.

    ``docs`` opens the input anew at each call: a first pass reads the ids (the input is checked
    whole before any model loads), a second streams the reports to run, so memory holds the ids,
    not the reports. ``settings`` (model, prompt, decoding ...) must match those of the partial
    run it resumes.
    """
    ids = [doc.id for doc in docs()]
    summary = BatchSummary(total=len(ids))
    with RunLock(output, force):
        check_settings(output, settings, restart)
        partial = read_partial(partial_path(output))
        summary.repaired_bytes = partial.repaired_bytes
        redo = set(partial.failed) if retry_failed else set()
        summary.reused = sum(doc_id in partial.offsets and doc_id not in redo for doc_id in ids)
        todo = (doc for doc in docs() if doc.id not in partial.offsets or doc.id in redo)
        writer = PartialWriter(partial_path(output))
        bar = tqdm(total=len(ids) - summary.reused, unit="report", disable=True if quiet else None, file=sys.stderr,
                   dynamic_ncols=True)
        try:
            for documents, errors in predict(todo):
                writer.commit(documents, errors)
                summary.ran += len(documents) + len(errors)
                bar.update(len(documents) + len(errors))
                elapsed = bar.format_dict["elapsed"] or 1e-9
                bar.set_postfix(failed=len(errors), tokens_per_s=f"{tokens() / elapsed:.1f}", refresh=False)
        finally:
            bar.close()
            writer.close()
        partial = read_partial(partial_path(output))
        summary.errors = {doc_id: partial.failed[doc_id] for doc_id in ids if doc_id in partial.failed}
        write_radgraph(partial.documents(ids), output)
    return summary
