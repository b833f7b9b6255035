"""``--engine ray``: replicas of a system on a local Ray cluster of this machine's two cores, for real.

Each Ray run is its own ``python -m llmgraph`` process (it starts a local cluster and shuts it down), as
a user's command would be; the local runs it is checked against go through the same command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

# the resume tests' helpers; their 200 synthetic reports and uninterrupted local run are session fixtures (conftest)
from test_resume import ENV, check_resumed, kill_9_after, llmgraph, partial_lines  # noqa: E402

from llmgraph.io.radgraph_reader import read_radgraph  # noqa: E402


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmgraph", *args], env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def span_args(source: Path, output: Path, model: Path, *extra: str) -> list[str]:
    return ["extract", str(source), "-o", str(output), "--type", "span", "--model", str(model), "-q", *extra]


def ray_processes() -> set[int]:
    """Ray's own processes (raylet, GCS server, workers) running now."""
    listed = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout.splitlines()
    return {int(line.split(None, 1)[0]) for line in listed
            if any(name in line for name in ("raylet", "gcs_server", "ray::", "default_worker.py"))}


@pytest.mark.ray
@pytest.mark.slow
def test_two_replicas_of_the_span_baseline_write_what_a_local_run_writes(reports, span_model, uninterrupted,
                                                                        tmp_path):
    output = tmp_path / "out.json"
    done = run(*span_args(reports, output, span_model, "--engine", "ray", "--replicas", "2"))
    assert done.returncode == 0, done.stderr
    assert read_radgraph(output) == read_radgraph(uninterrupted), "same documents, same ids, in input order"
    ids = [json.loads(line)["id"] for line in partial_lines(output)]
    assert len(ids) == len(set(ids)) == 200, "each report once"
    manifest = json.loads(output.with_name("out.json.manifest.json").read_text())
    local = json.loads(uninterrupted.with_name("out.json.manifest.json").read_text())
    assert manifest["engine"]["name"] == "ray" and manifest["engine"]["replicas"] == 2
    assert manifest["counts"]["reports"] == manifest["counts"]["reports_ok"] == 200
    assert manifest["run_settings"] == local["run_settings"], "a Ray run resumes a local one and back"


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_ray_job_run_again_loses_no_report_and_duplicates_none(reports, span_model, uninterrupted,
                                                                         tmp_path):
    output = tmp_path / "out.json"
    command = [sys.executable, "-m", "llmgraph", *span_args(reports, output, span_model, "--engine", "ray",
                                                            "--replicas", "2")]
    before = kill_9_after(command, output, 64)
    assert 64 <= len(before) < 200 and not output.exists()
    orphans = ray_processes()
    done = run(*span_args(reports, output, span_model, "--engine", "ray", "--replicas", "2"))
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 120
    while orphans & ray_processes() and time.monotonic() < deadline:  # Ray stops a killed job's cluster
        time.sleep(1)
    assert not orphans & ray_processes(), "the killed job's Ray processes are gone"
    check_resumed(before, output, done.stderr, uninterrupted)


@pytest.mark.ray
@pytest.mark.slow
def test_the_python_entry_point_runs_in_a_users_own_ray_job(reports, span_model, uninterrupted, tmp_path):
    from llmgraph.io.inputs import iter_run_input
    from llmgraph.runs.ray_engine import RayOptions, RaySystem
    from llmgraph.runs.runner import run_extraction

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        system = RaySystem.build("span", {"model": str(span_model)}, RayOptions(replicas=2))
        output = tmp_path / "out.json"
        summary, manifest = run_extraction(system, lambda: iter_run_input(reports), output, reports, quiet=True)
        assert ray.is_initialized(), "the user's cluster is left running"
    finally:
        ray.shutdown()
    assert summary.written == 200 and not summary.errors
    assert read_radgraph(output) == read_radgraph(uninterrupted)
    assert manifest["engine"]["replicas"] == 2


@pytest.mark.ray
@pytest.mark.slow
def test_per_report_errors_are_rows_and_parquet_is_read(span_model, tmp_path):
    import pandas as pd

    source = tmp_path / "reports.parquet"
    pd.DataFrame({"id": ["a", "empty", "b"], "report": ["No effusion.", "", "Mild cardiomegaly."]}).to_parquet(source)
    output = tmp_path / "out.json"
    done = run(*span_args(source, output, span_model, "--engine", "ray"))
    assert done.returncode == 0, done.stderr
    assert [doc.id for doc in read_radgraph(output)] == ["a", "b"]
    manifest = json.loads(output.with_name("out.json.manifest.json").read_text())
    assert list(manifest["errors"]) == ["empty"] and "2/3 reports extracted" in done.stderr


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.ray
def test_the_vllm_engine_runs_in_a_ray_replica(tmp_path):
    pytest.importorskip("vllm")
    gold = read_radgraph(Path(__file__).parent.parent / "eval" / "data" / "sample_gold.json")[:6]
    source = tmp_path / "reports.jsonl"
    source.write_text("".join(json.dumps({"id": doc.id, "report": doc.text}) + "\n" for doc in gold))
    output = tmp_path / "out.json"
    done = run("extract", str(source), "-o", str(output), "--backend", "vllm", "--engine", "ray", "-q",
               "--cpus-per-replica", "2", "--shots", "1", "--max-tokens", "256", timeout=900)  # as test_vllm's runs
    assert done.returncode == 0, done.stderr
    manifest = json.loads(output.with_name("out.json.manifest.json").read_text())
    assert manifest["engine"]["name"] == "ray" and manifest["backend"]["backend"] == "vllm"
    assert manifest["counts"]["reports_ok"] == 6 and manifest["counts"]["completion_tokens"] > 0
    docs = read_radgraph(output)  # the reader checks that every entity is a span of its report
    assert [doc.id for doc in docs] == [doc.id for doc in gold]
    assert sum(len(doc.entities) for doc in docs) > 0


@pytest.mark.parametrize("extra, message", [
    (["--replicas", "2"], "llmgraph: --replicas: options of --engine ray"),
    (["--engine", "ray", "--ray-address", "127.0.0.1:1"],
     "llmgraph: the Ray cluster at 127.0.0.1:1 is not reachable (Connection refused)"),
    (["--engine", "ray", "--ray-address", "nowhere"],
     "llmgraph: --ray-address 'nowhere': expected HOST:PORT, ray://HOST:PORT, auto or local"),
    (["--engine", "ray", "--cpus-per-replica", "nan"], "llmgraph: --cpus-per-replica must be a finite number, not nan"),
    (["--engine", "ray", "--cpus-per-replica", "inf"], "llmgraph: --cpus-per-replica must be a finite number, not inf"),
    (["--engine", "ray", "--gpus-per-replica", "nan"], "llmgraph: --gpus-per-replica must be a finite number, not nan"),
])
def test_bad_ray_options_are_one_line_errors(span_model, tmp_path, extra, message):
    source = tmp_path / "reports.txt"
    source.write_text("No effusion.\n")
    done = llmgraph(*span_args(source, tmp_path / "out.json", span_model, *extra))
    assert done.exit_code == 2
    assert done.stderr.strip() == message


def test_a_bad_ray_address_in_the_environment_is_named_as_such(span_model, tmp_path, monkeypatch):
    source = tmp_path / "reports.txt"
    source.write_text("No effusion.\n")
    monkeypatch.setenv("RAY_ADDRESS", "nowhere")
    done = llmgraph(*span_args(source, tmp_path / "out.json", span_model, "--engine", "ray"))
    assert done.exit_code == 2
    assert done.stderr.strip() == "llmgraph: RAY_ADDRESS 'nowhere': expected HOST:PORT, ray://HOST:PORT, auto or local"


def test_replicas_the_cluster_cannot_place_are_refused():
    from llmgraph.core.errors import InputError
    from llmgraph.runs.ray_engine import RayOptions

    two_cpus = [{"CPU": 2.0}]
    RayOptions(replicas=2).check_fits(two_cpus)
    RayOptions(replicas=2, cpus_per_replica=1, gpus_per_replica=0.5).check_fits([{"CPU": 4.0, "GPU": 1.0}])
    with pytest.raises(InputError, match=r"no node of the Ray cluster has 1 CPU and 1 GPU for a replica \(1 node\(s\), "
                                         r"the largest with 2 CPU and 0 GPU\)"):
        RayOptions(gpus_per_replica=1).check_fits(two_cpus)
    with pytest.raises(InputError, match="no node of the Ray cluster has 64 CPU"):
        RayOptions(cpus_per_replica=64).check_fits(two_cpus + [{"CPU": 8.0}])
    with pytest.raises(InputError, match=r"holds 2 replica\(s\) of 1 CPU, not --replicas 3"):
        RayOptions(replicas=3).check_fits(two_cpus)


@pytest.mark.ray
def test_a_replica_asking_for_a_gpu_on_a_cluster_without_one_is_refused_not_left_waiting(span_model, tmp_path):
    source = tmp_path / "reports.txt"
    source.write_text("No effusion.\n")
    done = run(*span_args(source, tmp_path / "out.json", span_model, "--engine", "ray", "--gpus-per-replica", "1"),
               timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(
        "llmgraph: no node of the Ray cluster has 1 CPU and 1 GPU for a replica (1 node(s), the largest with")
    assert not (tmp_path / "out.json").exists()


def test_a_dataset_without_the_text_column_is_a_one_line_error(span_model, tmp_path):
    import pandas as pd

    source = tmp_path / "reports.parquet"
    pd.DataFrame({"id": ["a"], "body": ["No effusion."]}).to_parquet(source)
    done = llmgraph(*span_args(source, tmp_path / "out.json", span_model, "--engine", "ray"))
    assert done.exit_code == 2
    assert done.stderr.strip() == (f"llmgraph: {source}: no report text column (looked for report, text, "
                                   "report_text; choose one with --text-column)")
