"""Every malformed input gives one line naming the file, the report and the problem; exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from llmgraph.cli import app
from llmgraph.errors import InputError
from llmgraph.formats import read_radgraph
from llmgraph.reports import ReportOptions, read_reports


def doc(text="small effusion", **entity_overrides):
    entity = {"tokens": "effusion", "label": "OBS-DP", "start_ix": 1, "end_ix": 1, "relations": []}
    entity.update(entity_overrides)
    return {"text": text, "entities": {"1": entity}}


# (file name, content, report id named in the message or None, words the message must contain)
CASES = [
    ("not_json.json", "this is not json", None, "not valid JSON"),
    ("truncated.json", '{"r1": {"text": "a", "entities": {', None, "not valid JSON"),
    ("list.json", "[1, 2]", None, "expected a JSON object mapping report ids"),
    ("not_object.json", '{"r1": 3}', "r1", "expected a JSON object"),
    ("no_text.json", '{"r1": {"entities": {}}}', "r1", "'text' is a required property"),
    ("label.json", json.dumps({"r1": doc(label="OBS-XX")}), "r1", "unknown entity label 'OBS-XX'"),
    ("reversed.json", json.dumps({"r1": doc(start_ix=1, end_ix=0)}), "r1", "outside the text"),
    ("range.json", json.dumps({"r1": doc(start_ix=5, end_ix=5)}), "r1", "outside the text's 2 tokens"),
    ("negative.json", json.dumps({"r1": doc(start_ix=-1)}), "r1", "less than the minimum"),
    ("tokens.json", json.dumps({"r1": doc(tokens="effusions")}), "r1", "do not match the text"),
    ("dangling.json", json.dumps({"r1": doc(relations=[["modify", "9"]])}), "r1", "relation to missing entity '9'"),
    ("reltype.json", json.dumps({"r1": doc(relations=[["causes", "1"]])}), "r1", "unknown value 'causes'"),
    ("dup_entity.json", '{"r1": {"text": "a b", "entities": {"1": {"tokens": "a", "label": "OBS-DP", "start_ix": 0,'
     ' "end_ix": 0, "relations": []}, "1": {"tokens": "b", "label": "OBS-DP", "start_ix": 1, "end_ix": 1,'
     ' "relations": []}}}}', "r1", "duplicate entity id '1'"),
    ("dup_report.json", '{"r1": {"text": "a", "entities": {}}, "r1": {"text": "b", "entities": {}}}', "r1",
     "duplicate report id"),
    ("dup_report.jsonl", '{"id": "r1", "text": "a", "entities": {}}\n{"id": "r1", "text": "b", "entities": {}}\n',
     "r1", "duplicate report id"),
    ("empty.json", '{"r1": {"text": "", "entities": {}}}', "r1", "empty text"),
    ("blank.json", '{"r1": {"text": "  \\n ", "entities": {}}}', "r1", "empty text"),
    ("mixed.json", json.dumps({"r1": doc(), "r2": doc(label="Observation::definitely present")}), None,
     "mixes RadGraph 1.0 and RadGraph-XL labels"),
    ("no_id.jsonl", '{"text": "a", "entities": {}}\n', None, "line 1: expected a JSON object with a string 'id'"),
    ("broken.jsonl", '{"id": "r1", "text": "a", "entities": {}}\n{"id": "r2", "text"\n', None,
     "not valid JSON (Expecting ':' delimiter at line 2)"),
]


def _expectations(path, doc_id, words):
    message_parts = [str(path)] + ([f"report {doc_id}"] if doc_id else []) + [words]
    return message_parts


@pytest.mark.parametrize("name, content, doc_id, words", CASES, ids=[case[0] for case in CASES])
def test_reader_and_cli_report_bad_files(tmp_path, name, content, doc_id, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        read_radgraph(path)
    message = str(raised.value)
    assert "\n" not in message
    for part in _expectations(path, doc_id, words):
        assert part in message, (part, message)
    result = CliRunner().invoke(app, ["evaluate", "--gold", str(path), "--pred", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"llmgraph: {message}\n"


def test_non_utf8_missing_file_and_directory(tmp_path):
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"r1": {"text": "épanchement", "entities": {}}}'.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1.json: not UTF-8 text \(byte 0xe9 at offset 17\)"):
        read_radgraph(latin)
    with pytest.raises(InputError, match="nope.json: no such file"):
        read_radgraph(tmp_path / "nope.json")
    with pytest.raises(InputError, match="is a directory"):
        read_radgraph(tmp_path)


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"r1": doc(label="OBS-XX")}))
    done = subprocess.run([sys.executable, "-m", "llmgraph", "evaluate", "--gold", str(bad), "--pred", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == f"llmgraph: {bad}: report r1: entities.1.label: unknown entity label 'OBS-XX'\n"


@pytest.mark.parametrize("name, content, options, words", [
    ("reports.pdf", "x", ReportOptions(), "unknown report file type '.pdf'"),
    ("no_text.csv", "id,findings_text\n1,effusion\n", ReportOptions(), "no report text column"),
    ("col.csv", "id,report\n1,effusion\n", ReportOptions(text_column="body"), "no column 'body'"),
    ("ids.csv", "id,report\n1,effusion\n1,edema\n", ReportOptions(), "report 1: duplicate report id"),
    ("broken.jsonl", '{"report": "a"}\n{"report"\n', ReportOptions(), "not valid JSON"),
])
def test_plain_report_errors(tmp_path, name, content, options, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        read_reports(path, options)
    assert str(path) in str(raised.value) and words in str(raised.value)
