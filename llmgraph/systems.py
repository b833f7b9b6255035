"""Systems that turn reports into graphs: an LLM configuration, our span baseline, or a ``radgraph``
package model, behind one small interface used by ``llmgraph extract`` and ``llmgraph compare``.

A system streams finished batches (documents and per-report errors), says which settings decide
its output (to resume or reuse a run only with the same ones), and writes a manifest with its
cost (wall time, reports/s, tokens). LLM systems that share a backend, model and decoding share
one loaded engine (``BackendPool``), so a prompt sweep loads the model once.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol

from llmgraph.backends import Backend, Decoding, create_backend, default_backend
from llmgraph.document import Document
from llmgraph.extract import ExtractionConfig, Extractor, new_run, report_problem
from llmgraph.grammar import GrammarMode
from llmgraph.labels import LabelSet
from llmgraph.models import DEFAULT_MODEL
from llmgraph.prompting import PromptTemplate

Batch = tuple[list[Document], dict[str, str]]


class System(Protocol):
    """What ``extract`` and ``compare`` need from a system."""

    def settings(self) -> dict[str, Any]:
        """Everything that decides the predictions (a resumed run must match it)."""
        ...

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        """Finished batches: documents and per-report errors."""
        ...

    def tokens(self) -> int:
        """Tokens generated so far (0 for span models)."""
        ...

    def manifest(self) -> dict[str, Any]:
        """Settings, versions, timings and counts of what was streamed so far."""
        ...

    def close(self) -> None:
        ...


@dataclass
class SystemRun:
    """What one system predicted for a list of reports, and what it cost."""

    documents: list[Document]
    errors: dict[str, str]
    manifest: dict[str, Any]


def run_system(system: System, docs: list[Document]) -> SystemRun:
    """All of ``docs`` through ``system``, in memory (``llmgraph.batch`` is the resumable way)."""
    documents: list[Document] = []
    errors: dict[str, str] = {}
    started = time.perf_counter()
    for batch_documents, batch_errors in system.stream(docs):
        documents += batch_documents
        errors.update(batch_errors)
    return SystemRun(documents, errors, system.manifest() | {"wall_seconds": time.perf_counter() - started})


@dataclass
class BackendPool:
    """Loaded backends, keyed by what makes them differ; each is loaded once and closed at the end."""

    backends: dict[str, Backend] = field(default_factory=dict)

    def get(self, name: str, model: str | None, decoding: Decoding, options: dict[str, Any]) -> tuple[Backend, float]:
        """The backend, and the seconds its loading took if this call loaded it (else 0)."""
        key = repr((name, model, decoding, sorted(options.items())))
        if key in self.backends:
            return self.backends[key], 0.0
        started = time.perf_counter()
        self.backends[key] = create_backend(name, model, decoding, **options)
        return self.backends[key], time.perf_counter() - started

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()
        self.backends.clear()


def extraction_config(settings: dict[str, Any]) -> ExtractionConfig:
    """The extraction settings of an LLM system (experiment keys, as in ``schemas/experiment.schema.json``)."""
    backend = settings.get("backend") or default_backend()
    options = {"vllm": {"grammar_backend": settings.get("grammar_backend", "guidance")},
               "openai": {key: settings[source] for key, source in
                          (("base_url", "url"), ("api_key_env", "api_key_env"), ("concurrency", "concurrency"))
                          if source in settings}}.get(backend, {})
    fields = {key: settings[key] for key in ("prompt", "shots", "batch_size", "max_entities", "fuzzy") if key in settings}
    return ExtractionConfig(
        backend=backend, model=settings.get("model"), exemplar_strategy=settings.get("exemplars", "fixed"),
        label_set=LabelSet(settings.get("labels", "radgraph")), grammar=GrammarMode(settings.get("grammar", "report")),
        decoding=Decoding(**settings.get("decoding", {})), backend_options=options, **fields)


class LLMSystem:
    """An LLM with a prompt, exemplars, grammar mode and decoding settings; the model loads on first use."""

    def __init__(self, config: ExtractionConfig, examples: list[Document], pool: BackendPool | None = None):
        self.config = replace(config, backend=config.backend or default_backend())
        self.examples = examples if config.shots else []
        self.pool = pool or BackendPool()
        self.own_pool = pool is None
        self.prompt = PromptTemplate.load(config.prompt)
        self.extractor: Extractor | None = None
        self.load_seconds = 0.0
        self.run = new_run()

    def settings(self) -> dict[str, Any]:
        config = self.config
        return {"type": "llm", "backend": config.backend, "model": config.model or DEFAULT_MODEL,
                "prompt_sha256": self.prompt.sha256, "shots": config.shots, "exemplars": config.exemplar_strategy,
                "exemplar_pool": len(self.examples), "labels": config.label_set.value, "grammar": config.grammar.value,
                "decoding": asdict(config.decoding), "max_entities": config.max_entities, "fuzzy": config.fuzzy}

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        if self.extractor is None:
            backend, self.load_seconds = self.pool.get(self.config.backend, self.config.model, self.config.decoding,
                                                       self.config.backend_options)
            self.extractor = Extractor(self.config, self.examples, backend)
        return self.extractor.stream(docs, self.run)

    def tokens(self) -> int:
        return self.run.counts["completion_tokens"]

    def manifest(self) -> dict[str, Any]:
        if self.extractor is None:  # nothing was left to run
            return {"settings": self.settings(), "seconds": {}, "reports_per_second": None, "counts": dict(self.run.counts)}
        manifest = self.extractor.manifest(self.run)
        manifest["seconds"]["model_load"] = self.load_seconds
        return manifest

    def close(self) -> None:
        if self.own_pool:
            self.pool.close()


class PredictorSystem:
    """A fine-tuned model with a batched ``predict(docs) -> docs`` (our span baseline, the radgraph package);
    it loads on first use."""

    def __init__(self, load: Callable[[], Any], settings: dict[str, Any], batch_size: int = 32):
        self.load, self._settings, self.batch_size = load, settings, batch_size
        self.predictor: Any = None
        self.load_seconds, self.seconds, self.reports, self.failed = 0.0, 0.0, 0, 0

    def settings(self) -> dict[str, Any]:
        return self._settings

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        if self.predictor is None:
            started = time.perf_counter()
            self.predictor = self.load()
            self.load_seconds = time.perf_counter() - started
        docs = iter(docs)
        while batch := list(itertools.islice(docs, self.batch_size)):
            errors = {doc.id: problem for doc in batch if (problem := report_problem(doc))}
            runnable = [doc for doc in batch if doc.id not in errors]
            started = time.perf_counter()
            predicted = self.predictor.predict(runnable) if runnable else []
            self.seconds += time.perf_counter() - started
            self.reports += len(batch)
            self.failed += len(errors)
            yield predicted, errors

    def tokens(self) -> int:
        return 0

    def manifest(self) -> dict[str, Any]:
        return {"backend": self.predictor.describe() if self.predictor else None, "settings": self._settings,
                "seconds": {"model_load": self.load_seconds, "prediction": self.seconds},
                "reports_per_second": self.reports / self.seconds if self.seconds else None,
                "counts": {"reports": self.reports, "reports_ok": self.reports - self.failed, "reports_failed": self.failed,
                           "prompt_tokens": 0, "completion_tokens": 0}}

    def close(self) -> None:
        if self.predictor is not None:
            self.predictor.close()


def span_system(model_dir: str | Path, batch_size: int = 32) -> PredictorSystem:
    """Our span baseline from a folder written by ``llmgraph train-span``."""
    from llmgraph.span import SpanPredictor

    model_dir = Path(model_dir)
    card = model_dir / "span_model.json"  # written once per training: it names the weights
    fingerprint = hashlib.sha256(card.read_bytes()).hexdigest() if card.exists() else None
    return PredictorSystem(lambda: SpanPredictor.load(model_dir),
                           {"type": "span", "model": str(model_dir.resolve()), "span_model_sha256": fingerprint},
                           batch_size)


def radgraph_system(model: str = "radgraph-xl", cache_dir: str | None = None) -> PredictorSystem:
    """A model of the ``radgraph`` package (it predicts one report at a time)."""
    from llmgraph.radgraph_package import RadGraphPackageModel

    return PredictorSystem(lambda: RadGraphPackageModel(model, cache_dir), {"type": "radgraph", "model": model})
