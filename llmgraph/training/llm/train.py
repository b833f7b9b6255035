"""Supervised fine-tuning of an LLM on gold graphs (``llmgraph train-llm``): full weights or LoRA (peft).

The loop, top to bottom: read the model (``model.py``) -> training examples (``examples.py``: the
extractor's own prompt and exemplar rendering, loss on answer tokens only; ``dataset.py``) ->
length-bucketed batches, gradient accumulation, AdamW with linear warm-up and decay, bf16 autocast where
the hardware has it (``fit.py``, ``loss.py``) -> dev loss per epoch, the best epoch kept -> the model
folder (LoRA merged into the base weights unless ``merge`` is off) with ``llm_model.json``
(``record.py``) -> dev entity/relation F1 of a real constrained extraction with the saved folder
(``dev.py``). The folder is written under a hidden temporary name and renamed at the end
(``llmgraph.training.publish``), so an interrupted run never leaves anything that looks like a model.
"""

from __future__ import annotations

import gc
import random
import time
from pathlib import Path
from typing import Any, Callable

from llmgraph.core.document import Document
from llmgraph.extraction.model_card import CARD
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.io.atomic import write_json
from llmgraph.training.llm.checks import check_label_sets, check_output_folder
from llmgraph.training.llm.config import LLMTrainingConfig, compute_dtype
from llmgraph.training.llm.dataset import training_set
from llmgraph.training.llm.dev import dev_scores
from llmgraph.training.llm.fit import fit
from llmgraph.training.llm.model import load_base, load_model, save_model
from llmgraph.training.llm.progress import terminated_as_exit
from llmgraph.training.llm.record import model_record
from llmgraph.training.publish import published_folder, stderr_log


@terminated_as_exit
def train_llm(train_docs: list[Document], dev_docs: list[Document] | None, out_dir: str | Path,
              config: LLMTrainingConfig | None = None, force: bool = False, progress: bool = True,
              data: dict[str, Any] | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``config.model`` on ``train_docs``; keep the epoch with the lowest dev loss (the last one
    without ``dev_docs``); write the model folder and its ``llm_model.json`` atomically into ``out_dir``.
    ``data`` is recorded as given (e.g. the training files and their SHA-256). Returns the record."""
    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its loading/saving bars; llmgraph shows its own progress

    config = config or LLMTrainingConfig()
    log = log or stderr_log
    out_dir = Path(out_dir)
    check_output_folder(out_dir, force, config, data)
    check_label_sets(train_docs, dev_docs)
    started = time.perf_counter()
    prompt = PromptTemplate.load(config.prompt)
    base = load_base(config)
    examples = training_set(base.tokenizer, prompt, train_docs, dev_docs, config, base.stop_ids, log)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = compute_dtype(config.dtype, device)
    model = load_model(base, config, dtype, device)
    with published_folder(out_dir, log) as staging:
        fitted = fit(model, examples.train, examples.dev, config, base.pad_id, dtype, device, progress, log)
        save_model(model, base, prompt, config, staging)
        del model  # the dev extraction below loads the saved folder: free this copy first
        gc.collect()
        reports = (len(train_docs), len(dev_docs or []))
        card = model_record(config, base.path, prompt, data, reports, examples, fitted, device, dtype)
        write_json(staging / CARD, card)  # extraction reads it (the prompt; an adapter's base model)
        if dev_docs and config.dev_reports:
            log(f"extracting {min(config.dev_reports, len(dev_docs))} dev reports with the trained model")
            card["dev_extraction"] = dev_scores(staging, [d for d in dev_docs if d.tokens][:config.dev_reports], config)
        card["seconds"] = time.perf_counter() - started
        write_json(staging / CARD, card)
    return card
