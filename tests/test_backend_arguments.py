"""The constraint -> engine arguments adapters are pure functions, tested without an engine or server."""

from __future__ import annotations

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS
from llmgraph.extraction.backends.base import Decoding, GenerationRequest
from llmgraph.extraction.backends.openai import request_arguments
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.grammar import GrammarMode, constraint_for, structured_outputs

DOC = document_from_report("r1", "Small left pleural effusion.")
MESSAGES = [{"role": "user", "content": "extract"}]


def request(mode: GrammarMode, max_tokens: int | None = None) -> GenerationRequest:
    return GenerationRequest(MESSAGES, constraint_for(DOC, mode, RADGRAPH_LABELS), max_tokens)


def test_each_mode_becomes_vllms_structured_output_fields_in_the_dialect_of_the_grammar_backend():
    lark = structured_outputs(request(GrammarMode.REPORT).constraint, "guidance")["grammar"]
    ebnf = structured_outputs(request(GrammarMode.REPORT).constraint, "xgrammar")["grammar"]
    assert lark.startswith("start:") and "::=" not in lark
    assert ebnf.startswith("root ::=")
    assert 'effusion' in lark and 'effusion' in ebnf  # the report's own words, in both
    json_fields = structured_outputs(request(GrammarMode.JSON).constraint, "guidance")
    assert json_fields["disable_any_whitespace"] is True and json_fields["json"]["type"] == "object"
    assert structured_outputs(request(GrammarMode.NONE).constraint, "xgrammar") is None


@pytest.mark.parametrize("mode", [mode for mode in GrammarMode if mode.per_report])
def test_every_per_report_mode_reaches_the_engines_as_its_grammar(mode):
    """Each per-report mode is sent as a grammar: to vLLM (engine and server) in both dialects, and to a
    batch file for vLLM; none is silently sent unconstrained."""
    from llmgraph.extraction.backends.batch_api import request_line

    constraint = request(mode).constraint
    for backend, start in (("guidance", "start:"), ("xgrammar", "root ::=")):
        assert structured_outputs(constraint, backend)["grammar"].startswith(start)
        assert structured_outputs(constraint, backend)["grammar"] == constraint.grammar(
            "lark" if backend == "guidance" else "ebnf")
    served = request_arguments(request(mode), "smollm2", Decoding(), True, "guidance")
    assert served["extra_body"]["structured_outputs"]["grammar"].startswith("start:")
    line = request_line("r1", request(mode), "smollm2", Decoding(), "vllm", "guidance")
    assert line["body"]["structured_outputs"]["grammar"].startswith("start:")
    with pytest.raises(InputError, match=f"--grammar {mode.value} needs a vLLM target"):  # said, never dropped
        request_line("r1", request(mode), "gpt", Decoding(), "openai")


def test_server_requests_carry_the_constraint_where_the_server_reads_it():
    decoding = Decoding(temperature=0.0, max_tokens=300, seed=7)
    served = request_arguments(request(GrammarMode.REPORT, max_tokens=600), "smollm2", decoding, True, "xgrammar")
    assert served["max_tokens"] == 600 and served["seed"] == 7 and served["model"] == "smollm2"
    assert served["extra_body"]["structured_outputs"]["grammar"].startswith("root ::=")
    other = request_arguments(request(GrammarMode.JSON), "gpt", decoding, False)
    assert other["response_format"]["json_schema"]["strict"] is True and "extra_body" not in other
    free = request_arguments(request(GrammarMode.NONE), "gpt", decoding, True)
    assert "extra_body" not in free and "response_format" not in free and free["max_tokens"] == 300


def test_the_grammar_backend_goes_to_the_engine_or_the_servers_client():
    assert ExtractionConfig(backend="openai", grammar_backend="xgrammar").backend_options() == {"grammar_backend": "xgrammar"}
    assert ExtractionConfig(backend="vllm", grammar_backend="xgrammar").backend_options() == {"grammar_backend": "xgrammar"}
    assert ExtractionConfig(backend="transformers", grammar_backend="xgrammar").misplaced_options() == {
        "grammar_backend": "vllm"}


@pytest.mark.vllm
def test_vllm_sampling_arguments():
    pytest.importorskip("vllm")
    from llmgraph.extraction.backends.vllm import sampling_arguments

    arguments = sampling_arguments(request(GrammarMode.REPORT), Decoding(max_tokens=128), "guidance")
    assert arguments["max_tokens"] == 128 and arguments["structured_outputs"].grammar.startswith("start:")
    assert sampling_arguments(request(GrammarMode.NONE), Decoding(), "guidance")["structured_outputs"] is None
    assert arguments["logprobs"] == 0  # the sampled token's log-probability: the entities' confidence
    assert sampling_arguments(request(GrammarMode.REPORT), Decoding(confidence="none"), "guidance")["logprobs"] is None
    assert sampling_arguments(request(GrammarMode.REPORT), Decoding(confidence="raw"), "guidance")["logprobs"] is None


def test_prompts_that_overflow_are_split_off_and_the_rest_run_in_one_call_in_order():
    from llmgraph.extraction.backends.base import Generation, generate_fitting

    requests = [request(GrammarMode.NONE, max_tokens=n) for n in (1, 2, 3, 4, 5)]
    calls = []

    def run(batch):
        calls.append([r.max_tokens for r in batch])
        return [Generation(f"ran {r.max_tokens}", 1, 1) for r in batch]

    def overflow(r):
        return Generation("", 9, finish_reason="error", error="too long") if r.max_tokens % 2 == 0 else None

    results = generate_fitting(requests, overflow, run)
    assert calls == [[1, 3, 5]]
    assert [g.text or g.error for g in results] == ["ran 1", "too long", "ran 3", "too long", "ran 5"]
    assert generate_fitting(requests[1:2], overflow, run)[0].error == "too long" and len(calls) == 1
