"""The model a training starts from and the one it saves: the base model's tokenizer (it must have a chat
template), generation config and weights (LoRA-wrapped with peft), and the trained weights saved as a
model folder extraction loads as it is (LoRA merged unless kept, the base model's dtype, the prompt)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmgraph.core.errors import InputError
from llmgraph.extraction.models import DEFAULT_MODEL, resolve_model
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.training.llm.config import LLMTrainingConfig
from llmgraph.training.llm.examples import stop_token_ids

PROMPT_COPY = "prompt.j2"  # the training prompt, copied into the model folder: extraction's default prompt


@dataclass
class BaseModel:
    """The base model's folder, tokenizer, generation config (None when it has none) and the dtype its
    weights are stored in (None when its config.json does not say)."""

    path: Path
    tokenizer: Any
    generation_config: Any
    saved_dtype: Any

    @property
    def stop_ids(self) -> set[int]:
        return stop_token_ids(self.tokenizer, self.generation_config)

    @property
    def pad_id(self) -> int:
        tokenizer = self.tokenizer
        return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def load_base(config: LLMTrainingConfig) -> BaseModel:
    """``config.model``'s folder, tokenizer and generation config; a tokenizer without a chat template is an
    error (extraction sends chat messages)."""
    from transformers import AutoTokenizer, GenerationConfig

    path = resolve_model(config.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"model {config.model or path} has no chat template (a base model?): train-llm trains on, "
                         "and extraction sends, chat messages; give an instruction-tuned model, or add a chat_template "
                         "to its tokenizer_config.json")
    try:
        generation_config = GenerationConfig.from_pretrained(path)
    except (OSError, ValueError):
        generation_config = None
    return BaseModel(path, tokenizer, generation_config, _saved_dtype(path))


def load_model(base: BaseModel, config: LLMTrainingConfig, dtype: Any, device: str) -> Any:
    """The base model's weights on ``device``, ready to train: full training keeps float32 master weights
    (autocast computes in ``dtype``); LoRA freezes the base in ``dtype`` and trains float32 adapters."""
    import torch
    from transformers import AutoModelForCausalLM

    load_dtype = torch.float32 if config.method == "full" or device == "cpu" else dtype
    model = AutoModelForCausalLM.from_pretrained(base.path, dtype=load_dtype).to(device)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if config.method == "lora":
        if config.gradient_checkpointing:
            model.enable_input_require_grads()
        model = wrap_lora(model, config, config.model or DEFAULT_MODEL)
    return model


def wrap_lora(model: Any, config: LLMTrainingConfig, model_name: str) -> Any:
    """``model`` with LoRA adapters on ``config.target_modules``; modules peft cannot target are one line."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha or 2 * config.lora_rank,
                      lora_dropout=config.lora_dropout, target_modules=config.target_modules, task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except (ValueError, TypeError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise InputError(f"--method lora: peft cannot target the modules of model {model_name} "
                         f"(target_modules {config.target_modules!r}): {first}") from None


def save_model(model: Any, base: BaseModel, prompt: PromptTemplate, config: LLMTrainingConfig, folder: Path) -> None:
    """Write the trained ``model`` into ``folder`` with the tokenizer, the prompt (``PROMPT_COPY``) and the
    generation config: LoRA merged into the base weights unless ``config.merge`` is off, and merged or full
    weights in the dtype the base model was saved in (bf16 for most LLMs), not float32."""
    merged = config.method == "lora" and config.merge
    if merged:
        model = model.merge_and_unload()
    if base.saved_dtype is not None and (config.method == "full" or merged):
        model = model.to(base.saved_dtype)
    model.save_pretrained(folder)
    base.tokenizer.save_pretrained(folder)
    prompt.copy_into(folder, PROMPT_COPY)  # with every template it includes: the folder is self-contained
    if base.generation_config is not None:
        base.generation_config.save_pretrained(folder)


def _saved_dtype(folder: Path) -> Any:
    """The dtype the base model's weights are stored in (its config.json), or None."""
    import torch

    try:
        saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = saved.get("dtype") or saved.get("torch_dtype")
    value = getattr(torch, name, None) if isinstance(name, str) else None
    return value if isinstance(value, torch.dtype) else None
