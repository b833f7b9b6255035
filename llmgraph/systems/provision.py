"""Models a system asks to be trained first (a ``train:`` block in an experiment file): trained once into
the comparison's output folder, in a folder named by everything training reads, and reused after.

The trainers are imported when a model is trained, so a cached comparison never loads torch.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from llmgraph import __version__
from llmgraph.core.document import Document
from llmgraph.core.fingerprints import file_sha256, value_sha256
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.model_card import CARD
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.training.span.files import CARD as SPAN_CARD

SPAN_MODELS = "span-models"  # the folders, under the comparison's output folder, of the models trained for it
LLM_MODELS = "llm-models"
def training_data(train: dict[str, Any]) -> tuple[list[Document], list[Document] | None]:
    """Training and dev reports of a ``train:`` block; no ``dev:`` file means no dev set (None), never
    the training reports scored as dev."""
    if "synth" in train:
        from llmgraph.io.synth import synth_documents

        seed = train.get("seed", 0)
        n = train["synth"]
        return list(synth_documents(n, seed)), list(synth_documents(max(2, n // 5), seed + 1))
    train_docs = read_radgraph(train["train"], "1")
    return train_docs, read_radgraph(train["dev"], "1") if "dev" in train else None


def span_model_folder(train: dict[str, Any], out_dir: Path) -> Path:
    """Where a ``train:`` block's model goes: named by the block and the contents of its training and
    dev files, so an edited training file trains a new model rather than reusing the old one."""
    files = {key: file_sha256(train[key]) for key in ("train", "dev") if key in train}
    return out_dir / SPAN_MODELS / value_sha256({"llmgraph": __version__, "train": train,
                                              **({"files": files} if files else {})})[:16]


def trained_span_model(train: dict[str, Any], out_dir: Path, log: Callable[[str], None]) -> tuple[Path, float]:
    """The span model of a ``train:`` block, trained into ``out_dir/span-models`` unless it is there already
    (then 0 seconds)."""
    from llmgraph.training.span.train import train_span

    model_dir = span_model_folder(train, out_dir)
    if (model_dir / SPAN_CARD).exists():
        return model_dir, 0.0
    log(f"training a span model into {model_dir}")
    started = time.perf_counter()
    train_docs, dev_docs = training_data(train)
    options = {key: train[key] for key in ("epochs", "batch_size", "seed") if key in train}
    if "learning_rate" in train:
        options["lr"] = train["learning_rate"]
    train_span(train_docs, dev_docs, model_dir, encoder=train.get("encoder"), **options)
    return model_dir, time.perf_counter() - started


LLM_DATA_KEYS = ("train", "dev", "synth")  # the data of an LLM system's train: block; the rest are LLMTrainingConfig's


def trained_llm_model(config: ExtractionConfig, out_dir: Path, log: Callable[[str], None]) -> tuple[Path, float]:
    """The fine-tuned model of an LLM system's ``train:`` block, trained into ``out_dir/llm-models`` unless it
    is there already (then 0 seconds). Its folder is named by everything training reads: the block, the base
    model, the prompt file's contents, the label set and the training files' contents, so systems that differ
    only in how they decode (grammar, backend) share one trained model."""
    from llmgraph.training.llm.train import train_llm

    model_dir = llm_model_folder(config, out_dir)
    if (model_dir / CARD).exists():
        return model_dir, 0.0
    log(f"fine-tuning {config.model or 'the embedded model'} into {model_dir}")
    started = time.perf_counter()
    train = dict(config.train or {})
    train_docs, dev_docs = training_data(train)
    data = {key: train[key] for key in LLM_DATA_KEYS if key in train} | {
        f"{key}_sha256": file_sha256(train[key]) for key in ("train", "dev") if key in train}
    train_llm(train_docs, dev_docs, model_dir, llm_training_config(config), force=True, progress=True, data=data,
              log=log)
    return model_dir, time.perf_counter() - started


def llm_training_config(config: ExtractionConfig) -> Any:
    """The ``LLMTrainingConfig`` of an LLM system's ``train:`` block: its training keys, and the system's
    model (the base), prompt and labels."""
    from llmgraph.training.llm.config import LLMTrainingConfig

    options = {key: value for key, value in (config.train or {}).items() if key not in LLM_DATA_KEYS}
    return LLMTrainingConfig.from_settings(options | {"model": config.model, "prompt": config.prompt,
                                                      "labels": config.labels})


def llm_model_folder(config: ExtractionConfig, out_dir: Path) -> Path:
    """Where an LLM system's ``train:`` block's model goes: named by everything training reads (the block,
    checked first, the base model, the prompt file's contents, the label set, the training files' contents)."""
    llm_training_config(config)  # a bad training setting fails before anything is named or trained
    train = dict(config.train or {})
    files = {key: file_sha256(train[key]) for key in ("train", "dev") if key in train}
    key = {"llmgraph": __version__, "train": train, "base_model": config.model,
           "prompt_sha256": PromptTemplate.load(config.prompt).sha256, "labels": config.labels.value,
           **({"files": files} if files else {})}
    return out_dir / LLM_MODELS / value_sha256(key)[:16]


