"""Any OpenAI-compatible server, in particular ``vllm serve``; one or several of them.

Requests run concurrently, bounded per endpoint, each sent to the least busy endpoint that is
up. A request that fails on a connection error, timeout, 429 or 5xx is retried with ``tenacity``
(exponential wait, for up to ``retry_seconds``) on whichever endpoint is up then, so a run
survives a server that dies or restarts. JSON mode uses ``response_format`` ``json_schema``;
the per-report grammar uses vLLM's ``structured_outputs`` extra body (Lark for a server started
with the guidance backend, EBNF for xgrammar), so it needs vLLM servers; against vLLM, JSON
mode also goes through that field, to turn off free whitespace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

from llmgraph.core.defaults import DEFAULT_BATCH_SIZE
from llmgraph.core.errors import InputError
from llmgraph.extraction.backends.base import Decoding, Generation, GenerationRequest
from llmgraph.extraction.confidence import chat_token_logprobs
from llmgraph.extraction.grammar import DEFAULT_GRAMMAR_BACKEND, GRAMMAR_BACKENDS, GrammarMode, structured_outputs

DEFAULT_URL = "http://127.0.0.1:8000/v1"
COOL_DOWN = 5.0  # seconds an endpoint that just failed is passed over while others are up
log = logging.getLogger("llmgraph.openai")


@dataclass
class Endpoint:
    """One server: its URL, what it serves, and how it has been doing."""

    url: str
    models: list[str]
    vllm: bool
    roots: dict[str, str] = field(default_factory=dict)  # served name -> the folder it was loaded from (vLLM)
    failed_at: float = float("-inf")
    in_flight: int = 0
    requests: int = 0
    failures: int = 0


class OpenAIBackend:
    """Chat completions against one or more endpoints, with bounded concurrency, retries and failover."""

    name = "openai"

    def __init__(self, model: str | None, decoding: Decoding, base_url: str | list[str] = DEFAULT_URL,
                 api_key_env: str = "OPENAI_API_KEY", concurrency: int = 16, timeout: float = 300.0,
                 retry_seconds: float = 600.0, grammar_backend: str = DEFAULT_GRAMMAR_BACKEND):
        import openai

        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InputError(f"concurrency must be a whole number of at least 1 (got {concurrency!r})")
        if decoding.confidence == "raw":
            raise InputError("confidence raw needs --backend transformers or vllm: a server returns the log-probabilities "
                             "of the tokens it sampled, after the grammar's mask (use allowed, or none)")
        if not timeout > 0 or not retry_seconds >= 0:
            raise InputError(f"timeout must be above 0 and retry_seconds at least 0 (got {timeout!r}, {retry_seconds!r})")
        self._openai = openai
        self.decoding = decoding
        self.concurrency = concurrency
        self.retry_seconds = retry_seconds
        if grammar_backend not in GRAMMAR_BACKENDS:
            raise InputError(f"unknown grammar backend {grammar_backend!r} (expected {' or '.join(GRAMMAR_BACKENDS)})")
        self.grammar_backend = grammar_backend  # the servers' structured-output backend: it decides the dialect
        self.api_key_env = api_key_env
        self.timeout = timeout
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        probed = {url: self._probe(url) for url in urls}
        self.endpoints = [endpoint for endpoint in probed.values() if isinstance(endpoint, Endpoint)]
        # Enough reports per call to keep every server's request slots full between batches.
        self.preferred_batch_size = max(DEFAULT_BATCH_SIZE, 4 * concurrency * len(self.endpoints))
        if not self.endpoints:
            raise InputError(f"server {urls[0]} is not reachable ({probed[urls[0]]})" if len(urls) == 1 else
                             f"none of the {len(urls)} servers is reachable ({', '.join(urls)})")
        for url, problem in probed.items():
            if not isinstance(problem, Endpoint):
                log.warning("server %s is not reachable (%s); the other servers take its requests", url, problem)
        self.model = served_name(model, self.endpoints[0]) if model else self.endpoints[0].models[0]
        self.vllm_server = all(endpoint.vllm for endpoint in self.endpoints)
        self.retried = 0

    @property
    def base_url(self) -> str:
        return self.endpoints[0].url

    def _probe(self, url: str) -> Endpoint | str:
        """What the server at ``url`` serves, or why it could not be asked."""
        client = self._openai.OpenAI(base_url=url, api_key=os.environ.get(self.api_key_env) or "EMPTY",
                                     timeout=10.0, max_retries=0)
        try:
            served = client.models.list().data
        except self._openai.OpenAIError as error:
            return type(error).__name__
        if not served:
            raise InputError(f"server {url} serves no model")
        return Endpoint(url, [entry.id for entry in served], any(getattr(e, "owned_by", None) == "vllm" for e in served),
                        {entry.id: str(getattr(entry, "root", None) or "") for entry in served})

    def _arguments(self, request: GenerationRequest) -> dict[str, Any]:
        if request.constraint.mode.per_report and not self.vllm_server:
            raise InputError(f"--grammar {request.constraint.mode.value} needs vLLM servers; {self.base_url} is not one "
                             "(use --grammar json)")
        return request_arguments(request, self.model, self.decoding, self.vllm_server, self.grammar_backend)

    async def _endpoint(self) -> Endpoint:
        """The least busy endpoint with a free slot, preferring those that have not just failed."""
        while True:
            now = time.monotonic()
            free = [e for e in self.endpoints if e.in_flight < self.concurrency]
            healthy = [e for e in free if now - e.failed_at > COOL_DOWN] or free
            if healthy:
                return min(healthy, key=lambda e: (e.in_flight, e.failed_at))
            await asyncio.sleep(0.01)

    async def _one(self, clients: dict[str, Any], request: GenerationRequest) -> Generation:
        openai = self._openai
        transient = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError,
                     openai.RateLimitError)
        try:
            async for attempt in AsyncRetrying(stop=stop_after_delay(self.retry_seconds), reraise=True,
                                               wait=wait_exponential(multiplier=0.5, max=10),
                                               retry=retry_if_exception_type(transient)):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.retried += 1
                    endpoint = await self._endpoint()
                    endpoint.in_flight += 1
                    endpoint.requests += 1
                    try:
                        response = await clients[endpoint.url].chat.completions.create(**self._arguments(request))
                    except transient as error:
                        endpoint.failed_at, endpoint.failures = time.monotonic(), endpoint.failures + 1
                        log.warning("%s failed on %s; retrying", type(error).__name__, endpoint.url)
                        raise
                    finally:
                        endpoint.in_flight -= 1
        except openai.OpenAIError as error:
            return Generation("", finish_reason="error", error=f"{type(error).__name__}: {str(error)[:200]}")
        choice = response.choices[0]
        usage = response.usage
        text = choice.message.content or ""
        logprobs = getattr(choice, "logprobs", None)
        return Generation(text, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                          choice.finish_reason or "stop",
                          tokens=chat_token_logprobs(getattr(logprobs, "content", None), text))

    async def _all(self, requests: list[GenerationRequest]) -> list[Generation]:
        """All requests on one event loop (clients per loop: their connections belong to it)."""
        api_key = os.environ.get(self.api_key_env) or "EMPTY"
        clients = {e.url: self._openai.AsyncOpenAI(base_url=e.url, api_key=api_key, timeout=self.timeout,
                                                   max_retries=0) for e in self.endpoints}
        try:
            return list(await asyncio.gather(*(self._one(clients, request) for request in requests)))
        finally:
            for client in clients.values():
                await client.close()

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return asyncio.run(self._all(requests))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url,
                "endpoints": [{"url": e.url, "requests": e.requests, "failures": e.failures} for e in self.endpoints],
                "vllm_server": self.vllm_server, "concurrency_per_endpoint": self.concurrency,
                "grammar_backend": self.grammar_backend, "retried_requests": self.retried}

    def close(self) -> None:
        pass


def served_name(model: str, endpoint: Endpoint) -> str:
    """The name a server serves ``model`` under: itself, or for a local folder (a fine-tuned model, a LoRA
    adapter of ``vllm serve --lora-modules NAME=DIR``) the served name whose folder it is."""
    if model in endpoint.models or not Path(model).expanduser().exists():
        return model
    folder = Path(model).expanduser().resolve()
    for name, root in endpoint.roots.items():
        if root and Path(root).expanduser().resolve() == folder:
            return name
    return model


def request_arguments(request: GenerationRequest, model: str | None, decoding: Decoding, vllm_server: bool,
                      grammar_backend: str = DEFAULT_GRAMMAR_BACKEND) -> dict[str, Any]:
    """The chat-completion arguments of one request (pure: tested without a server). A vLLM server
    takes the constraint in its ``structured_outputs`` field; another server gets a JSON Schema as
    ``response_format`` (and cannot take a grammar)."""
    arguments: dict[str, Any] = {"model": model, "messages": request.messages, "temperature": decoding.temperature,
                                 "max_tokens": request.max_tokens or decoding.max_tokens, "seed": decoding.seed}
    if decoding.logprobs:  # the sampled tokens' log-probabilities: the entities' confidence (where the server gives them)
        arguments["logprobs"] = True
    constraint = request.constraint
    if vllm_server:
        fields = structured_outputs(constraint, grammar_backend)
        if fields:
            arguments["extra_body"] = {"structured_outputs": fields}
    elif constraint.mode is GrammarMode.JSON:
        arguments["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "radgraph_extraction", "schema": constraint.schema, "strict": True}}
    return arguments
