"""Malformed input: one line naming the file, the report and the problem, from the reader and the CLI."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.errors import InputError
from llmgraph.io.inputs import load_documents
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.reports import ReportOptions, read_reports

MISSING, DIRECTORY, UNDER_A_FILE = object(), object(), object()


def entity(**overrides) -> dict:
    value = {"tokens": "effusion", "label": "OBS-DP", "start_ix": 1, "end_ix": 1, "relations": []}
    return value | overrides


def collection(text: str = "small effusion", doc_id: str = "r1", **overrides) -> str:
    return json.dumps({doc_id: {"text": text, "entities": {"1": entity(**overrides)}}})


def jsonl(*rows) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


GOOD_LINE = {"id": "r1", "text": "small effusion", "entities": {"1": entity()}}
DUPLICATE_ENTITY = ('{"r7": {"text": "a b", "entities": {'
                    '"1": {"tokens": "a", "label": "OBS-DP", "start_ix": 0, "end_ix": 0, "relations": []}, '
                    '"1": {"tokens": "b", "label": "OBS-DP", "start_ix": 1, "end_ix": 1, "relations": []}}}}')


@dataclass(frozen=True)
class Case:
    name: str  # file name (its suffix picks the reader)
    content: object  # str, bytes, or MISSING / DIRECTORY / UNDER_A_FILE
    doc_id: str | None  # the report the message must name, if any
    phrase: str  # what the message must say is wrong


CASES = [
    Case("not_json.json", "this is not json", None, "not valid JSON (Expecting value at line 1 column 1)"),
    Case("truncated.json", collection()[:-9], None, "not valid JSON"),
    Case("empty_file.json", "", None, "not valid JSON"),
    Case("top_list.json", json.dumps([{"text": "a", "entities": {}}]), None,
         "expected a JSON object mapping report ids to documents, found list"),
    Case("top_string.json", '"r1"', None, "expected a JSON object mapping report ids to documents, found str"),
    Case("doc_string.json", '{"r1": "small effusion"}', "r1", "expected a JSON object, found str"),
    Case("doc_list.json", '{"ok": {"text": "a", "entities": {}}, "r2": [1]}', "r2",
         "expected a JSON object, found list"),
    Case("no_text.json", json.dumps({"r1": {"entities": {}}}), "r1", "'text' is a required property"),
    Case("text_number.json", json.dumps({"r1": {"text": 5, "entities": {}}}), "r1", "text: 5 is not of type 'string'"),
    Case("no_entities.json", json.dumps({"r1": {"text": "a"}}), "r1",
         "has neither 'entities' nor 'labeler_1'/'labeler_2'"),
    Case("unknown_label.json", collection(label="OBS-XX"), "r1", "entities.1.label: unknown entity label 'OBS-XX'"),
    Case("lowercase_label.json", collection(label="obs-dp"), "r1", "unknown entity label 'obs-dp'"),
    Case("start_after_end.json", collection(start_ix=1, end_ix=0), "r1", "entity 1: span [1, 0] outside the text"),
    Case("out_of_range.json", collection(start_ix=1, end_ix=2), "r1", "span [1, 2] outside the text's 2 tokens"),
    Case("negative.json", collection(start_ix=-1), "r1", "entities.1.start_ix: -1 is less than the minimum of 0"),
    Case("index_string.json", collection(start_ix="1"), "r1", "entities.1.start_ix: '1' is not of type 'integer'"),
    Case("index_bool.json", collection(end_ix=True), "r1", "entities.1.end_ix: True is not of type 'integer'"),
    Case("index_fraction.json", collection(end_ix=1.5), "r1", "entities.1.end_ix: 1.5 is not of type 'integer'"),
    Case("tokens_mismatch.json", collection(tokens="effusions"), "r1",
         "entity 1: tokens 'effusions' do not match the text there ('effusion')"),
    Case("tokens_empty.json", collection(tokens=""), "r1", "entities.1.tokens"),
    Case("missing_target.json", collection(relations=[["modify", "9"]]), "r1",
         "entity 1: modify relation to missing entity '9'"),
    Case("relation_type.json", collection(relations=[["causes", "1"]]), "r1", "unknown value 'causes'"),
    Case("relation_short.json", collection(relations=[["modify"]]), "r1", "entities.1.relations.0"),
    Case("relation_target_int.json", collection(relations=[["modify", 1]]), "r1", "1 is not of type 'string'"),
    Case("duplicate_entity.json", DUPLICATE_ENTITY, "r7", "duplicate entity id '1'"),
    Case("duplicate_entity_key.json", collection().replace('"label": "OBS-DP"', '"label": "OBS-DP", "label": "OBS-DA"'),
         "r1", "entity 1: duplicate key 'label'"),
    Case("duplicate_doc_key.json", collection().replace('"text": "small effusion"',
                                                        '"text": "small effusion", "text": "big effusion"'),
         "r1", "duplicate key 'text'"),
    Case("duplicate_report.json", '{"r1": {"text": "a", "entities": {}}, "r1": {"text": "b", "entities": {}}}',
         "r1", "duplicate report id"),
    Case("duplicate_report.jsonl", jsonl(GOOD_LINE, GOOD_LINE | {"text": "big effusion"}), "r1", "duplicate report id"),
    Case("duplicate_labeler.jsonl",
         jsonl(GOOD_LINE | {"annotator": "labeler_1"}, GOOD_LINE | {"annotator": "labeler_1"}),
         "r1", "duplicate report id"),
    Case("empty_text.json", json.dumps({"r1": {"text": "", "entities": {}}}), "r1", "empty text"),
    Case("whitespace_text.json", json.dumps({"r1": {"text": " \n\t\u00a0 ", "entities": {}}}), "r1", "empty text"),
    Case("latin1.json", '{"r1": {"text": "épanchement", "entities": {}}}'.encode("latin-1"), None,
         "not UTF-8 text (byte 0xe9 at offset 17)"),
    Case("utf16.json", collection().encode("utf-16"), None, "not UTF-8 text"),
    Case("missing.json", MISSING, None, "no such file"),
    Case("a_directory.json", DIRECTORY, None, "is a directory, not a file"),
    Case("under_a_file.json", UNDER_A_FILE, None, "cannot read the file"),
    Case("mixed_files.json", json.dumps({"r1": json.loads(collection())["r1"],
                                         "r2": json.loads(collection(label="Observation::uncertain"))["r1"]}),
         None, "mixes RadGraph 1.0 and RadGraph-XL labels (reports r1 and r2)"),
    Case("mixed_report.json", json.dumps({"r3": {"text": "small effusion", "entities": {
        "1": entity(), "2": entity(tokens="small", start_ix=0, end_ix=0, label="Observation::definitely present")}}}),
         "r3", "mixes RadGraph 1.0 and RadGraph-XL labels"),
    Case("labeler_bad.json", json.dumps({"c1": {"text": "small effusion", "labeler_1": {"entities": {"1": entity()}},
                                                "labeler_2": {"entities": {"1": entity(label="X")}}}}),
         "c1", "labeler_2.entities.1.label: unknown entity label 'X'"),
    Case("offsets_count.json", json.dumps({"r1": {"text": "small effusion", "entities": {},
                                                  "source_text": "small effusion", "token_offsets": [[0, 5]]}}),
         "r1", "1 token offsets for 2 tokens"),
    Case("offsets_outside.json", json.dumps({"r1": {"text": "a b", "entities": {}, "source_text": "a b",
                                                    "token_offsets": [[0, 1], [2, 9]]}}),
         "r1", "token offset outside the source text"),
    Case("deeply_nested.json", "[" * 100_000 + "]" * 100_000, None, "unreadable JSON (nested too deeply)"),
    Case("huge_number.json", '{"r1": {"text": "a", "entities": {}, "n": ' + "9" * 5000 + "}}", None, "unreadable JSON"),
    Case("no_id.jsonl", jsonl(GOOD_LINE, {"text": "a", "entities": {}}), None,
         "line 2: expected a JSON object with a string 'id'"),
    Case("numeric_id.jsonl", jsonl(GOOD_LINE | {"id": 7}), None, "line 1: expected a JSON object with a string 'id'"),
    Case("list_line.jsonl", jsonl(GOOD_LINE, "[1, 2]"), None, "line 2: expected a JSON object with a string 'id'"),
    Case("broken_line.jsonl", jsonl(GOOD_LINE, '{"id": "r2", "text": "a", "entities": {'), None,
         "not valid JSON (Expecting property name enclosed in double quotes at line 2)"),
    Case("bad_doc_line.jsonl", jsonl(GOOD_LINE, {"id": "r2", "text": "a b", "entities": {"1": entity(start_ix=3)}}),
         "r2", "outside the text"),
]


def materialize(tmp_path: Path, case: Case) -> Path:
    if case.content is UNDER_A_FILE:
        (tmp_path / "plain_file").write_text("x")
        return tmp_path / "plain_file" / case.name
    path = tmp_path / case.name
    if case.content is DIRECTORY:
        path.mkdir()
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    elif isinstance(case.content, str):
        path.write_text(case.content, encoding="utf-8")
    return path


def check_message(message: str, path: Path, doc_id: str | None, phrase: str) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(f"{path}: "), message
    if doc_id is not None:
        assert f": report {doc_id}: " in message, message
    else:
        assert ": report " not in message, message
    assert phrase in message, (phrase, message)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``llmgraph ARGS`` through typer's runner in this process (the same entry point, exit code and
    stderr as a real process; an uncaught exception would exit with 1, never 2)."""
    result = CliRunner().invoke(app, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def run_cli_many(commands: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess]:
    return {key: run_cli(*args) for key, args in commands.items()}


def check_cli(done: subprocess.CompletedProcess, message: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("llmgraph: ") and done.stderr.count("\n") == 1 and done.stderr.endswith("\n")
    assert done.stderr == f"llmgraph: {message}\n"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every case written to its own folder, and ``llmgraph evaluate --gold BAD --pred BAD`` run on it."""
    paths = {case.name: materialize(tmp_path_factory.mktemp("case"), case) for case in CASES}
    done = run_cli_many({name: ["evaluate", "--gold", str(path), "--pred", str(path)] for name, path in paths.items()})
    return {name: (paths[name], done[name]) for name in paths}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_radgraph_file(bad_files, case):
    path, done = bad_files[case.name]
    with pytest.raises(InputError) as raised:
        read_radgraph(path)
    message = str(raised.value)
    check_message(message, path, case.doc_id, case.phrase)
    assert raised.value.doc_id == case.doc_id and Path(raised.value.path) == path
    # Neither labeler choice nor the generic loader changes the verdict.
    with pytest.raises(InputError) as again:
        load_documents(path, labeler="both")
    assert str(again.value) == message
    check_cli(done, message)


def test_good_line_is_good(tmp_path):
    """The base document the table mutates is itself valid (so each case fails for its own reason)."""
    for path, content in ((tmp_path / "ok.json", collection()), (tmp_path / "ok.jsonl", jsonl(GOOD_LINE))):
        path.write_text(content, encoding="utf-8")
        doc, = read_radgraph(path)
        assert doc.entities[0].tokens == "effusion"


def test_pred_file_errors_are_reported_too(tmp_path):
    good = tmp_path / "gold.json"
    good.write_text(collection(), encoding="utf-8")
    bad = tmp_path / "pred.json"
    bad.write_text(collection(label="OBS-XX"), encoding="utf-8")
    done = run_cli("evaluate", "--gold", str(good), "--pred", str(bad))
    check_cli(done, f"{bad}: report r1: entities.1.label: unknown entity label 'OBS-XX'")


def test_test_file_without_labeler_through_the_cli(tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps({"c1": {"text": "small effusion", "labeler_1": {"entities": {"1": entity()}},
                                       "labeler_2": {"entities": {}}}}), encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_radgraph(path)
    check_message(str(raised.value), path, None, "choose one with --labeler 1|2")
    check_cli(run_cli("evaluate", "--gold", str(path), "--pred", str(path)), str(raised.value))
    done = run_cli("evaluate", "--gold", str(path), "--pred", str(path), "--labeler", "1", "--pred-labeler", "2",
                   "--bootstrap", "0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entity_recall"] == 0.0


# --- plain reports -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportCase:
    name: str
    content: object
    options: ReportOptions
    doc_id: str | None
    phrase: str


REPORT_CASES = [
    ReportCase("reports.pdf", "No effusion.", ReportOptions(), None,
               "unknown report file type '.pdf' (expected .txt, .csv, .jsonl or .parquet)"),
    ReportCase("reports", "No effusion.", ReportOptions(), None, "unknown report file type ''"),
    ReportCase("no_text.csv", "id,findings_text\n1,No effusion.\n", ReportOptions(), None,
               "no report text column (looked for report, text, report_text; choose one with --text-column)"),
    ReportCase("text_column.csv", "id,report\n1,No effusion.\n", ReportOptions(text_column="body"), None,
               "no column 'body' (columns: id, report)"),
    ReportCase("id_column.csv", "id,report\n1,No effusion.\n", ReportOptions(id_column="accession"), None,
               "no column 'accession' (columns: id, report)"),
    ReportCase("duplicate_ids.csv", 'id,report\n7,No effusion.\n8,Edema.\n7,"Small, stable nodule."\n',
               ReportOptions(), "7", "duplicate report id"),
    ReportCase("unquoted_comma.csv", "id,report\n1,Small effusion, no pneumothorax.\n2,Edema, mild.\n",
               ReportOptions(), None, "a row has more fields than the header"),
    ReportCase("ragged.csv", 'id,report\n1,"No effusion."\n2,Small effusion, no pneumothorax.\n',
               ReportOptions(), None, "not a readable CSV file"),
    ReportCase("empty.csv", "", ReportOptions(), None, "not a readable CSV file"),
    ReportCase("latin1.csv", "id,report\n1,épanchement\n".encode("latin-1"), ReportOptions(), None, "not UTF-8 text"),
    ReportCase("missing.txt", MISSING, ReportOptions(), None, "no such file"),
    ReportCase("broken.jsonl", '{"report": "No effusion."}\n{"report": \n', ReportOptions(), None,
               "not valid JSON (Expecting value at line 2)"),
    ReportCase("not_object.jsonl", '{"report": "No effusion."}\n"Edema."\n', ReportOptions(), None,
               "line 2: expected a JSON object"),
    ReportCase("missing_text.jsonl", jsonl({"id": "a", "report": "No effusion."}, {"id": "b", "impression": "Edema."}),
               ReportOptions(), "b", "no 'report' field"),
    ReportCase("missing_id.jsonl", jsonl({"id": "a", "report": "No effusion."}, {"report": "Edema."}),
               ReportOptions(), None, "row 2: no 'id' field"),
    ReportCase("duplicate_ids.jsonl", jsonl({"id": "a", "report": "x"}, {"id": "a", "report": "y"}),
               ReportOptions(), "a", "duplicate report id"),
]


@pytest.fixture(scope="module")
def bad_reports(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Every report case in its own folder, and ``llmgraph convert BAD -o out.json`` run on it."""
    paths, commands = {}, {}
    for case in REPORT_CASES:
        folder = tmp_path_factory.mktemp("reports")
        path = paths[case.name] = materialize(folder, Case(case.name, case.content, None, ""))
        commands[case.name] = ["convert", str(path), "-o", str(path.parent / "out.json")]
        for flag, value in (("--text-column", case.options.text_column), ("--id-column", case.options.id_column)):
            commands[case.name] += [flag, value] if value else []
    done = run_cli_many(commands)
    return {name: (paths[name], done[name]) for name in paths}


@pytest.mark.parametrize("case", REPORT_CASES, ids=[case.name for case in REPORT_CASES])
def test_bad_report_file(bad_reports, case):
    path, done = bad_reports[case.name]
    with pytest.raises(InputError) as raised:
        read_reports(path, case.options)
    message = str(raised.value)
    check_message(message, path, case.doc_id, case.phrase)
    check_cli(done, message)
    assert not (path.parent / "out.json").exists()
