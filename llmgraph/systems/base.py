"""What every kind of system offers (``System``), what building one may need (``SystemContext``), and what
a kind of system is (``SystemKind``): its config, how a system is built from it, and every way kinds differ,
so the harness, the experiment loader and the command line never ask which kind they hold."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol

from llmgraph.core.document import Batch, Document
from llmgraph.core.settings import config_from_settings
from llmgraph.extraction.exemplars import read_pool
from llmgraph.systems.backend_pool import BackendPool


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
            self.examples_source, self.loaded_examples = read_pool(self.examples_source, self.examples_labeler)
        return self.loaded_examples


class SystemKind(ABC):
    """A kind of system, as ``type:`` (experiment files) and ``--type`` (``llmgraph extract``) name it. A new
    kind is a subclass in its own module and one line in ``llmgraph.systems.kinds.SYSTEM_KINDS``."""

    name: ClassVar[str]
    title: ClassVar[str]  # how messages name it ("LLM", "span")
    config: ClassVar[type]  # its settings, as plain data (the experiment-file keys are the fields)
    runnable: ClassVar[bool] = True  # ``llmgraph extract`` runs it (predictions files are made elsewhere)
    path_keys: ClassVar[tuple[str, ...]] = ()  # keys that are paths, relative to the experiment file
    local_path_keys: ClassVar[tuple[str, ...]] = ()  # keys that are such paths when the path exists (a model id else)
    takes_defaults: ClassVar[bool] = False  # an experiment's ``defaults:`` block applies to its systems

    def config_of(self, settings: dict[str, Any]) -> Any:
        """The typed config of experiment-file keys (``type`` aside); an unknown key is a one-line error."""
        return config_from_settings(self.config, settings)

    @abstractmethod
    def build(self, config: Any, context: SystemContext) -> System:
        """The system of ``config``, built but not loaded (a model loads on first use)."""

    def check(self, config: Any, context: SystemContext) -> None:
        """Refuse, before any system runs or any model loads, what cannot work (e.g. too few exemplars)."""

    def engine(self, config: Any) -> str | None:
        """The engine a system of ``config`` runs on, where the kind has several (an LLM's backend)."""
        return None

    def misplaced(self, config: Any) -> dict[str, str]:
        """Settings given that belong to another engine of this kind: setting -> the engine that takes it."""
        return {}

    def cache_parts(self, config: Any, examples: list[Document]) -> dict[str, Any]:
        """What decides this kind's output beyond its settings and the built system's own ``settings()``."""
        return {}
