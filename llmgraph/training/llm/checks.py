"""What ``train-llm`` refuses before any model loads: an output folder that holds one of the training's
inputs or is not a model folder, training reports without entities, and reports in two label sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet, label_set_of
from llmgraph.extraction.model_card import CARD
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.io.outputs import check_model_output, paths_in
from llmgraph.training.llm.config import LLMTrainingConfig


def training_inputs(config: LLMTrainingConfig, data: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """The files a training reads besides its reports (the output folder must hold none of them): the
    training and dev files ``data`` names, the prompt, a local base model."""
    inputs: list[tuple[str, Any]] = [("training or dev file", path) for path in paths_in(data or {})]
    prompt = PromptTemplate.load(config.prompt).path
    inputs.append(("prompt", prompt))
    inputs += [("base model", path) for path in paths_in(config.model)]
    return inputs


def check_output_folder(out_dir: Path, force: bool, config: LLMTrainingConfig | None = None,
                        data: dict[str, Any] | None = None) -> None:
    """``out_dir`` holds no input of the training, and exists only with ``force`` as a model folder."""
    inputs = training_inputs(config, data) if config is not None else []
    check_model_output(out_dir, CARD, inputs, force=bool(force))


def check_label_sets(train_docs: list[Document], dev_docs: list[Document] | None) -> None:
    """The training reports have entities, and they and the dev reports use one label set."""
    train_set = _label_set(train_docs, "training")
    if train_set is None:
        raise InputError("the training reports have no entities: nothing to learn")
    dev_set = _label_set(dev_docs or [], "dev")
    if dev_set is not None and dev_set is not train_set:
        raise InputError(f"the dev reports use {dev_set.value} labels and the training reports {train_set.value}: "
                         "give both in one label set")


def _label_set(docs: list[Document], what: str) -> LabelSet | None:
    """The one label set of ``docs``' entities (None without entities); mixing both is an error."""
    found = {label_set_of(entity.label) for doc in docs for entity in doc.entities}
    if len(found) > 1:
        raise InputError(f"the {what} reports mix RadGraph 1.0 and RadGraph-XL labels")
    return next(iter(found), None)
