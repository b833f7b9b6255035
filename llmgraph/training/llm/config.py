"""How ``train-llm`` trains: ``LLMTrainingConfig`` (the command's flags and an experiment's ``train:`` block),
its methods and dtypes, the default learning rates, and the compute dtype the hardware gets."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.settings import config_from_settings

METHODS = ("full", "lora")
DTYPES = ("auto", "bfloat16", "float32")
DEFAULT_LEARNING_RATE = {"full": 3e-4, "lora": 2e-4}  # full: tuned on the 135M embedded model


@dataclass
class LLMTrainingConfig:
    """How ``train-llm`` trains; the fields are the keys of an LLM system's ``train:`` block in an
    experiment file (besides the data keys ``train``, ``dev``, ``synth``) and the command's flags."""

    type: ClassVar[str] = "llm training"

    model: str | None = None  # the base model; None: the embedded default
    method: str = "full"  # full: every weight (small models); lora: low-rank adapters (peft)
    lora_rank: int = 16
    lora_alpha: int | None = None  # None: twice the rank
    lora_dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    epochs: int = 3
    learning_rate: float | None = None  # None: DEFAULT_LEARNING_RATE of the method
    batch_size: int = 4  # examples per forward pass
    gradient_accumulation: int = 1  # forward passes per optimizer step
    warmup: float = 0.1  # share of the steps with a linear warm-up, then linear decay to 0
    weight_decay: float = 0.0
    max_length: int = 2048  # longer examples are skipped and counted, never truncated
    # Reports longer than this many words train as the chunks extraction splits them into; None: extraction's
    # default (what a graph fits in the default max_tokens); 0: whole reports.
    chunk_words: int | None = None
    prompt: str = "finetuned"
    labels: LabelSet = LabelSet.RADGRAPH
    seed: int = 0
    dtype: str = "auto"  # auto: bf16 autocast on GPUs and CPUs with AVX-512 BF16 / AMX, else float32
    gradient_checkpointing: bool = False  # less memory for long examples and big models, ~30% slower
    merge: bool = True  # LoRA: merge into the base weights (a plain model folder); False: keep the adapter
    dev_reports: int = 32  # dev reports extracted at the end for entity/relation F1 (0: none)

    def __post_init__(self) -> None:
        self.labels = LabelSet(self.labels)
        if self.method not in METHODS:
            raise InputError(f"method {self.method!r}: expected {' or '.join(METHODS)}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        for name in ("lora_rank", "epochs", "batch_size", "gradient_accumulation", "max_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1 (got {value!r})")
        for name in ("dev_reports", "chunk_words"):
            value = getattr(self, name)
            if (value is not None or name == "dev_reports") and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise InputError(f"{name} must be a whole number of at least 0 (got {value!r})")
        checks = (("learning_rate", self.learning_rate, False), ("warmup", self.warmup, True),
                  ("weight_decay", self.weight_decay, True), ("lora_dropout", self.lora_dropout, True))
        for name, value, zero in checks:
            if value is None and name == "learning_rate":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    (0 <= value if zero else 0 < value) and value < float("inf")):
                raise InputError(f"{name} must be a number {'of at least' if zero else 'above'} 0 (got {value!r})")
        if not self.warmup < 1:
            raise InputError(f"warmup is a share of the steps, below 1 (got {self.warmup!r})")

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> LLMTrainingConfig:
        return config_from_settings(cls, settings)

    def chunk_budget(self) -> int:
        """Words per training chunk (0: whole reports): what extraction with default decoding uses."""
        from llmgraph.extraction.backends.base import Decoding
        from llmgraph.extraction.chunking import default_chunk_words

        return default_chunk_words(Decoding().max_tokens) if self.chunk_words is None else self.chunk_words

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_LEARNING_RATE[self.method]

    def settings(self) -> dict[str, Any]:
        return {item.name: (value.value if isinstance(value := getattr(self, item.name), LabelSet) else value)
                for item in fields(self)} | {"learning_rate": self.lr, "chunk_words": self.chunk_budget()}


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX): then bf16 autocast is ~2x float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def compute_dtype(setting: str, device: str) -> Any:
    """The dtype training computes in: ``setting``, or for auto bf16 (fp16 on GPUs without it) where the
    hardware computes it natively, else float32."""
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32

