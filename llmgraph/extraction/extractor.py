"""The extraction pipeline, top to bottom:

load reports -> render prompt -> generate (backend, constrained) -> parse + ground ->
RadGraph documents, plus a manifest of the run (settings, versions, timings, tokens, drops).
"""

from __future__ import annotations

import itertools
import platform
import time
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from llmgraph import __version__
from llmgraph.core.defaults import DEFAULT_BATCH_SIZE
from llmgraph.core.document import Batch, Document, document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.rules import report_problem
from llmgraph.core.versions import package_versions
from llmgraph.extraction.backends import Backend, GenerationRequest, create_backend
from llmgraph.extraction.chunking import Chunk, chunk_counts, merge_chunks, split
from llmgraph.extraction.confidence import item_scores
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.exemplars import check_exemplar_pool, chunked_pool, read_pool, select_examples
from llmgraph.extraction.grammar import constraint_for, output_schema
from llmgraph.extraction.ground import ground, parse_output
from llmgraph.extraction.prompting import PromptTemplate

# Counts every run reports, zero or not (grounding adds how each kept entity was found).
COUNT_KEYS = ("reports", "reports_ok", "reports_failed", "prompt_tokens", "completion_tokens", "entities_generated",
              "entities_kept", "entities_dropped_ungrounded", "entities_dropped_duplicate", "relations_generated",
              "relations_kept", "relations_dropped", "retries_for_length", "exemplars_used",
              "reports_with_fewer_exemplars", "chunks", "chunk_words", "reports_chunked", "chunks_split_in_sentence",
              "chunks_skipped_empty")


@dataclass
class ExtractionRun:
    """The documents of a run, the reports that failed (id -> why), and the numbers for the manifest.
    It reads as the list of its documents too (``len``, indexing, iteration)."""

    documents: list[Document]
    errors: dict[str, str]
    counts: Counter
    seconds: dict[str, float]

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[Document]:
        return iter(self.documents)

    def __getitem__(self, index: int) -> Document:
        return self.documents[index]


def new_run() -> ExtractionRun:
    return ExtractionRun([], {}, Counter({key: 0 for key in COUNT_KEYS}), Counter())


class Extractor:
    """Runs the pipeline on batches of documents with one backend and one prompt."""

    def __init__(self, config: ExtractionConfig, examples: list[Document] = (), backend: Backend | None = None,
                 examples_source: str | Path | None = None):
        """``examples``: the exemplar pool (a gold file's documents, ``examples_source`` names the file)."""
        self.config = config
        self.prompt = PromptTemplate.load(config.prompt)
        self.chunk_words = config.chunk_budget()
        check_exemplar_pool(config.shots, examples := list(examples), examples_source)
        self.examples = chunked_pool(examples, self.chunk_words)
        self.schema = output_schema(config.label_names(), config.max_entities)
        started = time.perf_counter()
        self.backend = backend or create_backend(config.backend_name(), config.model, config.decoding,
                                                 **config.backend_options())
        self.load_seconds = time.perf_counter() - started
        self.batch_size = config.batch_size or getattr(self.backend, "preferred_batch_size", DEFAULT_BATCH_SIZE)

    def exemplars_for(self, doc: Document) -> list[Document]:
        """The exemplars of one report: ``shots`` of them, one fewer when the report is itself in the pool."""
        return select_examples(self.examples, doc, self.config.shots, self.config.exemplars)

    def request_for(self, doc: Document, max_tokens: int | None = None,
                    examples: list[Document] | None = None) -> GenerationRequest:
        """The prompt and constraint for one report (``examples``: its exemplars, if already chosen)."""
        examples = self.exemplars_for(doc) if examples is None else examples
        messages = self.prompt.render(doc, self.config.labels, examples)
        constraint = constraint_for(doc, self.config.grammar, self.config.label_names(), self.config.max_entities)
        return GenerationRequest(messages, constraint, max_tokens, key=doc.id)

    def run(self, docs: Iterable[Document]) -> ExtractionRun:
        """Extract every document; per-report failures are recorded, never raised."""
        run = new_run()
        for documents, errors in self.stream(docs, run):
            run.documents += documents
            run.errors.update(errors)
        return run

    def stream(self, docs: Iterable[Document], run: ExtractionRun) -> Iterator[Batch]:
        """Extract batch by batch, yielding each batch's documents and per-report errors; counts go to ``run``."""
        docs = iter(docs)
        while batch := list(itertools.islice(docs, self.batch_size)):
            documents, errors = self._run_batch(batch, run)
            run.counts["reports"] += len(batch)
            run.counts["reports_ok"] += len(documents)
            run.counts["reports_failed"] += len(errors)
            yield documents, errors

    def _run_batch(self, batch: list[Document], run: ExtractionRun) -> Batch:
        """One batch: every report split into chunks, all chunks generated together, each report merged back
        from its grounded chunks (a report fails when one of its chunks does)."""
        documents: list[Document] = []
        errors: dict[str, str] = {}
        pending: list[tuple[Document, list[Chunk]]] = []
        for doc in batch:
            problem = report_problem(doc, self.config.max_report_words)
            if problem:
                errors[doc.id] = problem
                continue
            chunks = split(doc, self.chunk_words)
            run.counts.update(chunk_counts(chunks))
            pending.append((doc, chunks))
        units = [chunk for _, chunks in pending for chunk in chunks if not chunk.empty]
        run.counts["chunks_skipped_empty"] += sum(len(chunks) for _, chunks in pending) - len(units)
        outcome = self._generate(units, run) if units else {}
        for doc, chunks in pending:
            pieces, failed = [], None
            for chunk in chunks:
                result = outcome.get(id(chunk), replace(chunk.doc, entities=[], relations=[]))
                if isinstance(result, str):
                    failed = result if chunk.total == 1 else \
                        f"chunk {chunk.index + 1} of {chunk.total} (tokens {chunk.start}-{chunk.start + len(chunk.doc.tokens) - 1}): {result}"
                    break
                pieces.append((chunk, result))
            if failed is not None:
                errors[doc.id] = failed
            else:
                documents.append(pieces[0][1] if len(chunks) == 1 else merge_chunks(doc, pieces))
        return documents, errors

    def _generate(self, units: list[Chunk], run: ExtractionRun) -> dict[int, Document | str]:
        """Generate, parse and ground every chunk: ``id(chunk)`` -> its grounded document, or why it failed."""
        started = time.perf_counter()
        chosen = [self.exemplars_for(chunk.doc) for chunk in units]
        run.counts["exemplars_used"] += sum(len(examples) for examples in chosen)
        run.counts["reports_with_fewer_exemplars"] += sum(len(examples) < self.config.shots for examples in chosen)
        requests = [self.request_for(chunk.doc, examples=examples) for chunk, examples in zip(units, chosen)]
        run.seconds["prompt_and_grammar"] += time.perf_counter() - started
        started = time.perf_counter()
        generations = self.backend.generate(requests)
        # One retry with twice the budget for answers cut off at max_tokens (where the backend can be asked again).
        retry = getattr(self.backend, "retries_for_length", True)
        cut = [i for i, g in enumerate(generations) if g.finish_reason == "length"] if retry else []
        if cut:
            budget = 2 * self.config.decoding.max_tokens
            retried = self.backend.generate([replace(requests[i], max_tokens=budget) for i in cut])
            for i, generation in zip(cut, retried):
                generations[i] = generation
            run.counts["retries_for_length"] += len(cut)
        run.seconds["generation"] += time.perf_counter() - started
        outcome: dict[int, Document | str] = {}
        for chunk, generation in zip(units, generations):
            run.counts["prompt_tokens"] += generation.prompt_tokens
            run.counts["completion_tokens"] += generation.completion_tokens
            if generation.finish_reason == "error":
                outcome[id(chunk)] = generation.error or "generation failed"
                continue
            if generation.finish_reason == "length":
                how = "after one retry with twice the budget" if retry else "no retry: raise max_tokens"
                outcome[id(chunk)] = f"answer cut off at max_tokens ({how}); it ended: {generation.text[-80:]!r}"
                continue
            try:
                output = parse_output(generation.text, self.schema)
            except InputError as error:
                outcome[id(chunk)] = error.problem
                continue
            scores = item_scores(generation.text, output, generation.tokens) if generation.tokens else None
            if self.config.decoding.logprobs and scores is None:  # asked for, but none came or they did not line up
                run.counts["answers_without_scores"] += 1
            grounded, stats = ground(chunk.doc, output, self.config.fuzzy, scores)
            run.counts.update(stats.counts)
            outcome[id(chunk)] = grounded
        return outcome

    def manifest(self, run: ExtractionRun, **extra: Any) -> dict[str, Any]:
        """What a reader needs to reproduce and judge the run."""
        config = self.config
        generated = run.counts["completion_tokens"]
        seconds = dict(run.seconds) | {"model_load": self.load_seconds}
        return {
            "llmgraph": __version__,
            "backend": self.backend.describe(),
            "prompt": {"file": str(self.prompt.path), "sha256": self.prompt.sha256, "shots": config.shots,
                       "exemplar_strategy": config.exemplars, "exemplar_pool": len(self.examples),
                       "exemplars_used": run.counts["exemplars_used"],
                       "reports_with_fewer_exemplars": run.counts["reports_with_fewer_exemplars"]},
            "label_set": config.labels.value,
            "grammar": config.grammar.value,
            "max_entities": config.max_entities,
            "decoding": asdict(config.decoding),
            "batch_size": self.batch_size,
            "chunk_words": self.chunk_words,
            "fuzzy_grounding": config.fuzzy,
            "versions": package_versions(),
            "machine": {"platform": platform.platform(), "processor": platform.machine()},
            "seconds": seconds,
            "reports_per_second": run.counts["reports"] / seconds["generation"] if seconds.get("generation") else None,
            "generated_tokens_per_second": generated / seconds["generation"] if seconds.get("generation") else None,
            "counts": dict(sorted(run.counts.items())),
            "errors": run.errors,
            **extra,
        }

    def close(self) -> None:
        self.backend.close()


def extract(reports: Iterable[str | Document], config: ExtractionConfig | None = None,
            examples: list[Document] | None = None, backend: Backend | None = None) -> ExtractionRun:
    """Python API: RadGraph documents for raw report strings (or documents, whose annotations are
    ignored; a string's id is its position).

    The defaults are the command line's: the embedded model, ``few-shot`` with 3 exemplars drawn
    from the sample gold set (``examples`` gives another pool; a report is never its own
    exemplar; with ``shots=0`` none is read), the per-report grammar. The result holds the
    documents of the reports that succeeded (and reads as their list) and ``errors``: report id ->
    why it failed.
    """
    docs = [r if isinstance(r, Document) else document_from_report(str(i), r) for i, r in enumerate(reports)]
    config = config or ExtractionConfig()
    source = None
    if examples is None and config.shots:
        source, examples = read_pool()
    extractor = Extractor(config, examples or [], backend, source)
    try:
        return extractor.run(docs)
    finally:
        if backend is None:
            extractor.close()
