"""Batch runs never lose finished work: kill -9 mid-run and run again, locks, settings, repairs.

With the span baseline as the (fast, deterministic) system. The kill runs in a real process;
the other runs go through the same command line in this process (no start-up cost per run).
"""

from __future__ import annotations

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
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.runs.runlog import lock_path, partial_path, settings_path

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def llmgraph(*args: str) -> Result:
    """``llmgraph ARGS`` run in this process; the result has ``exit_code`` and ``stderr``."""
    return CliRunner().invoke(app, list(args))


def extract_args(source: Path, output: Path, model: Path, *extra: str) -> list[str]:
    return ["extract", str(source), "-o", str(output), "--type", "span", "--model", str(model), *extra]


def copy_settings(source: Path, output: Path) -> None:
    """The recorded settings of ``source``'s run, as if ``output``'s partial run had been made with them."""
    settings_path(output).write_text(settings_path(source).read_text())


def partial_lines(output: Path) -> list[str]:
    return partial_path(output).read_text().splitlines()


def kill_9_after(command: list[str], output: Path, lines: int) -> list[str]:
    """Start ``command``, kill -9 it once ``output``'s partial file holds ``lines`` reports; the partial lines."""
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill somewhere in the middle of the run
        if partial_path(output).exists() and len(partial_lines(output)) >= lines:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return partial_lines(output)


def check_resumed(before: list[str], output: Path, stderr: str, uninterrupted: Path) -> None:
    """A run resumed after a kill: the lines finished before it kept, every report once, the uninterrupted output."""
    after = partial_lines(output)
    assert after[:len(before)] == before, "reports finished before the kill are kept as they were"
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids)) == 200, "0 lost, 0 duplicated"
    assert "from an earlier run" in stderr
    assert read_radgraph(output) == read_radgraph(uninterrupted)
    assert not lock_path(output).exists()


@pytest.mark.slow
def test_kill_9_then_the_same_command_loses_nothing_and_duplicates_nothing(reports, span_model, uninterrupted,
                                                                           tmp_path):
    output = tmp_path / "out.json"
    # The default batch size, as the uninterrupted run: bfloat16 numbers may depend on the batch (AMX CPUs).
    command = [sys.executable, "-m", "llmgraph", *extract_args(reports, output, span_model)]
    before = kill_9_after(command, output, 40)
    assert 40 <= len(before) < 200 and not output.exists()
    assert lock_path(output).exists(), "the killed run left its lock behind"
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    check_resumed(before, output, done.stderr, uninterrupted)


@pytest.mark.slow  # 200 reports through the span baseline, more than once
def test_a_line_cut_short_by_a_kill_is_repaired(reports, span_model, uninterrupted, tmp_path):
    output = tmp_path / "out.json"
    lines = partial_path(uninterrupted).read_text().splitlines(keepends=True)
    partial_path(output).write_text("".join(lines[:30]) + lines[30][:57])  # a kill in the middle of a write
    copy_settings(uninterrupted, output)
    done = llmgraph(*extract_args(reports, output, span_model))
    assert done.exit_code == 0, done.stderr
    assert "30 from an earlier run" in done.stderr
    assert read_radgraph(output) == read_radgraph(uninterrupted)
    manifest = json.loads(output.with_name("out.json.manifest.json").read_text())
    assert manifest["repaired_partial_bytes"] == 57 and manifest["reports_from_earlier_runs"] == 30


@pytest.mark.slow  # 200 reports through the span baseline, more than once
def test_a_live_lock_refuses_a_second_writer_unless_forced(reports, span_model, tmp_path):
    output = tmp_path / "out.json"
    holder = subprocess.Popen(["sleep", "60"])
    try:
        lock_path(output).write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename}))
        refused = llmgraph(*extract_args(reports, output, span_model))
        assert refused.exit_code == 2
        assert refused.stderr.strip() == (
            f"llmgraph: {output}: another run (pid {holder.pid} on {os.uname().nodename}) is writing this output "
            f"(lock {lock_path(output)}); wait for it, or pass --force if it is gone")
        forced = llmgraph(*extract_args(reports, output, span_model, "--force"))
        assert forced.exit_code == 0, forced.stderr
    finally:
        holder.kill()
    assert len(read_radgraph(output)) == 200


@pytest.mark.slow  # 200 reports through the span baseline, more than once
def test_a_stale_lock_is_taken_over(reports, span_model, tmp_path):
    output = tmp_path / "out.json"
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock_path(output).write_text(json.dumps({"pid": gone.pid, "host": os.uname().nodename}))
    done = llmgraph(*extract_args(reports, output, span_model))
    assert done.exit_code == 0, done.stderr


@pytest.mark.slow  # 200 reports through the span baseline, more than once
def test_other_settings_are_never_mixed_in(reports, span_model, uninterrupted, tmp_path):
    output = tmp_path / "out.json"
    partial_path(output).write_text("".join(partial_path(uninterrupted).read_text().splitlines(keepends=True)[:10]))
    output.with_name("out.json.partial.settings.json").write_text(json.dumps({"type": "llm", "model": "other"}))
    refused = llmgraph(*extract_args(reports, output, span_model))
    assert refused.exit_code == 2
    assert "a partial run with other settings (model, span_model_sha256, type)" in refused.stderr
    assert "--restart" in refused.stderr
    restarted = llmgraph(*extract_args(reports, output, span_model, "--restart"))
    assert restarted.exit_code == 0, restarted.stderr
    assert "from an earlier run" not in restarted.stderr


@pytest.mark.slow  # 200 reports through the span baseline, more than once
def test_retry_failed_runs_only_the_failed_reports(reports, span_model, uninterrupted, tmp_path):
    output = tmp_path / "out.json"
    lines = partial_path(uninterrupted).read_text().splitlines(keepends=True)
    failed = [json.loads(line)["id"] for line in lines[:3]]
    fingerprints = [json.loads(line)["report"] for line in lines[:3]]
    marked = [json.dumps({"id": doc_id, "report": fingerprint, "error": "server error after 6 attempts"}) + "\n"
              for doc_id, fingerprint in zip(failed, fingerprints)]
    partial_path(output).write_text("".join(marked + lines[3:]))
    copy_settings(uninterrupted, output)
    again = llmgraph(*extract_args(reports, output, span_model, "--strict"))
    assert again.exit_code == 1, "--strict: failed reports make the exit code 1"
    assert "197/200 reports extracted" in again.stderr and "server error after 6 attempts" in again.stderr
    assert {doc.id for doc in read_radgraph(output)} == {doc.id for doc in read_radgraph(uninterrupted)} - set(failed)
    retried = llmgraph(*extract_args(reports, output, span_model, "--retry-failed", "--strict"))
    assert retried.exit_code == 0, retried.stderr
    assert "200/200 reports extracted" in retried.stderr and "197 from an earlier run" in retried.stderr
    assert {doc.id for doc in read_radgraph(output)} == {doc.id for doc in read_radgraph(uninterrupted)}


@pytest.mark.slow  # 200 reports through the span baseline, more than once
def test_shards_partition_the_reports_and_merge_to_the_whole_run(reports, span_model, uninterrupted, tmp_path):
    outputs = [tmp_path / f"shard-{index}.jsonl" for index in range(3)]
    for index, output in enumerate(outputs):
        done = llmgraph(*extract_args(reports, output, span_model, "--shard", f"{index}/3"))
        assert done.exit_code == 0, done.stderr
    sizes = [len(read_radgraph(output)) for output in outputs]
    assert sum(sizes) == 200 and min(sizes) > 40
    merged = llmgraph("merge", *map(str, outputs), "-o", str(tmp_path / "all.json"))
    assert merged.exit_code == 0 and "merged 200 reports from 3 files" in merged.stderr
    whole = {doc.id: doc for doc in read_radgraph(uninterrupted)}
    assert {doc.id: doc for doc in read_radgraph(tmp_path / "all.json")} == whole
    twice = llmgraph("merge", str(outputs[0]), str(outputs[0]), "-o", str(tmp_path / "bad.json"))
    assert twice.exit_code == 2 and f"is in both {outputs[0]} and {outputs[0]}" in twice.stderr
    assert not (tmp_path / "bad.json").exists()


@pytest.mark.parametrize("text, message", [("3/3", "I must be in 0..N-1"), ("a/b", "expected I/N"), ("1", "expected I/N")])
def test_bad_shard_options(text, message):
    from llmgraph.core.errors import InputError
    from llmgraph.runs.shards import parse_shard

    with pytest.raises(InputError, match=message):
        parse_shard(text)


def test_the_split_is_a_partition():
    from llmgraph.runs.shards import in_shard

    ids = [f"report-{n}" for n in range(1000)]
    owners = [[index for index in range(7) if in_shard(doc_id, index, 7)] for doc_id in ids]
    assert all(len(owner) == 1 for owner in owners)
    assert min(sum(owner == [index] for owner in owners) for index in range(7)) > 100


def compare_experiment(folder: Path, reports: Path, span_model: Path) -> Path:
    experiment = folder / "experiment.yaml"
    experiment.write_text(f"gold: [{{name: synth, path: {reports}}}]\nbootstrap: {{samples: 10}}\n"
                          f"systems: [{{name: span, type: span, model: {span_model}, batch_size: 8}}]\n")
    return experiment


@pytest.mark.slow
def test_compare_killed_mid_system_continues_where_it_stopped(reports, span_model, uninterrupted, tmp_path):
    """compare runs each system through extract's resumable runner: a kill -9 loses at most the
    batch in flight, and the same command continues the system it was running."""
    experiment = compare_experiment(tmp_path, reports, span_model)
    predictions = tmp_path / "out" / "systems" / "span" / "synth.json"
    command = [sys.executable, "-m", "llmgraph", "compare", str(experiment), "-o", str(tmp_path / "out")]
    before = kill_9_after(command, predictions, 40)
    assert 40 <= len(before) < 200 and not predictions.exists()
    done = llmgraph("compare", str(experiment), "-o", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert partial_lines(predictions)[:len(before)] == before
    manifest = json.loads((predictions.parent / "synth.manifest.json").read_text())
    assert manifest["reports_from_earlier_runs"] == len(before) and manifest["reports_written"] == 200
    assert "from an interrupted run" in done.output
    assert read_radgraph(predictions) == read_radgraph(uninterrupted), "the same graphs as one whole run"
