"""Any OpenAI-compatible server, in particular ``vllm serve``.

Requests run concurrently (bounded), each retried with ``tenacity`` on connection errors,
timeouts, 429 and 5xx. JSON mode uses ``response_format`` ``json_schema``; the per-report
grammar uses vLLM's ``structured_outputs`` extra body (Lark for a server started with the
guidance backend, EBNF for xgrammar), so it needs a vLLM server; against a vLLM server
JSON mode also goes through that field, to turn off free whitespace.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from llmgraph.backends.base import Decoding, Generation, GenerationRequest
from llmgraph.errors import InputError
from llmgraph.grammar import GrammarMode

DEFAULT_URL = "http://127.0.0.1:8000/v1"


class OpenAIBackend:
    """Chat completions against ``base_url`` with bounded concurrency and retries."""

    name = "openai"

    def __init__(self, model: str | None, decoding: Decoding, base_url: str = DEFAULT_URL,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 16, timeout: float = 300.0,
                 attempts: int = 6, grammar_dialect: str = "lark"):
        import openai

        self._openai = openai
        self.base_url = base_url
        self.decoding = decoding
        self.concurrency = concurrency
        self.attempts = attempts
        self.grammar_dialect = grammar_dialect
        self.api_key_env = api_key_env
        self.timeout = timeout
        served = self._served_models()
        self.model = model or served[0].id
        self.vllm_server = any(getattr(entry, "owned_by", None) == "vllm" for entry in served)
        self.retried = 0

    def _served_models(self) -> list:
        """The models the server lists; a one-line error when the server is not up."""
        client = self._openai.OpenAI(base_url=self.base_url, api_key=os.environ.get(self.api_key_env) or "EMPTY",
                                     timeout=10.0, max_retries=0)
        try:
            models = client.models.list().data
        except self._openai.OpenAIError as error:
            raise InputError(f"server {self.base_url} is not reachable ({type(error).__name__})") from None
        if not models:
            raise InputError(f"server {self.base_url} serves no model")
        return models

    def _arguments(self, request: GenerationRequest) -> dict[str, Any]:
        constraint = request.constraint
        arguments: dict[str, Any] = {
            "model": self.model, "messages": request.messages, "temperature": self.decoding.temperature,
            "max_tokens": request.max_tokens or self.decoding.max_tokens, "seed": self.decoding.seed,
        }
        if constraint.mode is GrammarMode.JSON and self.vllm_server:
            # vLLM's own field also turns off free whitespace, which small models fill forever.
            arguments["extra_body"] = {"structured_outputs": {"json": constraint.schema, "disable_any_whitespace": True}}
        elif constraint.mode is GrammarMode.JSON:
            arguments["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "radgraph_extraction", "schema": constraint.schema, "strict": True}}
        elif constraint.mode is GrammarMode.REPORT:
            if not self.vllm_server:
                raise InputError(f"--grammar report needs a vLLM server; {self.base_url} is not one (use --grammar json)")
            arguments["extra_body"] = {"structured_outputs": {"grammar": constraint.grammar(self.grammar_dialect)}}
        return arguments

    async def _one(self, client, request: GenerationRequest, gate: asyncio.Semaphore) -> Generation:
        openai = self._openai
        transient = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError,
                     openai.RateLimitError)
        async with gate:
            try:
                async for attempt in AsyncRetrying(stop=stop_after_attempt(self.attempts), reraise=True,
                                                   wait=wait_exponential(multiplier=0.5, max=20),
                                                   retry=retry_if_exception_type(transient)):
                    with attempt:
                        if attempt.retry_state.attempt_number > 1:
                            self.retried += 1
                        response = await client.chat.completions.create(**self._arguments(request))
            except openai.OpenAIError as error:
                return Generation("", finish_reason="error", error=f"{type(error).__name__}: {str(error)[:200]}")
        choice = response.choices[0]
        usage = response.usage
        return Generation(choice.message.content or "", usage.prompt_tokens if usage else 0,
                          usage.completion_tokens if usage else 0, choice.finish_reason or "stop")

    async def _all(self, requests: list[GenerationRequest]) -> list[Generation]:
        """All requests on one event loop (a client per loop: its connections belong to it)."""
        gate = asyncio.Semaphore(self.concurrency)
        api_key = os.environ.get(self.api_key_env) or "EMPTY"
        async with self._openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=self.timeout,
                                            max_retries=0) as client:
            return list(await asyncio.gather(*(self._one(client, request, gate) for request in requests)))

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return asyncio.run(self._all(requests))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url,
                "vllm_server": self.vllm_server, "concurrency": self.concurrency, "grammar_dialect": self.grammar_dialect,
                "retried_requests": self.retried}

    def close(self) -> None:
        pass
