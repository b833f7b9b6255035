"""The record of a fine-tuned model (``llm_model.json``): how it was trained, on what (digests of the base
model and of the examples), what each epoch gave, and on which machine, in how much memory."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmgraph import __version__
from llmgraph.core.versions import package_versions
from llmgraph.extraction.models import DEFAULT_MODEL
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.training.llm.config import LLMTrainingConfig
from llmgraph.training.llm.dataset import TrainingSet
from llmgraph.training.llm.examples import TrainingExample
from llmgraph.training.llm.fit import Fit
from llmgraph.training.llm.model import PROMPT_COPY


def model_record(config: LLMTrainingConfig, base_path: Path, prompt: PromptTemplate, data: dict[str, Any] | None,
                 reports: tuple[int, int], examples: TrainingSet, fit: Fit, device: str, dtype: Any) -> dict[str, Any]:
    """The model folder's record: ``data`` as given (e.g. the training files and their SHA-256), the number of
    training and dev ``reports``, and what training made of them."""
    return {
        "llmgraph": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kind": "adapter" if config.method == "lora" and not config.merge else "model",
        "base_model": {"model": config.model or DEFAULT_MODEL, "path": str(base_path),
                       "sha256": _model_sha256(base_path)},
        "prompt": {"name": config.prompt, "file": str(prompt.path), "sha256": prompt.sha256, "copy": PROMPT_COPY},
        "label_set": config.labels.value,
        "settings": config.settings(),
        "data": {**(data or {}), "train_reports": reports[0], "dev_reports": reports[1],
                 "train_examples_sha256": _digest(examples.train), "dev_examples_sha256": _digest(examples.dev),
                 "train": dict(examples.counts), **({"dev": dict(examples.dev_counts)} if examples.dev_counts else {}),
                 "skipped": examples.skipped},
        "history": fit.history, "best": fit.best,
        "epoch_selection": "lowest dev loss" if examples.dev else "last epoch (no dev set)",
        "compute": {"device": device, "dtype": str(dtype).removeprefix("torch."),
                    "training_tokens": fit.tokens, "training_seconds": fit.seconds,
                    "training_tokens_per_second": fit.tokens / fit.seconds if fit.seconds else None,
                    "trainable_parameters": fit.trainable_parameters, **_memory(device)},
        "versions": package_versions(("torch", "transformers", "peft", "accelerate")),
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
    }


def _digest(examples: list[TrainingExample]) -> str:
    data = json.dumps([[e.id, e.prompt_length, list(e.input_ids)] for e in examples], separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def _model_sha256(folder: Path) -> str:
    """SHA-256 over the base model's config and weight files (their names and contents' SHA-256)."""
    from llmgraph.core.fingerprints import file_sha256

    digest = hashlib.sha256()
    for file in sorted(folder.iterdir()):
        if file.is_file() and (file.suffix in (".safetensors", ".bin") or file.name == "config.json"):
            digest.update(f"{file.name}\t{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def _memory(device: str) -> dict[str, float]:
    """Peak memory of the training so far: the process's resident set, and on GPUs the device memory."""
    import torch

    peak: dict[str, float] = {}
    try:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
        peak["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30
    except ImportError:  # Windows
        pass
    if device == "cuda":
        peak["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return peak
