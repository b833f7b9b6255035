"""Supervised fine-tuning of an LLM on gold graphs (``llmgraph train-llm``): full weights or LoRA (peft).

The loop, top to bottom: read the model -> training examples (``examples.py``: the extractor's own
prompt and exemplar rendering, loss on answer tokens only) -> length-bucketed batches, gradient
accumulation, AdamW with linear warm-up and decay, bf16 autocast where the hardware has it -> dev
loss per epoch, the best epoch kept -> the model folder (LoRA merged into the base weights unless
``merge`` is off) with ``llm_model.json`` -> dev entity/relation F1 of a real constrained extraction
with the saved folder. The folder is written under a hidden temporary name and renamed at the end, so
an interrupted run never leaves anything that looks like a model.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar

from llmgraph import __version__
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.rules import MAX_REPORT_WORDS
from llmgraph.core.settings import config_from_settings
from llmgraph.core.versions import package_versions
from llmgraph.extraction.model_card import CARD
from llmgraph.training.llm.examples import IGNORE, TrainingExample, build_examples, length_buckets, stop_token_ids
from llmgraph.io.formats import write_json
from llmgraph.core.labels import LabelSet, label_set_of
from llmgraph.extraction.models import DEFAULT_MODEL, resolve_model
from llmgraph.io.outputs import check_model_output, paths_in
from llmgraph.extraction.prompting import PromptTemplate

METHODS = ("full", "lora")
DTYPES = ("auto", "bfloat16", "float32")
DEFAULT_LEARNING_RATE = {"full": 3e-4, "lora": 2e-4}  # full: tuned on the 135M embedded model
PROMPT_COPY = "prompt.j2"  # the training prompt, copied into the model folder: extraction's default prompt
PAD_MULTIPLE = 32  # batch widths are rounded up to this: few distinct shapes (CPU kernels cache per shape)
LOGITS_BUDGET = 2 << 30  # bytes of logits (and their gradient) alive at once; beyond it the loss runs in chunks


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
    def from_settings(cls, settings: dict[str, Any]) -> "LLMTrainingConfig":
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


def _compute_dtype(setting: str, device: str) -> Any:
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def _label_set(docs: list[Document], what: str) -> LabelSet | None:
    """The one label set of ``docs``' entities (None without entities); mixing both is an error."""
    found = {label_set_of(entity.label) for doc in docs for entity in doc.entities}
    if len(found) > 1:
        raise InputError(f"the {what} reports mix RadGraph 1.0 and RadGraph-XL labels")
    return next(iter(found), None)


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


def _batch_tensors(batch: list[TrainingExample], pad_id: int, device: str) -> dict[str, Any]:
    """Right-padded ids and labels, the width rounded up to ``PAD_MULTIPLE``."""
    import torch

    width = -(-max(len(e.input_ids) for e in batch) // PAD_MULTIPLE) * PAD_MULTIPLE
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels())
    return {"input_ids": ids.to(device), "labels": labels.to(device)}


def _answer_loss(model: Any, tensors: dict[str, Any], dtype: Any, device: str,
                 budget: int | None = None) -> tuple[Any, int]:
    """The summed cross-entropy of the answer tokens, and their number. Logits are computed from the
    first answer position on only: the prompt costs no vocabulary projection. When those logits would
    take more than ``budget`` bytes (``LOGITS_BUDGET``: an 8B model's 128k vocabulary at batch 8 x 4,096
    tokens is 40 GB of them), the projection and loss run in chunks that are recomputed in the backward
    pass, so at most one chunk of logits is alive."""
    import torch

    budget = LOGITS_BUDGET if budget is None else budget
    labels = tensors["labels"]
    answer = (labels != IGNORE).any(dim=0).nonzero()
    first = max(0, int(answer[0]) - 1) if len(answer) else 0
    targets = labels[:, first + 1:]
    count = int((targets != IGNORE).sum())
    head = model.get_output_embeddings()
    per_position = labels.shape[0] * head.weight.shape[0] * 10  # bf16 logits, their float copy, its gradient
    # Batches are right-padded, so under the causal mask no real token sees a pad: no attention mask is
    # needed, and attention keeps its fast causal kernel.
    with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
        if per_position * targets.shape[1] <= budget:
            keep = torch.arange(first, labels.shape[1] - 1, device=labels.device)
            logits = model(input_ids=tensors["input_ids"], logits_to_keep=keep).logits
            return _cross_entropy(logits, targets), count
        hidden = model.get_decoder()(input_ids=tensors["input_ids"]).last_hidden_state[:, first:-1]
        width = max(1, budget // per_position)

        def chunk(states: Any, chunk_targets: Any) -> Any:
            with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
                return _cross_entropy(head(states), chunk_targets)

        from torch.utils.checkpoint import checkpoint

        loss = sum(checkpoint(chunk, hidden[:, start:start + width], targets[:, start:start + width],
                              use_reentrant=False) for start in range(0, targets.shape[1], width))
    return loss, count


def _cross_entropy(logits: Any, targets: Any) -> Any:
    import torch

    return torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE,
                                             reduction="sum")


def _dev_loss(model: Any, examples: list[TrainingExample], config: LLMTrainingConfig, pad_id: int, dtype: Any,
              device: str) -> float:
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in length_buckets(examples, config.batch_size, list(range(len(examples)))):
            loss, n = _answer_loss(model, _batch_tensors(batch, pad_id, device), dtype, device)
            total, count = total + float(loss), count + n
    return total / max(1, count)


def _trainable_state(model: Any) -> dict[str, Any]:
    """A CPU copy of the weights that training changes (all of them, or the adapter's)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.named_parameters()
            if tensor.requires_grad}


def _wrap_lora(model: Any, config: LLMTrainingConfig, model_name: str) -> Any:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha or 2 * config.lora_rank,
                      lora_dropout=config.lora_dropout, target_modules=config.target_modules, task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except (ValueError, TypeError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        raise InputError(f"--method lora: peft cannot target the modules of model {model_name} "
                         f"(target_modules {config.target_modules!r}): {first}") from None


def training_inputs(config: "LLMTrainingConfig", data: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """The files a training reads besides its reports (the output folder must hold none of them): the
    training and dev files ``data`` names, the prompt, a local base model."""
    inputs: list[tuple[str, Any]] = [("training or dev file", path) for path in paths_in(data or {})]
    prompt = PromptTemplate.load(config.prompt).path
    inputs.append(("prompt", prompt))
    inputs += [("base model", path) for path in paths_in(config.model)]
    return inputs


def check_output_folder(out_dir: Path, force: bool, config: "LLMTrainingConfig | None" = None,
                        data: dict[str, Any] | None = None) -> None:
    """``out_dir`` holds no input of the training, and exists only with ``force`` as a model folder."""
    inputs = training_inputs(config, data) if config is not None else []
    check_model_output(out_dir, CARD, inputs, force=bool(force))


PROGRESS_LINES = 20  # progress lines per training when stderr is not a terminal (plus one per epoch)
PROGRESS_SECONDS = 300.0  # and at least one this often


class _ProgressLines:
    """Progress as log lines, for a training whose stderr is a file: step, epoch, loss, tokens/s, time left."""

    def __init__(self, steps: int, epochs: int, log: Callable[[str], None]):
        self.steps, self.epochs, self.log = steps, epochs, log
        self.every = max(1, steps // PROGRESS_LINES)
        self.done, self.started = 0, time.perf_counter()
        self.last = self.started

    def _left(self) -> str:
        elapsed = time.perf_counter() - self.started
        left = elapsed / self.done * (self.steps - self.done) if self.done else 0.0
        return time.strftime("%H:%M:%S", time.gmtime(left))

    def step(self, epoch: int, loss: float, tokens_per_second: float) -> None:
        self.done += 1
        now = time.perf_counter()
        if self.done % self.every and now - self.last < PROGRESS_SECONDS and self.done != self.steps:
            return
        self.last = now
        self.log(f"step {self.done}/{self.steps} (epoch {epoch}/{self.epochs}): loss {loss:.3f}, "
                 f"{tokens_per_second:.0f} tokens/s, {self._left()} left")

    def epoch(self, record: dict[str, Any], tokens_per_second: float) -> None:
        dev = f", dev loss {record['dev_loss']:.3f}" if "dev_loss" in record else ""
        self.log(f"epoch {record['epoch']}/{self.epochs} done in {record['seconds']:.0f} s: train loss "
                 f"{record['train_loss']:.3f}{dev}, {tokens_per_second:.0f} tokens/s, {self._left()} left")


def _terminated_as_exit(function: Callable[..., Any]) -> Callable[..., Any]:
    """While ``function`` runs, SIGTERM (``kill``, a batch scheduler's time limit) ends it as Ctrl-C does:
    through the clean-up that removes its unfinished folder. Only in the main thread, where Python runs
    signal handlers."""
    def terminate(number: int, frame: Any) -> None:
        raise SystemExit(128 + number)

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return function(*args, **kwargs)
        previous = signal.signal(signal.SIGTERM, terminate)
        try:
            return function(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    return run


def _publish(staging: Path, out_dir: Path) -> None:
    """Rename the finished folder into place, replacing an old one only now (``--force``)."""
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
        out_dir.rename(old / out_dir.name)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out_dir)


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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dev_scores(model_dir: Path, docs: list[Document], config: LLMTrainingConfig,
               backend: str | None = None) -> dict[str, Any]:
    """Entity/relation F1 of a constrained extraction of ``docs`` with the trained folder (the backend
    extraction uses by default: vLLM when installed), with how many reports parsed."""
    from llmgraph.extraction.config import ExtractionConfig
    from llmgraph.extraction.extractor import extract
    from llmgraph.evaluation.metrics import evaluate

    extraction = ExtractionConfig(backend=backend, model=str(model_dir), prompt=config.prompt, shots=0,
                                  labels=config.labels)
    run = extract(docs, extraction)
    result = evaluate(docs, list(run.documents), samples=0)
    return {"reports": len(docs), "reports_ok": len(run.documents), "entity_f1": result["entity_f1"],
            "relation_f1": result["relation_f1"], "backend": extraction.backend_name(),
            "completion_tokens": run.counts["completion_tokens"]}


@dataclass
class _Fit:
    """What the epochs gave: each epoch's record, the one kept, training tokens and seconds."""

    history: list[dict[str, Any]]
    best: dict[str, Any]
    tokens: int
    seconds: float


def _fit(model: Any, examples: list[TrainingExample], dev_examples: list[TrainingExample],
         config: LLMTrainingConfig, pad_id: int, dtype: Any, device: str, progress: bool,
         log: Callable[[str], None] = print) -> _Fit:
    """The epochs: length-bucketed batches in a seeded order, gradient accumulation, AdamW with warm-up and
    linear decay, the dev loss after each epoch; the weights of the epoch with the lowest dev loss (the last
    without dev examples) are left in ``model``. ``progress`` is a bar on a terminal, else (a log file under
    ``nohup`` or a batch scheduler) a line through ``log`` every ``PROGRESS_LINES``-th of the steps (at least
    every ``PROGRESS_SECONDS``) and after each epoch."""
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    passes = -(-len(examples) // config.batch_size)
    steps = config.epochs * -(-passes // config.gradient_accumulation)
    schedule = get_linear_schedule_with_warmup(optimizer, int(config.warmup * steps), steps)
    history: list[dict[str, Any]] = []
    best, best_state = None, None
    tokens, seconds = 0, 0.0
    lines = _ProgressLines(steps, config.epochs, log) if progress and not sys.stderr.isatty() else None
    with tqdm(total=steps, unit="step", disable=None if progress else True, dynamic_ncols=True) as bar:
        for epoch in range(1, config.epochs + 1):
            model.train()
            order = random.Random(config.seed + epoch).sample(range(len(examples)), len(examples))
            batches = length_buckets(examples, config.batch_size, order)
            random.Random(config.seed + epoch).shuffle(batches)
            epoch_loss, epoch_tokens, epoch_started = 0.0, 0, time.perf_counter()
            for first in range(0, len(batches), config.gradient_accumulation):
                group = batches[first:first + config.gradient_accumulation]
                answer_tokens = sum(e.answer_tokens for batch in group for e in batch)
                for batch in group:
                    loss, _ = _answer_loss(model, _batch_tensors(batch, pad_id, device), dtype, device)
                    (loss / answer_tokens).backward()  # the step's mean over its answer tokens
                    epoch_loss += loss.item()
                    tokens += sum(len(e.input_ids) for e in batch)
                epoch_tokens += answer_tokens
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                bar.update(1)
                rate = tokens / (seconds + time.perf_counter() - epoch_started)
                bar.set_postfix(epoch=epoch, loss=f"{epoch_loss / epoch_tokens:.3f}", tokens_per_s=f"{rate:.0f}")
                if lines:
                    lines.step(epoch, epoch_loss / epoch_tokens, rate)
            seconds += time.perf_counter() - epoch_started
            record = {"epoch": epoch, "train_loss": epoch_loss / max(1, epoch_tokens),
                      "seconds": time.perf_counter() - epoch_started}
            if dev_examples:
                record["dev_loss"] = _dev_loss(model, dev_examples, config, pad_id, dtype, device)
                bar.set_postfix(epoch=epoch, loss=f"{record['train_loss']:.3f}", dev_loss=f"{record['dev_loss']:.3f}",
                                tokens_per_s=f"{tokens / seconds:.0f}")
            history.append(record)
            if lines:
                lines.epoch(record, tokens / seconds if seconds else 0.0)
            if not dev_examples or best is None or record["dev_loss"] < best["dev_loss"]:
                best = record
                # A copy only when a later epoch might be worse: the last epoch's weights are in the model.
                best_state = _trainable_state(model) if dev_examples and epoch < config.epochs else None
    if best_state is not None:
        with torch.no_grad():
            for name, tensor in model.named_parameters():
                if name in best_state:
                    tensor.copy_(best_state[name].to(tensor.device))
    return _Fit(history, best, tokens, seconds)


@_terminated_as_exit
def train_llm(train_docs: list[Document], dev_docs: list[Document] | None, out_dir: str | Path,
              config: LLMTrainingConfig | None = None, force: bool = False, progress: bool = True,
              data: dict[str, Any] | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Fine-tune ``config.model`` on ``train_docs``; keep the epoch with the lowest dev loss (the last one
    without ``dev_docs``); write the model folder and its ``llm_model.json`` atomically into ``out_dir``.
    ``data`` is recorded as given (e.g. the training files and their SHA-256). Returns the record."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # its loading/saving bars; llmgraph shows its own progress

    config = config or LLMTrainingConfig()
    log = log or (lambda message: print(f"llmgraph: {message}", file=sys.stderr))
    out_dir = Path(out_dir)
    check_output_folder(out_dir, force, config, data)
    train_set = _label_set(train_docs, "training")
    if train_set is None:
        raise InputError("the training reports have no entities: nothing to learn")
    dev_set = _label_set(dev_docs or [], "dev")
    if dev_set is not None and dev_set is not train_set:
        raise InputError(f"the dev reports use {dev_set.value} labels and the training reports {train_set.value}: "
                         "give both in one label set")
    started = time.perf_counter()
    prompt = PromptTemplate.load(config.prompt)
    base_path = resolve_model(config.model)
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"model {config.model or base_path} has no chat template (a base model?): train-llm trains on, "
                         "and extraction sends, chat messages; give an instruction-tuned model, or add a chat_template "
                         "to its tokenizer_config.json")
    try:
        generation_config = GenerationConfig.from_pretrained(base_path)
    except (OSError, ValueError):
        generation_config = None
    stop_ids = stop_token_ids(tokenizer, generation_config)
    examples, counts, skipped = build_examples(tokenizer, prompt, train_docs, config.labels, config.max_length,
                                               MAX_REPORT_WORDS, stop_ids, config.chunk_budget())
    if not examples:
        why = {"skipped_too_long": f"longer than max_length {config.max_length} tokens",
               "skipped_no_entities": "without entities", "skipped_unreadable": "that cannot be read"}
        first_id, first_problem = next(iter(skipped.items()))
        raise InputError(f"no training example left of {len(train_docs)} reports "
                         f"({', '.join(f'{counts[key]} {text}' for key, text in why.items() if counts[key])}); "
                         f"report {first_id}: {first_problem}")
    dev_examples, dev_counts, _ = (build_examples(tokenizer, prompt, dev_docs, config.labels, config.max_length,
                                                  MAX_REPORT_WORDS, stop_ids, config.chunk_budget())
                                   if dev_docs else ([], None, {}))
    if counts["skipped_too_long"]:
        log(f"skipped {counts['skipped_too_long']} training examples longer than max_length {config.max_length} "
            "tokens (never truncated)")
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = _compute_dtype(config.dtype, device)
    # Full training keeps float32 master weights (bf16 autocast computes); LoRA freezes the base in the
    # compute dtype and trains float32 adapters.
    load_dtype = torch.float32 if config.method == "full" or device == "cpu" else dtype
    base_dtype = _saved_dtype(base_path)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype=load_dtype).to(device)
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if config.method == "lora":
        if config.gradient_checkpointing:
            model.enable_input_require_grads()
        model = _wrap_lora(model, config, config.model or DEFAULT_MODEL)
    trainable_parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.partial."))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the model folder is a normal one
    try:
        try:
            fit = _fit(model, examples, dev_examples, config, pad_id, dtype, device, progress, log)
        except torch.OutOfMemoryError:
            raise InputError(f"out of memory on {device} at --batch-size {config.batch_size}, --max-length "
                             f"{config.max_length}: try a smaller batch with --grad-accum, --gradient-checkpointing, "
                             "or --method lora") from None
        merged = config.method == "lora" and config.merge
        if merged:
            model = model.merge_and_unload()
        if base_dtype is not None and (config.method == "full" or merged):
            model = model.to(base_dtype)  # saved as the base model was (bf16 for most LLMs), not float32
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        prompt.copy_into(staging, PROMPT_COPY)  # with every template it includes: the folder is self-contained
        if generation_config is not None:
            generation_config.save_pretrained(staging)
        del model
        gc.collect()
        card = {
            "llmgraph": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "kind": "adapter" if config.method == "lora" and not config.merge else "model",
            "base_model": {"model": config.model or DEFAULT_MODEL, "path": str(base_path),
                           "sha256": _model_sha256(base_path)},
            "prompt": {"name": config.prompt, "file": str(prompt.path), "sha256": prompt.sha256, "copy": PROMPT_COPY},
            "label_set": config.labels.value,
            "settings": config.settings(),
            "data": {**(data or {}), "train_reports": len(train_docs), "dev_reports": len(dev_docs or []),
                     "train_examples_sha256": _digest(examples), "dev_examples_sha256": _digest(dev_examples),
                     "train": dict(counts), **({"dev": dict(dev_counts)} if dev_counts else {}), "skipped": skipped},
            "history": fit.history, "best": fit.best,
            "epoch_selection": "lowest dev loss" if dev_examples else "last epoch (no dev set)",
            "compute": {"device": device, "dtype": str(dtype).removeprefix("torch."),
                        "training_tokens": fit.tokens, "training_seconds": fit.seconds,
                        "training_tokens_per_second": fit.tokens / fit.seconds if fit.seconds else None,
                        "trainable_parameters": trainable_parameters, **_memory(device)},
            "versions": package_versions(("torch", "transformers", "peft", "accelerate")),
            "machine": {"platform": platform.platform(), "processor": platform.machine()},
        }
        write_json(staging / CARD, card)  # extraction reads it (the prompt; an adapter's base model)
        if dev_docs and config.dev_reports:
            log(f"extracting {min(config.dev_reports, len(dev_docs))} dev reports with the trained model")
            card["dev_extraction"] = dev_scores(staging, [d for d in dev_docs if d.tokens][:config.dev_reports], config)
        card["seconds"] = time.perf_counter() - started
        write_json(staging / CARD, card)
        _publish(staging, out_dir)
        stale = sorted(out_dir.parent.glob(f".{out_dir.name}.partial.*"))
        if stale:  # left by trainings into this folder that were killed (kill -9, a lost node)
            log(f"removing {len(stale)} unfinished folder(s) of earlier trainings into {out_dir}: "
                f"{', '.join(path.name for path in stale)}")
            for path in stale:
                shutil.rmtree(path, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return card

