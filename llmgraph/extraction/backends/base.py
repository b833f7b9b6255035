"""The backend interface: a batch of prompts with constraints in, raw text and token usage out."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from llmgraph.core.errors import InputError
from llmgraph.extraction.confidence import ESTIMATORS, TokenLogprobs
from llmgraph.extraction.grammar import Constraint

CONFIDENCE_ESTIMATORS = (*ESTIMATORS, "none")


@dataclass(frozen=True)
class Decoding:
    """Decoding settings shared by all backends."""

    temperature: float = 0.0
    max_tokens: int = 1024  # a full graph of a 60-word report is about 650 tokens
    seed: int = 0
    # Which token log-probabilities score the entities and relations (llmgraph.extraction.confidence):
    # allowed (renormalised over the tokens the grammar allowed), raw (the model's own, before the grammar) or none.
    confidence: str = "allowed"

    def __post_init__(self) -> None:
        """Refuse settings no engine can use, before any model loads."""
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise InputError(f"max_tokens must be a whole number of at least 1 (got {self.max_tokens!r})")
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)) \
                or not 0 <= self.temperature < float("inf"):
            raise InputError(f"temperature must be a number of at least 0 (got {self.temperature!r})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InputError(f"seed must be a whole number (got {self.seed!r})")
        if self.confidence not in CONFIDENCE_ESTIMATORS:
            raise InputError(f"confidence {self.confidence!r}: expected one of {', '.join(CONFIDENCE_ESTIMATORS)}")

    @property
    def logprobs(self) -> bool:
        """Whether the backend is asked for token log-probabilities."""
        return self.confidence != "none"


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: chat messages and what constrains the answer."""

    messages: list[dict[str, str]]
    constraint: Constraint
    max_tokens: int | None = None  # overrides Decoding.max_tokens (e.g. a retry with a larger budget)
    key: str | None = None  # what the request is of: the report's id, or ID#N for chunk N (batch files' custom_id)


@dataclass
class Generation:
    """One answer. ``finish_reason`` is ``stop``, ``length`` or ``error`` (then ``error`` says why)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    error: str | None = None
    tokens: TokenLogprobs | None = None  # the answer's tokens and log-probabilities, when the backend returned them




class Backend(Protocol):
    """What every backend offers. A backend may also set ``preferred_batch_size``: the reports per call that
    keep it busy (hundreds for vLLM on a GPU); without it ``llmgraph.core.defaults.DEFAULT_BATCH_SIZE``; and ``retries_for_length =
    False`` when it cannot be asked again (batch files): an answer cut off at ``max_tokens`` is then final."""

    name: str
    model: str

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        """Answers in request order; a failing request gives an ``error`` generation, not an exception."""
        ...

    def describe(self) -> dict[str, Any]:
        """Settings and versions for the run manifest."""
        ...

    def close(self) -> None:
        ...


def token_ends(tokenizer, token_ids: list[int], text: str) -> list[int]:
    """Where each token of an answer ends in its decoded ``text``: token by token when the pieces add
    up to the text (the usual case), else prefix by prefix (a character made of several byte tokens
    ends at its last one)."""
    pieces = tokenizer.batch_decode([[token] for token in token_ids], skip_special_tokens=True)
    if "".join(pieces) == text:
        return list(itertools.accumulate(map(len, pieces)))
    ends, previous = [], 0
    for count in range(1, len(token_ids) + 1):
        previous = max(previous, len(tokenizer.decode(token_ids[:count], skip_special_tokens=True)))
        ends.append(previous)
    return ends


def context_overflow(tokenizer, request: GenerationRequest, max_tokens: int, max_model_len: int) -> Generation | None:
    """An error generation when prompt plus answer budget exceed the model's context, else None."""
    prompt = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=True,
                                           return_dict=False)
    needed = len(prompt) + (request.max_tokens or max_tokens)
    if needed <= max_model_len:
        return None
    return Generation("", len(prompt), finish_reason="error",
                      error=f"report too long for the model context ({needed} > {max_model_len} tokens)")


def generate_fitting(requests: list[GenerationRequest], overflow: Callable[[GenerationRequest], Generation | None],
                     run: Callable[[list[GenerationRequest]], list[Generation]]) -> list[Generation]:
    """Every request's generation, in order: those ``overflow`` answers (a prompt too long for the
    context) are split off, the rest go to ``run`` in one call, and the two are put back together."""
    results = [overflow(request) for request in requests]
    fitting = [index for index, result in enumerate(results) if result is None]
    if fitting:
        for index, generation in zip(fitting, run([requests[index] for index in fitting])):
            results[index] = generation
    return results  # type: ignore[return-value]
