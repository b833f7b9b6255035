"""The LLM kind: a model with a prompt, exemplars, grammar mode and decoding settings
(``llmgraph.extraction.config.ExtractionConfig``), run by ``llmgraph.extraction.extractor.Extractor``."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Iterable, Iterator

from llmgraph.core.document import Batch, Document
from llmgraph.core.errors import InputError
from llmgraph.core.fingerprints import model_files_fingerprint, value_sha256
from llmgraph.extraction.backends import Backend
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.exemplars import check_exemplar_pool
from llmgraph.extraction.extractor import Extractor, new_run
from llmgraph.extraction.models import DEFAULT_MODEL
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.systems.backend_pool import BackendPool
from llmgraph.systems.base import SystemContext, SystemKind
from llmgraph.systems.provision import trained_llm_model


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


class LLMKind(SystemKind):
    name, title, config = "llm", "LLM", ExtractionConfig
    local_path_keys = ("model",)
    takes_defaults = True

    def build(self, config: ExtractionConfig, context: SystemContext) -> LLMSystem:
        """The ``LLMSystem`` of ``config``; with a ``train:`` block, of the model fine-tuned on it first
        (``llmgraph compare`` trains into its folder)."""
        seconds = None
        if config.train is not None:
            if context.work_dir is None:
                raise InputError("an LLM system with a train: block is fine-tuned by llmgraph compare; elsewhere "
                                 "train it with llmgraph train-llm and give its folder as the model")
            model_dir, seconds = trained_llm_model(config, context.work_dir, context.log)
            config = replace(config, model=str(model_dir), train=None)
        return LLMSystem(config, context.examples() if config.shots else [], context.pool, context.examples_source,
                         training_seconds=seconds or None)

    def check(self, config: ExtractionConfig, context: SystemContext) -> None:
        check_exemplar_pool(config.shots, context.examples() if config.shots else [], context.examples_source)

    def engine(self, config: ExtractionConfig) -> str:
        return config.backend_name()

    def misplaced(self, config: ExtractionConfig) -> dict[str, str]:
        return config.misplaced_options()

    def cache_parts(self, config: ExtractionConfig, examples: list[Document]) -> dict[str, Any]:
        parts: dict[str, Any] = {"prompt_sha256": PromptTemplate.load(config.prompt).sha256}
        if config.shots:
            parts["examples"] = value_sha256([[d.id, d.text, [vars(e) for e in d.entities],
                                               [vars(r) for r in d.relations]] for d in examples])
        return parts
