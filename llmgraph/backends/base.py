"""The backend interface: a batch of prompts with constraints in, raw text and token usage out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from llmgraph.grammar import Constraint


@dataclass(frozen=True)
class Decoding:
    """Decoding settings shared by all backends."""

    temperature: float = 0.0
    max_tokens: int = 1024  # a full graph of a 60-word report is about 650 tokens
    seed: int = 0


@dataclass(frozen=True)
class GenerationRequest:
    """One prompt: chat messages and what constrains the answer."""

    messages: list[dict[str, str]]
    constraint: Constraint
    max_tokens: int | None = None  # overrides Decoding.max_tokens (e.g. a retry with a larger budget)


@dataclass
class Generation:
    """One answer. ``finish_reason`` is ``stop``, ``length`` or ``error`` (then ``error`` says why)."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    error: str | None = None


class Backend(Protocol):
    """What every backend offers."""

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


def context_overflow(tokenizer, request: GenerationRequest, max_tokens: int, max_model_len: int) -> Generation | None:
    """An error generation when prompt plus answer budget exceed the model's context, else None."""
    prompt = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=True,
                                           return_dict=False)
    needed = len(prompt) + (request.max_tokens or max_tokens)
    if needed <= max_model_len:
        return None
    return Generation("", len(prompt), finish_reason="error",
                      error=f"report too long for the model context ({needed} > {max_model_len} tokens)")
