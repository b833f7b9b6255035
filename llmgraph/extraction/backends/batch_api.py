"""OpenAI Batch files as a backend: requests written out now, answers read back later.

``vllm run-batch`` and hosted batch APIs take a JSONL file of requests (``custom_id``, ``method``,
``url``, ``body``) and return a JSONL file of results. The extraction pipeline stays the same on both
sides of that round trip: ``RequestRecorder`` is the backend of the first pass (each request becomes
a line; nothing is generated), ``ResultsBackend`` the backend of the second (each request is answered
from the results line of its ``custom_id``, after checking that the request is the one written).
``custom_id`` is the report id, or ``ID#N`` for chunk N of a chunked report.

The bodies are the chat-completion arguments of ``llmgraph.extraction.backends.openai.request_arguments``: a
vLLM target takes the per-report grammar in ``structured_outputs``; a hosted API gets the static
JSON Schema as ``response_format``. Batch files get no retry with a larger budget for an answer cut
off at ``max_tokens``: it is that report's error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.extraction.backends.base import Decoding, Generation, GenerationRequest
from llmgraph.extraction.confidence import chat_token_logprobs
from llmgraph.extraction.backends.openai import request_arguments
from llmgraph.extraction.grammar import DEFAULT_GRAMMAR_BACKEND
from llmgraph.io import text_files

CHAT_URL = "/v1/chat/completions"
TARGETS = ("vllm", "openai")  # a vLLM server or run-batch; a hosted OpenAI-compatible batch API
DEFERRED = "deferred to a batch file"  # the answer of every request of the first pass


def request_line(custom_id: str, request: GenerationRequest, model: str, decoding: Decoding, target: str,
                 grammar_backend: str = DEFAULT_GRAMMAR_BACKEND) -> dict[str, Any]:
    """One line of an OpenAI Batch requests file (pure: tested without a server)."""
    if target not in TARGETS:
        raise InputError(f"unknown batch target {target!r} (expected {' or '.join(TARGETS)})")
    if decoding.confidence == "raw":
        raise InputError("confidence raw needs --backend transformers or vllm: a batch API returns the log-probabilities of "
                         "the tokens it sampled, after the grammar's mask (use allowed, or none)")
    if target != "vllm" and request.constraint.mode.per_report:
        raise InputError(f"--grammar {request.constraint.mode.value} needs a vLLM target (vllm run-batch); hosted "
                         "batch APIs take --grammar json")
    body = request_arguments(request, model, decoding, target == "vllm", grammar_backend)
    body |= body.pop("extra_body", {})  # the SDK's extra_body is top-level fields of the HTTP body
    return {"custom_id": custom_id, "method": "POST", "url": CHAT_URL, "body": body}


@dataclass
class RequestRecorder:
    """The backend of ``llmgraph batch requests``: every request becomes a line of ``lines`` (in order),
    and is answered ``DEFERRED``."""

    model: str
    decoding: Decoding
    target: str = "vllm"
    grammar_backend: str = DEFAULT_GRAMMAR_BACKEND
    lines: list[dict[str, Any]] = field(default_factory=list)
    name: str = "batch-requests"
    retries_for_length = False

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        for request in requests:
            if request.key is None:
                raise ValueError("a batch-file request needs its report's key")
            self.lines.append(request_line(request.key, request, self.model, self.decoding, self.target,
                                           self.grammar_backend))
        return [Generation("", finish_reason="error", error=DEFERRED) for _ in requests]

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "target": self.target,
                "grammar_backend": self.grammar_backend, "requests": len(self.lines)}

    def close(self) -> None:
        pass


def _api_error(error: Any, status: int | None = None) -> str:
    """One line of what an API said went wrong."""
    if isinstance(error, dict):
        inner = error.get("error", error)
        if isinstance(inner, dict):
            message = inner.get("message") or json.dumps(inner)[:200]
            code = inner.get("code") or inner.get("type")
        else:
            message, code = str(inner), None
    else:
        message, code = str(error), None
    where = f"status {status}" if status is not None else "error"
    return f"API error ({where}{f', {code}' if code else ''}): {str(message)[:200]}"


def parse_result(record: Any) -> tuple[str, Generation]:
    """The ``custom_id`` and answer of one results line (an OpenAI Batch output or error line, or a line
    of ``vllm run-batch``). A failed request gives an ``error`` generation; a line that is not a batch
    result raises ``ValueError``."""
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        raise ValueError("not a batch result (no custom_id)")
    if "response" not in record and "error" not in record:
        raise ValueError("not a batch result (no response, no error)" +
                         ("; it is a request: the requests file given as the results?" if "body" in record else ""))
    custom_id = record["custom_id"]
    response = record.get("response") or {}
    status = response.get("status_code") if isinstance(response, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    if record.get("error"):
        return custom_id, Generation("", finish_reason="error", error=_api_error(record["error"], status))
    if status not in (None, 200) or not isinstance(body, dict):
        return custom_id, Generation("", finish_reason="error", error=_api_error(body or "no response body", status))
    choices = body.get("choices") or []
    if not isinstance(choices, list) or (choices and not isinstance(choices[0], dict)):
        shown = type(choices if not isinstance(choices, list) else choices[0]).__name__
        return custom_id, Generation("", finish_reason="error", error="malformed answer in the results file: "
                                     f"{'choices' if not isinstance(choices, list) else 'choices[0]'} is {shown}")
    if not choices:
        return custom_id, Generation("", finish_reason="error", error=_api_error(body, status))
    try:
        return custom_id, _answer_of(choices[0], body.get("usage"))
    except ValueError as error:
        return custom_id, Generation("", finish_reason="error", error=f"malformed answer in the results file: {error}")


def _answer_of(choice: dict[str, Any], usage: Any) -> Generation:
    """The answer of a result's first choice; ``ValueError`` says what is not of the OpenAI shape."""
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise ValueError(f"choices[0].message is {type(message).__name__}, not an object")
    content = message.get("content") or ""
    if not isinstance(content, str):
        raise ValueError(f"choices[0].message.content is {type(content).__name__}, not text")
    finish = choice.get("finish_reason") or "stop"
    if not isinstance(finish, str):
        raise ValueError(f"choices[0].finish_reason is {type(finish).__name__}, not text")
    usage = usage or {}
    if not isinstance(usage, dict):
        raise ValueError(f"usage is {type(usage).__name__}, not an object")
    logprobs = choice.get("logprobs")
    tokens = chat_token_logprobs(logprobs.get("content") if isinstance(logprobs, dict) else None, content)
    return Generation(content, _token_count(usage, "prompt_tokens"), _token_count(usage, "completion_tokens"), finish,
                      tokens=tokens)


def _token_count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key) or 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 2**53 \
            or value != int(value):
        raise ValueError(f"usage.{key} is {json.dumps(value)[:40]}, not a count of tokens")
    return int(value)


def read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """Each non-blank line of a JSONL file, parsed, with its number (the readers' one-line errors)."""
    for number, line in enumerate(text_files.read_lines(path), 1):
        if line.strip():
            yield number, text_files.parse_json(line, path, number)


def read_requests(path: Path) -> dict[str, dict[str, Any]]:
    """``custom_id`` -> request body of a requests file written by ``llmgraph batch requests``."""
    bodies: dict[str, dict[str, Any]] = {}
    for number, record in read_lines(path):
        if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str) \
                or not isinstance(record.get("body"), dict):
            raise InputError(f"line {number}: not a batch request (custom_id and body)", path)
        bodies[record["custom_id"]] = record["body"]
    return bodies


def answered_by(record: Any) -> str | None:
    """The model a results line says answered it (``response.body.model``), if it says."""
    response = record.get("response") if isinstance(record, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None


def same_model(answered: str, requested: str) -> bool:
    """Whether an answer's model is the one requested: the same name, or a dated snapshot of it (hosted APIs
    answer ``gpt-4o`` as ``gpt-4o-2024-08-06``)."""
    return answered == requested or answered.startswith(requested + "-")


def read_results(path: Path, known: dict[str, Any], model: str | None = None
                 ) -> tuple[dict[str, Generation], dict[str, int]]:
    """``custom_id`` -> answer of a results file, and its counts (lines, failed lines, duplicates). A
    custom_id that is not among the ``known`` requests is refused (a results file of another requests
    file), as is an answer by another ``model`` than the requests name, and a file without any result;
    an answer beats an error for the same custom_id (a re-submitted failure), two answers are refused."""
    answers: dict[str, Generation] = {}
    seen: dict[str, int] = {}
    counts = {"lines": 0, "lines_failed": 0, "duplicates": 0}
    for number, record in read_lines(path):
        try:
            custom_id, generation = parse_result(record)
        except ValueError as error:
            raise InputError(f"line {number}: {error}", path) from None
        if custom_id not in known:
            raise InputError(f"line {number}: custom_id {custom_id!r} is not in the requests file (a results file "
                             "of another requests file?)", path)
        answered = answered_by(record)
        if model is not None and answered is not None and not same_model(answered, model):
            raise InputError(f"line {number}: answered by model {answered!r}, not by {model!r} that the requests "
                             "name (a results file of other requests?)", path)
        counts["lines"] += 1
        counts["lines_failed"] += generation.finish_reason == "error"
        earlier = answers.get(custom_id)
        if earlier is not None:
            counts["duplicates"] += 1
            if earlier.finish_reason != "error" and generation.finish_reason != "error":
                raise InputError(f"line {number}: custom_id {custom_id!r} was answered on line {seen[custom_id]} "
                                 "too", path)
            if generation.finish_reason == "error":
                continue
        answers[custom_id], seen[custom_id] = generation, number
    if not counts["lines"]:
        raise InputError("holds no batch results (an empty file?)", path)
    return answers, counts


@dataclass
class ResultsBackend:
    """The backend of ``llmgraph batch results``: each request is answered by its results line. A request
    that differs from the one written to the requests file (its prompt, exemplars, grammar or settings
    changed since) and a request without a results line are that report's errors."""

    recorder: RequestRecorder  # builds the lines the requests should match
    bodies: dict[str, dict[str, Any]]  # custom_id -> body, from the requests file
    answers: dict[str, Generation]
    counts: dict[str, int] = field(default_factory=dict)
    name: str = "batch-results"
    retries_for_length = False
    _by_report: dict[str, list[str]] | None = field(default=None, repr=False)  # report id -> its custom_ids

    @property
    def model(self) -> str:
        return self.recorder.model

    def _answer(self, request: GenerationRequest) -> Generation:
        line = request_line(request.key or "", request, self.recorder.model, self.recorder.decoding,
                            self.recorder.target, self.recorder.grammar_backend)
        body = self.bodies.get(request.key or "")
        if body is None:
            return Generation("", finish_reason="error", error=f"request {request.key!r} is not in the requests file")
        if body != line["body"]:
            return Generation("", finish_reason="error", error=f"request {request.key!r} differs from the one in the "
                              "requests file (the prompt, exemplars or settings changed since it was written)")
        if request.key not in self.answers:
            self.counts["requests_without_result"] = self.counts.get("requests_without_result", 0) + 1
            return Generation("", finish_reason="error", error=f"no line for request {request.key!r} in the results file")
        return self.answers[request.key]

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [self._answer(request) for request in requests]

    def fingerprint(self, doc: Document) -> str:
        """What decides a report's graph here: the report (``Document.fingerprint``) and the answers of its
        requests (``ID``, ``ID#N`` for its chunks), so a results file with another answer for a report, or
        with an answer where an earlier one had none, runs that report again."""
        if self._by_report is None:
            self._by_report = {}
            for custom_id in sorted(self.answers):
                self._by_report.setdefault(custom_id, []).append(custom_id)
                base, _, number = custom_id.rpartition("#")
                if base and number.isdigit():
                    self._by_report.setdefault(base, []).append(custom_id)
        answers = [[key, asdict(self.answers[key])] for key in self._by_report.get(doc.id, [])]
        data = json.dumps([doc.fingerprint(), answers], ensure_ascii=False).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def describe(self) -> dict[str, Any]:
        return self.recorder.describe() | {"backend": self.name, "requests": len(self.bodies), **self.counts}

    def close(self) -> None:
        pass
