"""The light in-process path: a transformers model with xgrammar's logits processor.

No vLLM needed. Batches are left-padded; each row gets its own compiled grammar (per-report
grammars work here too). xgrammar's processor has no first-call ``torch.compile`` stall.
"""

from __future__ import annotations

from typing import Any

from llmgraph.extraction.backends.base import (
    Decoding,
    Generation,
    GenerationRequest,
    context_overflow,
    generate_fitting,
    token_ends,
)
from llmgraph.extraction.confidence import TokenLogprobs
from llmgraph.extraction.grammar import GrammarDialect, GrammarMode
from llmgraph.extraction.models import DEFAULT_MODEL, context_length, resolve_weights


class LogprobRecorder:
    """Logits processors that record the log-probability of each chosen token: ``before`` the grammar's
    mask (the model's own, ``raw``) and ``after`` it (renormalised over the allowed tokens, ``allowed``).
    A step's chosen token is known at the next step (the last of ``input_ids``) or, for the last step,
    from the output; only one step's distribution is held at a time."""

    def __init__(self) -> None:
        self.steps: dict[str, list] = {"raw": [], "allowed": []}
        self.pending: dict[str, Any] = {}

    def record(self, estimator: str, input_ids, scores):  # noqa: ANN001 - torch tensors
        import torch

        if estimator in self.pending:
            self.steps[estimator].append(self.pending[estimator].gather(1, input_ids[:, -1:]).squeeze(1))
        self.pending[estimator] = torch.log_softmax(scores.float(), dim=-1)

    def processor(self, estimator: str):  # noqa: ANN201 - a transformers LogitsProcessor
        from transformers import LogitsProcessor

        recorder = self

        class Record(LogitsProcessor):
            def __call__(self, input_ids, scores):  # noqa: ANN001, ANN204
                recorder.record(estimator, input_ids, scores)
                return scores

        return Record()

    def finish(self, sequences, prompt_width: int, estimator: str):  # noqa: ANN001, ANN201 - torch tensors
        """(rows, generated steps) log-probabilities of the chosen tokens for ``estimator``."""
        import torch

        steps = self.steps[estimator]
        if estimator in self.pending and prompt_width + len(steps) < sequences.shape[1]:
            last = sequences[:, prompt_width + len(steps)].unsqueeze(1)
            steps = [*steps, self.pending[estimator].gather(1, last).squeeze(1)]
        return torch.stack(steps, dim=1) if steps else torch.zeros((sequences.shape[0], 0))


class TransformersBackend:
    """``AutoModelForCausalLM.generate`` with grammar-constrained decoding, in batches."""

    name = "transformers"

    def __init__(self, model: str | None, decoding: Decoding, batch_size: int = 8, dtype: str = "float32",
                 max_model_len: int | None = None, threads: int | None = None):
        import torch
        import xgrammar
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # llmgraph shows its own progress
        if threads:
            torch.set_num_threads(threads)
        weights = resolve_weights(model)
        self.model_path, self.adapter = weights.path, weights.adapter
        self.model = model or DEFAULT_MODEL
        self.decoding = decoding
        self.batch_size = batch_size
        self.max_model_len = max_model_len or context_length(self.model_path)  # None: the model's own, capped
        self.dtype = dtype
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=getattr(torch, dtype)).eval()
        if self.adapter is not None:  # a kept LoRA adapter: applied with peft, merged for plain-model speed
            from peft import PeftModel

            self.lm = PeftModel.from_pretrained(self.lm, self.adapter).merge_and_unload().eval()
        vocab_size = self.lm.get_output_embeddings().weight.shape[0]
        self.grammar_compiler = xgrammar.GrammarCompiler(
            xgrammar.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab_size))

    def _compiled(self, request: GenerationRequest):
        constraint = request.constraint
        if constraint.mode is GrammarMode.JSON:
            return self.grammar_compiler.compile_json_schema(constraint.schema, any_whitespace=False, separators=(",", ":"))
        if constraint.mode.per_report:
            return self.grammar_compiler.compile_grammar(constraint.grammar(GrammarDialect.EBNF))
        return None

    def _generate_batch(self, requests: list[GenerationRequest]) -> list[Generation]:
        import torch
        from xgrammar.contrib.hf import LogitsProcessor

        prompts = [self.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
                   for r in requests]
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        max_new = max(r.max_tokens or self.decoding.max_tokens for r in requests)
        grammars = [self._compiled(r) for r in requests]
        processors = [LogitsProcessor(grammars)] if all(g is not None for g in grammars) else []
        recorder = LogprobRecorder() if self.decoding.logprobs else None
        if recorder is not None:  # the model's own log-probabilities before the grammar, the allowed ones after it
            processors = [recorder.processor("raw"), *processors, recorder.processor("allowed")]
        sampling = ({"do_sample": True, "temperature": self.decoding.temperature}
                    if self.decoding.temperature > 0 else {"do_sample": False})
        torch.manual_seed(self.decoding.seed)
        with torch.inference_mode():
            output = self.lm.generate(**inputs, max_new_tokens=max_new, logits_processor=processors,
                                      pad_token_id=self.tokenizer.pad_token_id, top_p=None, top_k=None, **sampling)
        prompt_width = inputs["input_ids"].shape[1]
        chosen = recorder.finish(output, prompt_width, self.decoding.confidence) if recorder is not None else None
        generations = []
        for row, request in enumerate(requests):
            new = output[row, prompt_width:].tolist()
            stop = self.tokenizer.eos_token_id
            finished = stop in new
            tokens = new[:new.index(stop)] if finished else new
            limit = request.max_tokens or self.decoding.max_tokens
            text = self.tokenizer.decode(tokens[:limit], skip_special_tokens=True)
            scored = None
            if chosen is not None:
                kept = tokens[:limit]
                scored = TokenLogprobs(token_ends(self.tokenizer, kept, text), chosen[row, :len(kept)].tolist())
            generations.append(Generation(
                text, int(inputs["attention_mask"][row].sum()), len(tokens[:limit]),
                "stop" if finished and len(tokens) <= limit else "length", tokens=scored))
        return generations

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        def overflow(request: GenerationRequest) -> Generation | None:
            return context_overflow(self.tokenizer, request, self.decoding.max_tokens, self.max_model_len)

        results: list[Generation] = []
        for start in range(0, len(requests), self.batch_size):
            results += generate_fitting(requests[start:start + self.batch_size], overflow, self._generate_batch)
        return results

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "model_path": str(self.model_path),
                **({"lora_adapter": str(self.adapter)} if self.adapter else {}),
                "grammar_backend": "xgrammar", "batch_size": self.batch_size, "dtype": self.dtype,
                "max_model_len": self.max_model_len}

    def close(self) -> None:
        del self.lm
