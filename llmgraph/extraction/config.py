"""An LLM system's configuration, as plain data: everything that decides what the model is asked and
how it may answer. ``llmgraph extract`` builds it from its flags, ``llmgraph compare`` from an experiment
file, both with ``from_settings``; ``llmgraph.systems.llm`` builds the running system from it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS, XL_LABELS, LabelSet
from llmgraph.core.rules import MAX_REPORT_WORDS
from llmgraph.core.settings import config_from_settings, warn_once
from llmgraph.extraction.backends import Decoding, default_backend
from llmgraph.extraction.chunking import default_chunk_words
from llmgraph.extraction.exemplars import EXEMPLAR_STRATEGIES
from llmgraph.extraction.grammar import MAX_ENTITIES, GrammarMode
from llmgraph.extraction.model_card import read_card
from llmgraph.extraction.prompting import PromptTemplate


def _backend_field(*backends: str, argument: str | None = None) -> Any:
    """A config field that only ``backends`` take (passed as ``argument``, default: the field's name); None: unset."""
    return field(default=None, metadata={"backends": backends, "argument": argument})


@dataclass
class ExtractionConfig:
    """An LLM system: everything that decides what the model is asked and how it may answer.

    The field names are the keys of an LLM system in an experiment file, and the defaults are the
    command line's (``llmgraph extract`` builds this object from its flags, ``llmgraph compare``
    from the file, both with ``from_settings``); a test checks ``schemas/experiment.schema.json``
    against these fields. Fields with a ``backend`` in their metadata are options of that backend
    only (``backend_options``).
    """

    type: ClassVar[str] = "llm"

    backend: str | None = None  # a name in llmgraph.extraction.backends.BACKENDS; None: vLLM when installed, else transformers
    model: str | None = None  # None: the embedded default
    # prompt, shots, labels: None takes the model's defaults: a fine-tuned model's (``llm_model.json``: its
    # training prompt, no exemplars, its label set), else few-shot with 3 exemplars in RadGraph 1.0 labels.
    prompt: str | None = None
    shots: int | None = None
    exemplars: str = "fixed"  # fixed: a seeded draw per report; nearest: by word overlap
    labels: LabelSet | None = None
    grammar: GrammarMode = GrammarMode.REPORT_NEAR  # chosen by eval/grammar-ablation.yaml (README, Grammar modes)
    decoding: Decoding = field(default_factory=Decoding)
    batch_size: int | None = None  # reports per backend call; None: the backend's (512 for vLLM on a GPU, else 32)
    # Reports longer than this many words are extracted in chunks of whole sentences within a section; None:
    # 30, or what a correct graph fits in decoding.max_tokens if less (llmgraph.extraction.chunking.default_chunk_words);
    # 0: whole reports.
    chunk_words: int | None = None
    max_entities: int = MAX_ENTITIES  # bound of the static schema's entity list
    fuzzy: bool = False
    grammar_backend: str | None = _backend_field("vllm", "openai")  # vLLM's (or the vLLM servers'); None: guidance
    url: str | list[str] | None = _backend_field("openai", argument="base_url")  # None: http://127.0.0.1:8000/v1
    api_key_env: str | None = _backend_field("openai")
    concurrency: int | None = _backend_field("openai")  # None: 16
    # Fine-tune ``model`` first (``llmgraph compare``): the data keys train/dev/synth/seed and the fields
    # of ``llmgraph.training.llm.config.LLMTrainingConfig``; the system's prompt and labels are the training ones.
    train: dict[str, Any] | None = None
    max_report_words: int = field(default=MAX_REPORT_WORDS, metadata={"setting": False})  # not a file key

    def __post_init__(self) -> None:
        self._take_model_defaults()
        self.labels = LabelSet(self.labels)
        self.grammar = GrammarMode(self.grammar)
        if isinstance(self.decoding, dict):
            self.decoding = Decoding(**self.decoding)
        if self.exemplars not in EXEMPLAR_STRATEGIES:
            raise InputError(f"exemplars {self.exemplars!r}: expected one of {', '.join(EXEMPLAR_STRATEGIES)}")
        if self.chunk_words is not None and (isinstance(self.chunk_words, bool) or not isinstance(self.chunk_words, int)
                                             or self.chunk_words < 0):
            raise InputError(f"chunk_words must be a whole number of at least 0 (got {self.chunk_words!r})")

    def chunk_budget(self) -> int:
        """Words per chunk (0: whole reports)."""
        return default_chunk_words(self.decoding.max_tokens) if self.chunk_words is None else self.chunk_words

    def _take_model_defaults(self) -> None:
        """Fill prompt, shots and labels left unset: from a fine-tuned model's training record, from a
        ``train:`` block (what it will be trained on), or the prompted defaults. A prompt other than the
        one the model was trained on is allowed, with a warning (once per model and prompt)."""
        card = None if self.train is not None else read_card(self.model)
        if card is None:
            trained = self.train is not None
            self.prompt = self.prompt or ("finetuned" if trained else "few-shot")
            self.shots = (0 if trained else 3) if self.shots is None else self.shots
            self.labels = self.labels or LabelSet.RADGRAPH
            return
        own = str(Path(self.model).expanduser() / card["prompt"]["copy"])
        if self.prompt is not None and PromptTemplate.load(self.prompt).sha256 != card["prompt"]["sha256"]:
            warn_once(f"model {self.model} was trained on the prompt {card['prompt']['name']}, not on "
                      f"{self.prompt}: its graphs may suffer")
        self.prompt = self.prompt or own
        self.shots = 0 if self.shots is None else self.shots
        self.labels = self.labels or LabelSet(card["label_set"])

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "ExtractionConfig":
        """The config of an LLM system's experiment-file keys (``type`` aside); an unknown key is an error."""
        return config_from_settings(cls, settings)

    def label_names(self) -> tuple[str, ...]:
        return RADGRAPH_LABELS if self.labels is LabelSet.RADGRAPH else XL_LABELS

    def backend_name(self) -> str:
        return self.backend or default_backend()

    def backend_options(self) -> dict[str, Any]:
        """The arguments of the chosen backend that this config sets (its backend-only fields)."""
        backend = self.backend_name()
        return {item.metadata.get("argument") or item.name: getattr(self, item.name) for item in fields(self)
                if backend in item.metadata.get("backends", ()) and getattr(self, item.name) is not None}

    def misplaced_options(self) -> dict[str, str]:
        """Backend-only fields set although another backend is chosen: field name -> a backend that takes it."""
        backend = self.backend_name()
        return {item.name: item.metadata["backends"][0] for item in fields(self)
                if item.metadata.get("backends") and backend not in item.metadata["backends"]
                and getattr(self, item.name) is not None}
