"""OpenAI Batch files: the request lines (pure), the results parser, and the two commands' round trip with
results made from the gold graphs (no model: the answers are what a perfect model would write)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.extraction.backends.base import Decoding, GenerationRequest
from llmgraph.extraction.backends.batch_api import parse_result, request_line
from llmgraph.extraction.chunking import annotated_chunks
from llmgraph.extraction.grammar import GrammarMode, constraint_for
from llmgraph.extraction.prompting import example_output
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

ENV = os.environ | {"HF_HUB_OFFLINE": "1"}
DOC = document_from_report("r1", "Small left pleural effusion.")


def _request(mode: GrammarMode) -> GenerationRequest:
    return GenerationRequest([{"role": "user", "content": "x"}], constraint_for(DOC, mode, RADGRAPH_LABELS), key="r1")


def test_a_vllm_request_line_carries_the_per_report_grammar_in_its_body():
    line = request_line("r1", _request(GrammarMode.REPORT), "smollm2", Decoding(max_tokens=300), "vllm", "guidance")
    assert line["custom_id"] == "r1" and line["method"] == "POST" and line["url"] == "/v1/chat/completions"
    body = line["body"]
    assert body["model"] == "smollm2" and body["max_tokens"] == 300 and body["temperature"] == 0
    assert "extra_body" not in body and "effusion" in body["structured_outputs"]["grammar"]
    xgrammar = request_line("r1", _request(GrammarMode.REPORT), "m", Decoding(), "vllm", "xgrammar")["body"]
    assert xgrammar["structured_outputs"]["grammar"] != body["structured_outputs"]["grammar"]  # EBNF, not Lark


def test_a_hosted_request_line_takes_the_schema_as_response_format_and_refuses_the_grammar():
    body = request_line("r1", _request(GrammarMode.JSON), "gpt-4o", Decoding(), "openai")["body"]
    assert body["response_format"]["type"] == "json_schema" and "structured_outputs" not in body
    with pytest.raises(InputError, match="needs a vLLM target"):
        request_line("r1", _request(GrammarMode.REPORT), "gpt-4o", Decoding(), "openai")


def test_results_lines_parse_answers_and_every_kind_of_failure():
    ok = {"id": "b1", "custom_id": "a", "error": None, "response": {"status_code": 200, "request_id": "q", "body": {
        "choices": [{"message": {"content": "{}"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3}}}}
    custom_id, generation = parse_result(ok)
    assert (custom_id, generation.text, generation.finish_reason, generation.prompt_tokens,
            generation.completion_tokens) == ("a", "{}", "length", 7, 3)
    failed = {"custom_id": "b", "response": None, "error": {"code": "batch_expired", "message": "expired"}}
    assert parse_result(failed)[1].error == "API error (error, batch_expired): expired"
    rejected = {"custom_id": "c", "error": None, "response": {"status_code": 400, "body": {
        "error": {"message": "bad grammar", "type": "BadRequestError"}}}}
    assert parse_result(rejected)[1].error == "API error (status 400, BadRequestError): bad grammar"
    assert parse_result({"custom_id": "d", "response": {"status_code": 200, "body": {"choices": []}}})[1] \
        .finish_reason == "error"
    with pytest.raises(ValueError, match="no custom_id"):
        parse_result({"response": {}})


def _llmgraph(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmgraph", *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=600)


def _answer(custom_id: str, text: str) -> dict:
    return {"id": f"batch-{custom_id}", "custom_id": custom_id, "error": None, "response": {
        "status_code": 200, "request_id": custom_id, "body": {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10}}}}


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """Requests for 6 sample reports, and results answering each chunk with its gold graph, but for one
    report whose request failed at the API and one whose line is missing."""
    folder = tmp_path_factory.mktemp("batch")
    gold = read_radgraph(sample_gold_path())[:6]
    reports = folder / "reports.json"
    write_radgraph(gold, reports)
    requests = folder / "requests.jsonl"
    done = _llmgraph("batch", "requests", reports, "-o", requests, "--served-model", "smollm2", "--shots", "1")
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["custom_id"] for line in requests.read_text().splitlines()]
    answers = {piece.id: example_output(piece) for doc in gold for piece in annotated_chunks(doc, 30)[0]}
    failed, missing = gold[1].id, gold[2].id
    lines = []
    for custom_id in ids:
        report = custom_id.split("#")[0]
        if report == missing:
            continue
        if report == failed:
            lines.append({"custom_id": custom_id, "response": {"status_code": 500, "body": {
                "error": {"message": "engine died"}}}, "error": None})
        else:
            lines.append(_answer(custom_id, answers[custom_id]))
    results = folder / "results.jsonl"
    results.write_text("".join(json.dumps(line) + "\n" for line in reversed(lines)))  # any order
    return folder, gold, reports, requests, results, failed, missing


def test_batch_results_ground_the_answers_and_report_failed_and_missing_lines(round_trip):
    folder, gold, _, requests, results, failed, missing = round_trip
    output = folder / "graphs.json"
    done = _llmgraph("batch", "results", requests, results, "-o", output)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((folder / "graphs.json.manifest.json").read_text())
    assert set(manifest["errors"]) == {failed, missing}
    assert "API error (status 500): engine died" in manifest["errors"][failed]
    assert "no line for request" in manifest["errors"][missing]
    assert manifest["backend"]["backend"] == "batch-results" and manifest["backend"]["lines_failed"] >= 1
    assert manifest["counts"]["reports"] == 6 and manifest["counts"]["prompt_tokens"] > 0
    docs = read_radgraph(output)
    assert [doc.id for doc in docs] == [doc.id for doc in gold if doc.id not in (failed, missing)]
    kept = [doc for doc in gold if doc.id not in (failed, missing)]
    scores = evaluate(kept, docs, samples=0)
    assert scores["entity_f1"] == 1.0 and scores["relation_f1"] >= 0.95  # relations across chunks are lost


def test_batch_results_refuse_a_results_file_of_other_requests(round_trip):
    folder, _, _, requests, results, _, _ = round_trip
    other = folder / "other.jsonl"
    other.write_text(results.read_text() + json.dumps(_answer("someone-else", "{}")) + "\n")
    done = _llmgraph("batch", "results", requests, other, "-o", folder / "x.json")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "custom_id 'someone-else' is not in the requests file" in done.stderr and "other.jsonl" in done.stderr


def test_batch_results_refuse_changed_requests_and_input_and_unreadable_lines(round_trip, tmp_path):
    folder, _, reports, requests, results, _, _ = round_trip
    edited = tmp_path / "requests.jsonl"
    edited.write_text(requests.read_text().replace("smollm2", "smollm3"))
    (tmp_path / "requests.jsonl.manifest.json").write_text((folder / "requests.jsonl.manifest.json").read_text())
    done = _llmgraph("batch", "results", edited, results, "-o", tmp_path / "x.json")
    assert done.returncode == 2 and "changed since llmgraph batch requests wrote it" in done.stderr
    copy = tmp_path / "reports.json"
    copy.write_text(reports.read_text().replace("effusion", "effusions", 1))
    done = _llmgraph("batch", "results", requests, results, "-o", tmp_path / "y.json", "--input", copy)
    assert done.returncode == 2 and "is not the input the requests were written from" in done.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text(results.read_text() + "{not json\n")
    done = _llmgraph("batch", "results", requests, broken, "-o", tmp_path / "z.json")
    assert done.returncode == 2 and "broken.jsonl" in done.stderr and "not valid JSON" in done.stderr \
        and f"at line {len(results.read_text().splitlines()) + 1}" in done.stderr


def test_batch_results_answered_by_a_retry_file_keep_the_answer_over_the_error(round_trip, tmp_path):
    folder, gold, _, requests, results, failed, _ = round_trip
    ids = [json.loads(line)["custom_id"] for line in requests.read_text().splitlines()]
    answers = {piece.id: example_output(piece) for doc in gold for piece in annotated_chunks(doc, 30)[0]}
    retried = [_answer(custom_id, answers[custom_id]) for custom_id in ids if custom_id.split("#")[0] == failed]
    both = tmp_path / "both.jsonl"
    both.write_text(results.read_text() + "".join(json.dumps(line) + "\n" for line in retried))
    output = tmp_path / "graphs.json"
    done = _llmgraph("batch", "results", requests, both, "-o", output)
    assert done.returncode == 0, done.stderr
    assert failed in {doc.id for doc in read_radgraph(output)}


def test_a_hosted_target_refuses_the_per_report_grammar_before_writing(tmp_path):
    done = _llmgraph("batch", "requests", sample_gold_path(), "-o", tmp_path / "r.jsonl", "--target", "openai",
                     "--model", "gpt-4o")
    assert done.returncode == 2 and "needs a vLLM target" in done.stderr and not (tmp_path / "r.jsonl").exists()
    done = _llmgraph("batch", "requests", sample_gold_path(), "-o", tmp_path / "r.jsonl", "--target", "openai",
                     "--model", "gpt-4o", "--grammar", "json", "--shots", "0")
    assert done.returncode == 0, done.stderr
    body = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["body"]
    assert body["model"] == "gpt-4o" and body["response_format"]["json_schema"]["strict"] is True


def test_batch_results_into_the_same_output_follow_the_results_file_not_the_earlier_run(round_trip, tmp_path):
    """A second results file with another answer for one report re-runs that report and says so; a partial
    results file followed by the full one replaces the earlier "no line" errors."""
    folder, gold, _, requests, results, failed, missing = round_trip
    output = tmp_path / "graphs.json"
    done = _llmgraph("batch", "results", requests, results, "-o", output)
    assert done.returncode == 0, done.stderr
    first = {doc.id: doc for doc in read_radgraph(output)}
    changed = gold[0].id
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    for line in lines:
        if line["custom_id"].split("#")[0] == changed:
            line["response"]["body"]["choices"][0]["message"]["content"] = '{"entities": []}'
    diff = tmp_path / "res_diff.jsonl"
    diff.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = _llmgraph("batch", "results", requests, diff, "-o", output)
    assert done.returncode == 0, done.stderr
    assert "1 reports changed since the earlier run and ran again: " + changed in done.stderr
    second = {doc.id: doc for doc in read_radgraph(output)}
    assert first[changed].entities and second[changed].entities == []
    assert all(second[doc_id] == first[doc_id] for doc_id in first if doc_id != changed)
    # The missing report's answer arrives in a later, complete results file: its error goes.
    ids = [json.loads(line)["custom_id"] for line in requests.read_text().splitlines()]
    answers = {piece.id: example_output(piece) for doc in gold for piece in annotated_chunks(doc, 30)[0]}
    full = tmp_path / "full.jsonl"
    full.write_text(results.read_text() + "".join(json.dumps(_answer(custom_id, answers[custom_id])) + "\n"
                                                  for custom_id in ids if custom_id.split("#")[0] == missing))
    done = _llmgraph("batch", "results", requests, full, "-o", output)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "graphs.json.manifest.json").read_text())
    assert set(manifest["errors"]) == {failed} and missing in {doc.id for doc in read_radgraph(output)}


def _cli(*args: object):
    from typer.testing import CliRunner

    from llmgraph.cli.app import app

    return CliRunner().invoke(app, [str(arg) for arg in args])


@pytest.mark.parametrize("broken, problem", [
    (lambda body: body.update(choices={"x": 1}), "choices is dict"),
    (lambda body: body.update(usage=[1]), "usage is list, not an object"),
    (lambda body: body["choices"][0].update(message="hello"), "choices[0].message is str, not an object"),
    (lambda body: body["choices"][0]["message"].update(content=[1, 2]), "choices[0].message.content is list, not text"),
    (lambda body: body["usage"].update(prompt_tokens=float("inf")), "usage.prompt_tokens is Infinity"),
    (lambda body: body["usage"].update(completion_tokens=-3), "usage.completion_tokens is -3"),
    (lambda body: body["choices"][0].update(finish_reason=7), "choices[0].finish_reason is int, not text"),
])
def test_a_results_line_of_the_wrong_shape_is_that_reports_error(round_trip, tmp_path, broken, problem):
    folder, gold, _, requests, results, failed, missing = round_trip
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    victim = next(line for line in lines if line["custom_id"].split("#")[0] == gold[0].id)
    broken(victim["response"]["body"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(line) + "\n" for line in lines))
    output = tmp_path / "graphs.json"
    done = _cli("batch", "results", requests, bad, "-o", output)
    assert done.exit_code == 0, done.stderr
    manifest = json.loads((tmp_path / "graphs.json.manifest.json").read_text())
    assert set(manifest["errors"]) == {gold[0].id, failed, missing}
    assert "malformed answer in the results file" in manifest["errors"][gold[0].id]
    assert problem in manifest["errors"][gold[0].id]
    assert len(read_radgraph(output)) == 3 and not (tmp_path / "graphs.json.partial.jsonl.lock").exists()


def test_batch_results_refuse_another_model_the_requests_file_and_an_empty_file(round_trip, tmp_path):
    folder, _, _, requests, results, _, _ = round_trip
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    for line in lines:
        if line["response"]["status_code"] == 200:
            line["response"]["body"]["model"] = "some-other-model"
    other = tmp_path / "other_model.jsonl"
    other.write_text("".join(json.dumps(line) + "\n" for line in lines))
    done = _cli("batch", "results", requests, other, "-o", tmp_path / "a.json")
    assert done.exit_code == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "answered by model 'some-other-model', not by 'smollm2'" in done.stderr
    for line in lines:  # a hosted API answers with a dated snapshot of the model asked for: that is the same model
        if line["response"]["status_code"] == 200:
            line["response"]["body"]["model"] = "smollm2-2026-12-01"
    other.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert _cli("batch", "results", requests, other, "-o", tmp_path / "b.json").exit_code == 0
    done = _cli("batch", "results", requests, requests, "-o", tmp_path / "c.json")
    assert done.exit_code == 2 and "line 1: not a batch result (no response, no error); it is a request" in done.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    done = _cli("batch", "results", requests, empty, "-o", tmp_path / "d.json")
    assert done.exit_code == 2 and "empty.jsonl: holds no batch results" in done.stderr
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "d.json").exists()
