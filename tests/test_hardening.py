"""Regressions found by trying every command as a new user with bad input: results never silently
stale, lost or overwritten, every numeric option checked, one-line errors instead of tracebacks.

The span baseline is the (fast, deterministic) system; commands run in this process through
typer's runner, except where a real process is the point (Ctrl-C).
"""

from __future__ import annotations

import errno
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.errors import InputError
from llmgraph.core.resources import sample_gold_path
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.runs.runlog import lock_path, partial_path, settings_path

GOLD = read_radgraph(sample_gold_path())
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def llmgraph(*args: object) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def one_line_error(result: Result, *phrases: str) -> None:
    """Exit code 2 and exactly one line on stderr that says each phrase."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.stdout)
    assert result.stderr.count("\n") == 1, result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def span(source: Path, output: Path, model: Path, *extra: object) -> Result:
    return llmgraph("extract", source, "-o", output, "--type", "span", "--model", model, "-q", *extra)


def report_lines(path: Path, reports: list[str]) -> Path:
    path.write_text("".join(report + "\n" for report in reports))
    return path


REPORTS = ["No pleural effusion .", "Small left pleural effusion .", "Mild cardiomegaly .", "Right lower lobe opacity ."]


# 1. Resume checks the input ---------------------------------------------------------------------

def test_resume_reruns_reports_whose_text_changed(span_model, tmp_path):
    first = report_lines(tmp_path / "a.txt", REPORTS)
    second = report_lines(tmp_path / "b.txt", [REPORTS[0], "Large right pneumothorax .", *REPORTS[2:]])
    output = tmp_path / "out.json"
    assert span(first, output, span_model).exit_code == 0
    again = span(second, output, span_model)
    assert again.exit_code == 0, again.stderr
    assert "3 from an earlier run" in again.stderr
    assert "1 reports changed since the earlier run and ran again: 2" in again.stderr
    assert read_radgraph(output)[1].text == "Large right pneumothorax ."
    fresh = span(second, tmp_path / "fresh.json", span_model)
    assert fresh.exit_code == 0 and read_radgraph(output) == read_radgraph(tmp_path / "fresh.json")
    manifest = json.loads((tmp_path / "out.json.manifest.json").read_text())
    assert manifest["reports_changed_since_earlier_run"] == ["2"] and len(manifest["input_sha256"]) == 64


def test_a_reordered_input_gets_no_stale_graphs(span_model, tmp_path):
    output = tmp_path / "out.json"
    assert span(report_lines(tmp_path / "a.txt", REPORTS), output, span_model).exit_code == 0
    again = span(report_lines(tmp_path / "b.txt", REPORTS[::-1]), output, span_model)
    assert again.exit_code == 0 and "4 reports changed" in again.stderr
    assert [doc.text for doc in read_radgraph(output)] == REPORTS[::-1]


def test_partial_lines_of_an_older_version_without_fingerprints_run_again(span_model, tmp_path):
    source, output = report_lines(tmp_path / "a.txt", REPORTS), tmp_path / "out.json"
    assert span(source, output, span_model).exit_code == 0
    lines = [json.loads(line) for line in partial_path(output).read_text().splitlines()]
    partial_path(output).write_text("".join(json.dumps({k: v for k, v in line.items() if k != "report"}) + "\n"
                                            for line in lines))
    again = span(source, output, span_model, "--strict")
    assert again.exit_code == 0 and "4 reports changed" in again.stderr


# 2. One bad line in the partial file --------------------------------------------------------------

def test_a_bad_line_in_the_middle_of_the_partial_file_loses_only_its_report(span_model, tmp_path):
    source = report_lines(tmp_path / "a.txt", [f"Small effusion number {n} ." for n in range(30)])
    output = tmp_path / "out.json"
    assert span(source, output, span_model).exit_code == 0
    whole = read_radgraph(output)
    lines = partial_path(output).read_text().splitlines(keepends=True)
    lines[5] = '{"id": "6", "document": {"te\n'  # a damaged line, not the last one
    partial_path(output).write_text("".join(lines))
    output.unlink()
    again = span(source, output, span_model)
    assert again.exit_code == 0, again.stderr
    assert "29 from an earlier run" in again.stderr
    assert "skipped 1 unreadable line(s) (line 6); their reports ran again" in again.stderr
    assert read_radgraph(output) == whole
    manifest = json.loads((tmp_path / "out.json.manifest.json").read_text())
    assert manifest["partial_unreadable_lines"] == [6] and manifest["repaired_partial_bytes"] == 0


# 3. The output never overwrites an input ---------------------------------------------------------

def test_an_output_that_is_an_input_is_refused_before_anything_is_written(span_model, tmp_path):
    gold = tmp_path / "gold.json"
    write_radgraph(GOLD[:3], gold)
    before = gold.read_bytes()
    one_line_error(span(gold, gold, span_model), "is also an input of this command")
    one_line_error(span(tmp_path / "x.txt", gold, span_model, "--gold", gold), "is also an input")
    (tmp_path / "same.csv").write_text("id,report\n1,No effusion.\n")
    one_line_error(llmgraph("convert", tmp_path / "same.csv", "-o", tmp_path / "same.csv"), "is also an input")
    one_line_error(llmgraph("viz", gold, "-o", gold), "is also an input")
    one_line_error(llmgraph("merge", gold, "-o", gold), "is also an input")
    os.link(gold, tmp_path / "hard.json")  # another name for the same file
    one_line_error(llmgraph("convert", gold, "-o", tmp_path / "hard.json"), "is also an input")
    assert gold.read_bytes() == before and (tmp_path / "same.csv").read_text().startswith("id,report")


@pytest.mark.parametrize("command, output, phrase", [
    (["convert", "{gold}"], "out.txt", "unknown output type '.txt' (expected .json or .jsonl)"),
    (["synth", "-n", "2"], "out.csv", "unknown output type '.csv'"),
    (["merge", "{gold}"], "out", "unknown output type '(none)'"),
    (["viz", "{gold}"], "out.json", "unknown output type '.json' (expected .html or .htm)"),
])
def test_output_suffixes_say_what_the_file_holds(tmp_path, command, output, phrase):
    gold = tmp_path / "gold.json"
    write_radgraph(GOLD[:1], gold)
    args = [part.format(gold=gold) for part in command]
    one_line_error(llmgraph(*args, "-o", tmp_path / output), phrase)
    assert not (tmp_path / output).exists()


# 4 and 8. Numeric options, checked before any work ----------------------------------------------

@pytest.mark.parametrize("args, phrase", [
    (["extract", "{src}", "-o", "{out}", "--batch-size", "0"], "'--batch-size': Input should be greater than or equal to 1"),
    (["extract", "{src}", "-o", "{out}", "--concurrency", "0", "--backend", "openai"], "'--concurrency': Input should be greater than or equal to 1"),
    (["extract", "{src}", "-o", "{out}", "--concurrency", "-3", "--backend", "openai"], "'--concurrency': Input should be greater than or equal to 1"),
    (["extract", "{src}", "-o", "{out}", "--max-tokens", "0"], "'--max-tokens': Input should be greater than or equal to 1"),
    (["extract", "{src}", "-o", "{out}", "--max-entities", "0"], "'--max-entities': Input should be greater than or equal to 1"),
    (["extract", "{src}", "-o", "{out}", "--temperature", "-1"], "'--temperature': Input should be greater than or equal to 0"),
    (["extract", "{src}", "-o", "{out}", "--shots", "-1"], "'--shots': Input should be greater than or equal to 0"),
    (["evaluate", "--gold", "{src}", "--pred", "{src}", "--bootstrap", "-5"], "'--bootstrap': Input should be greater than or equal to 0"),
    (["synth", "-n", "0", "-o", "{out}"], "'-n': Input should be greater than or equal to 1"),
    (["train-span", "--train", "{src}", "-o", "{dir}", "--epochs", "0"], "'--epochs': Input should be greater than or equal to 1"),
    (["train-span", "--train", "{src}", "-o", "{dir}", "--batch-size", "0"], "'--batch-size': Input should be greater than or equal to 1"),
    (["train-span", "--train", "{src}", "-o", "{dir}", "--lr", "0"], "'--lr': 0.0 is not above 0"),
    (["extract", "{src}", "-o", "{out}", "--fuzzy", "true"], "unexpected extra argument(s) (true)"),
])
def test_numeric_options_are_checked_with_one_line_errors(tmp_path, args, phrase):
    src = tmp_path / "gold.json"
    write_radgraph(GOLD[:2], src)
    started = time.monotonic()
    result = llmgraph(*(a.format(src=src, out=tmp_path / "out.json", dir=tmp_path / "model") for a in args))
    one_line_error(result, phrase)
    assert time.monotonic() - started < 10, "checked before any model loads"
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "model").exists()


def test_library_settings_are_checked_too():
    from llmgraph.extraction.backends import Decoding
    from llmgraph.extraction.backends.openai import OpenAIBackend

    for bad in ({"max_tokens": 0}, {"temperature": -0.5}, {"temperature": float("nan")}, {"seed": 1.5}):
        with pytest.raises(InputError):
            Decoding(**bad)
    with pytest.raises(InputError, match="concurrency must be a whole number of at least 1"):
        OpenAIBackend(None, Decoding(), concurrency=0)


def test_the_summary_counts_what_was_written(span_model, tmp_path):
    source = report_lines(tmp_path / "a.txt", REPORTS)
    done = span(source, tmp_path / "out.json", span_model, "--batch-size", "3")
    assert done.exit_code == 0 and "4/4 reports extracted" in done.stderr
    manifest = json.loads((tmp_path / "out.json.manifest.json").read_text())
    assert manifest["reports_written"] == len(read_radgraph(tmp_path / "out.json")) == 4


# 6. Merge by a glob -----------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_merge_by_the_readme_glob_skips_run_files_and_checks_shards(span_model, tmp_path, suffix):
    source = report_lines(tmp_path / "a.txt", [f"Effusion number {n} ." for n in range(24)])
    out = tmp_path / "out"
    for index in range(3):
        done = span(source, out / f"shard-{index}{suffix}", span_model, "--shard", f"{index}/3")
        assert done.exit_code == 0, done.stderr
    partial_path(out / f"shard-0{suffix}").write_text("")  # run files stay beside the outputs
    shards = sorted(glob.glob(str(out / f"shard-*{suffix}")))
    assert any(name.endswith((".partial.jsonl", ".manifest.json")) for name in shards)
    merged = llmgraph("merge", *shards, "-o", tmp_path / "all.json")
    assert merged.exit_code == 0, merged.stderr
    assert "merged 24 reports from 3 files" in merged.stderr and "skipped" in merged.stderr
    assert [doc.id for doc in read_radgraph(tmp_path / "all.json")] != []
    missing = llmgraph("merge", *(s for s in shards if "shard-1" not in s), "-o", tmp_path / "some.json")
    one_line_error(missing, "shard 1 of 3 is missing", "--allow-missing")
    assert not (tmp_path / "some.json").exists()
    allowed = llmgraph("merge", *(s for s in shards if "shard-1" not in s), "-o", tmp_path / "some.json",
                       "--allow-missing")
    assert allowed.exit_code == 0 and len(read_radgraph(tmp_path / "some.json")) < 24


# 11. One line, never a traceback ----------------------------------------------------------------

def test_output_side_os_errors_are_one_line(span_model, tmp_path):
    source = report_lines(tmp_path / "a.txt", REPORTS)
    (tmp_path / "file").write_text("x")
    one_line_error(span(source, tmp_path / "file" / "out.json", span_model), "is a file, not a folder")
    (tmp_path / "folder.json").mkdir()
    one_line_error(span(source, tmp_path / "folder.json", span_model), "is a folder")
    one_line_error(span(source, Path("/sys/llmgraph-test.json"), span_model), "cannot write in /sys")
    one_line_error(llmgraph("convert", source, "-o", "/proc/llmgraph/out.json"), "cannot write")


def test_disk_full_mid_run_keeps_finished_batches(span_model, tmp_path, monkeypatch):
    from llmgraph.runs import runlog

    source = report_lines(tmp_path / "a.txt", [f"Small effusion number {n} ." for n in range(8)])
    output = tmp_path / "out.json"
    real_fsync, calls = os.fsync, []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:  # the third batch hits a full disk
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(runlog.os, "fsync", fsync)
    one_line_error(span(source, output, span_model, "--batch-size", "2"),
                   "out.json.partial.jsonl: cannot append to the partial file (No space left on device)")
    monkeypatch.setattr(runlog.os, "fsync", real_fsync)
    assert not lock_path(output).exists()
    again = span(source, output, span_model, "--batch-size", "2")
    assert again.exit_code == 0 and "from an earlier run" in again.stderr
    assert len(read_radgraph(output)) == 8


def test_a_corrupt_settings_file_and_a_garbage_lock_are_one_line_errors(span_model, tmp_path):
    source, output = report_lines(tmp_path / "a.txt", REPORTS), tmp_path / "out.json"
    assert span(source, output, span_model).exit_code == 0
    settings_path(output).write_text('{"type": "sp')
    one_line_error(span(source, output, span_model), "the settings of the partial run cannot be read (not valid JSON)",
                   "--restart")
    settings_path(output).unlink()
    one_line_error(span(source, output, span_model), "settings were not recorded", "--restart")
    assert span(source, output, span_model, "--restart").exit_code == 0
    lock_path(output).write_bytes(b"\x00\xffgarbage")
    one_line_error(span(source, output, span_model), "was not written by llmgraph", "--force")
    assert span(source, output, span_model, "--force").exit_code == 0 and not lock_path(output).exists()


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume(span_model, tmp_path):
    source = report_lines(tmp_path / "a.txt", [f"Small effusion number {n} ." for n in range(20000)])
    output = tmp_path / "out.json"
    command = [sys.executable, "-m", "llmgraph", "extract", str(source), "-o", str(output), "--type", "span",
               "--model", str(span_model), "--batch-size", "1", "-q"]
    # A suite started as a background job (``make test &``) inherits SIGINT ignored, and Python then keeps it
    # ignored: give the child Ctrl-C's default, as a terminal would.
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (partial_path(output).exists() and partial_path(output).stat().st_size):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:  # never leave a run of 20,000 reports behind
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted; finished reports are kept in" in stderr and "run the same command again to resume" in stderr
    assert "Traceback" not in stderr and not lock_path(output).exists()


# 12. Bad values are refused, not accepted silently -----------------------------------------------

@pytest.mark.parametrize("rows, phrase", [
    ([{"id": "a", "report": {" x ": [1, 2]}}], "report a: 'report' is an object, expected the report text as a string"),
    ([{"id": "a", "report": ["No effusion."]}], "'report' is a list"),
    ([{"id": "a", "report": 5}], "'report' is a number"),
    ([{"id": ["a"], "report": "No effusion."}], "row 1: the report id in 'id' is a list"),
    ([{"id": True, "report": "No effusion."}], "row 1: the report id in 'id' is a boolean"),
    ([{"id": "", "report": "No effusion."}], "row 1: the report id in 'id' is empty"),
])
def test_bad_jsonl_values_are_one_line_errors(tmp_path, rows, phrase):
    path = tmp_path / "reports.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    one_line_error(llmgraph("convert", path, "-o", tmp_path / "out.json"), phrase)


def test_empty_csv_ids_say_they_are_empty(tmp_path):
    (tmp_path / "r.csv").write_text("id,report\n,No effusion.\n,Edema.\n")
    one_line_error(llmgraph("convert", tmp_path / "r.csv", "-o", tmp_path / "o.json"),
                   "row 1: the report id in 'id' is empty")


@pytest.mark.parametrize("sections", [",,", "findings,", " "])
def test_empty_section_names_are_refused(tmp_path, sections):
    source = report_lines(tmp_path / "a.txt", REPORTS)
    one_line_error(llmgraph("convert", source, "-o", tmp_path / "o.json", "--sections", sections),
                   "a section name is empty")


def test_llm_options_with_a_span_backend_are_refused(span_model, tmp_path):
    source = report_lines(tmp_path / "a.txt", REPORTS)
    one_line_error(span(source, tmp_path / "o.json", span_model, "--prompt", "zero-shot", "--shots", "1"),
                   "--prompt, --shots: LLM options, which --type span does not take")
    one_line_error(llmgraph("extract", source, "-o", tmp_path / "o.json", "--backend", "vllm", "--endpoint", "x"),
                   "--endpoint: options of --backend openai, not --backend vllm")
    one_line_error(llmgraph("extract", source, "-o", tmp_path / "o.json", "--shots", "0", "--examples", source),
                   "--examples: exemplars are not used with --shots 0")


def test_a_stray_blank_line_in_a_txt_file_is_said(tmp_path):
    source = report_lines(tmp_path / "a.txt", [*REPORTS[:2], "", *REPORTS[2:]])
    done = llmgraph("convert", source, "-o", tmp_path / "o.json")
    assert done.exit_code == 0
    assert "blank lines separate the reports" in done.stderr and "--txt-layout lines" in done.stderr
    assert len(read_radgraph(tmp_path / "o.json")) == 2
    lines = llmgraph("convert", source, "-o", tmp_path / "lines.json", "--txt-layout", "lines")
    assert lines.exit_code == 0 and "blank lines" not in lines.stderr
    assert [doc.text for doc in read_radgraph(tmp_path / "lines.json")] == REPORTS


def test_an_empty_input_is_an_error(span_model, tmp_path):
    (tmp_path / "empty.txt").write_text("\n\n")
    one_line_error(span(tmp_path / "empty.txt", tmp_path / "o.json", span_model), "empty.txt: no reports")
    assert not (tmp_path / "o.json").exists()


def test_an_empty_shard_of_a_non_empty_input_is_fine(span_model, tmp_path):
    source = report_lines(tmp_path / "a.txt", REPORTS[:1])
    results = [span(source, tmp_path / f"s{i}.json", span_model, "--shard", f"{i}/8") for i in range(8)]
    assert all(result.exit_code == 0 for result in results)
    assert sum(len(read_radgraph(tmp_path / f"s{i}.json")) for i in range(8)) == 1


# 13. Messages name the cause and the file -------------------------------------------------------

def test_convert_leaves_out_reports_without_the_chosen_section_and_says_why(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('id,report\n1,"FINDINGS: No effusion. IMPRESSION: Normal."\n2,"IMPRESSION: Edema."\n')
    done = llmgraph("convert", path, "-o", tmp_path / "o.json", "--sections", "findings")
    assert done.exit_code == 0, done.stderr
    assert "wrote 1 documents" in done.stderr and "1 reports left out" in done.stderr
    assert "report 2: no findings section (found: impression)" in done.stderr
    assert [doc.id for doc in read_radgraph(tmp_path / "o.json")] == ["1"]


def test_a_bad_gold_file_fails_before_the_run(span_model, tmp_path):
    (tmp_path / "gold.json").write_text("{not json")
    started = time.monotonic()
    one_line_error(span(report_lines(tmp_path / "a.txt", REPORTS), tmp_path / "o.json", span_model,
                        "--gold", tmp_path / "gold.json"), "gold.json: not valid JSON")
    assert not (tmp_path / "o.json").exists() and not partial_path(tmp_path / "o.json").exists()
    assert time.monotonic() - started < 10


def test_echoed_values_are_cut_short():
    from llmgraph.core.labels import RADGRAPH_LABELS
    from llmgraph.extraction.grammar import output_schema
    from llmgraph.extraction.ground import parse_output

    huge = json.dumps({"entities": [{"text": "x" * 700_000, "label": "OBS-DP", "relations": []}]})
    with pytest.raises(InputError) as caught:
        parse_output(huge, output_schema(RADGRAPH_LABELS, 60))
    assert len(str(caught.value)) < 1000 and "characters left out" in str(caught.value)


# 14. The viewer takes a labeler's annotations as the prediction ------------------------------------

def test_viz_shows_labeler_2_against_labeler_1(tmp_path):
    from dataclasses import replace

    test_file = tmp_path / "test.json"
    first = [replace(doc, annotator="labeler_1") for doc in GOLD[:3]]
    second = [replace(doc, annotator="labeler_2", entities=doc.entities[1:],
                      relations=[r for r in doc.relations if doc.entities[0].id not in (r.source, r.target)])
              for doc in GOLD[:3]]
    write_radgraph([doc for pair in zip(first, second) for doc in pair], test_file)
    done = llmgraph("viz", test_file, "--pred-labeler", "2", "--gold", test_file, "--labeler", "1",
                    "-o", tmp_path / "ceiling.html")
    assert done.exit_code == 0, done.stderr
    assert "wrote" in done.stderr and (tmp_path / "ceiling.html").stat().st_size > 1000


# 15. Output that reads well ---------------------------------------------------------------------

def test_help_reads_without_bool_placeholders_and_every_option_has_help():
    for command in ("extract", "convert", "evaluate", "viz", "merge", "compare", "synth", "train-span"):
        shown = CliRunner().invoke(app, [command, "--help"], terminal_width=200).stdout
        assert "<bool>" not in shown and "{source}" not in shown, command
    shown = CliRunner().invoke(app, ["extract", "--help"], terminal_width=200).stdout
    for option in ("--text-column", "--id-column", "--temperature", "--seed"):
        line = next(line for line in shown.splitlines() if option in line)
        assert len(line.split(option, 1)[1].strip(" │")) > 20, line  # a help text, not just a type
    assert "LLM decoding" in shown and "Resume and locks" in shown  # options in groups
    assert llmgraph("--version").stdout.startswith("llmgraph ")


def test_piped_tables_are_not_wrapped(tmp_path):
    from llmgraph.core.labels import LabelSet

    write_radgraph([doc.with_labels(LabelSet.RADGRAPH_XL) for doc in GOLD], tmp_path / "xl.json")
    done = llmgraph("evaluate", "--gold", tmp_path / "xl.json", "--pred", tmp_path / "xl.json")
    assert done.exit_code == 0
    line = next(line for line in done.stdout.splitlines() if "Observation::definitely present" in line)
    assert "[1.000, 1.000]" in line and len(line) > 80, line  # a long label and its CI on one line


def test_a_folder_named_like_a_shipped_prompt_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "few-shot").mkdir()
    (tmp_path / "zero-shot").write_text("<|user|>\nnot the shipped prompt\n")
    assert PromptTemplate.load("few-shot").path.parent.name == "prompts"
    assert "not the shipped" not in PromptTemplate.load("zero-shot").source
    assert "not the shipped" in PromptTemplate.load("./zero-shot").source  # a path is a path


def test_prompt_templates_render_in_a_sandbox(tmp_path):
    evil = tmp_path / "evil.j2"
    evil.write_text("<|user|>\n{{ report.__class__.__mro__[1].__subclasses__() }}\n")
    from llmgraph.core.labels import LabelSet

    with pytest.raises(InputError, match="prompt template error"):
        PromptTemplate.load(evil).render(GOLD[0], LabelSet.RADGRAPH)


# 12. Self-relations and duplicate relations: decided once, for readers and metrics alike ------------

def test_a_self_relation_is_kept_and_scored_and_a_duplicate_relation_scores_once(tmp_path):
    """A self-relation is read, written and scored like any relation, as the ``radgraph`` package
    scores it (its model can predict one: it scores every pair of spans); a duplicate counts once."""
    from radgraph_reference import rewards

    from llmgraph.evaluation.scoring import evaluate

    entity = {"tokens": "effusion", "label": "OBS-DP", "start_ix": 1, "end_ix": 1}
    small = {"tokens": "small", "label": "OBS-DP", "start_ix": 0, "end_ix": 0}
    looped = {"r1": {"text": "small effusion", "entities": {
        "1": small | {"relations": [["modify", "2"]]}, "2": entity | {"relations": [["modify", "2"]]}}}}
    (tmp_path / "self.json").write_text(json.dumps(looped))
    assert llmgraph("convert", tmp_path / "self.json", "-o", tmp_path / "o.json").exit_code == 0
    assert json.loads((tmp_path / "o.json").read_text())["r1"]["entities"]["2"]["relations"] == [["modify", "2"]]
    twice = {"r1": {"text": "small effusion", "entities": {
        "1": small | {"relations": [["modify", "2"], ["modify", "2"]]}, "2": entity | {"relations": []}}}}
    once = {"r1": {"text": "small effusion", "entities": {
        "1": small | {"relations": [["modify", "2"]]}, "2": entity | {"relations": []}}}}
    (tmp_path / "twice.json").write_text(json.dumps(twice))
    (tmp_path / "once.json").write_text(json.dumps(once))
    duplicated, single = read_radgraph(tmp_path / "twice.json"), read_radgraph(tmp_path / "once.json")
    assert len(duplicated[0].relations) == 2, "kept as written"
    for metric in ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar"):
        assert evaluate(single, duplicated, samples=0)[metric] == 1.0, metric
    for level in ("simple", "partial", "complete"):
        assert rewards().compute_reward(twice["r1"], once["r1"], level) == 1.0  # the radgraph package: once too
    with_loop = read_radgraph(tmp_path / "self.json")
    scores = evaluate(single, with_loop, samples=0)
    assert scores["entity_f1"] == 1.0 and scores["relation_f1"] == pytest.approx(2 / 3)  # 1 of 2 predicted, 1 of 1 gold
    assert scores["rg_er"] == pytest.approx(rewards().compute_reward(looped["r1"], once["r1"], "partial"))
