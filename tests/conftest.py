"""Shared fixtures: what is expensive is made once per session (a trained span model, a LoRA adapter, the
resume tests' reports and run, one vLLM engine), and once for all workers when the suite runs in parallel
(``pytest -n 2``): the first worker to need it builds it under a lock in the run's shared temp folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import radgraph_reference


# The longest test files (measured, eval/results/test_durations_*.txt) run first, so that two workers
# (``pytest -n 2 --dist loadfile``) finish together instead of one waiting on the last long file.
LONGEST_FIRST = ("test_vllm_server.py", "test_extract.py", "test_ray.py", "test_finetune.py", "test_vllm.py",
                 "test_readme.py", "test_compare.py", "test_resume.py")


def pytest_collection_modifyitems(items):
    """Tests that drive the browser (the ``page`` fixture) are marked ``browser``, so that
    ``pytest -m "not vllm and not browser"`` runs without vLLM, playwright or Chromium; the longest
    files first (``LONGEST_FIRST``), the others in their order."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


def pytest_configure(config):
    """In a parallel run each worker computes with one thread (two workers share two cores), as vLLM's
    and torch's defaults would otherwise put four busy threads on two cores."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        with contextlib.suppress(ImportError):
            import torch

            torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def shared(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """``name``'s folder in the temp folder shared by all workers of this run, built once by ``build(folder)``
    (the first worker to get here builds it under a lock; the others wait for it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # pytest-xdist gives each worker a folder below the run's own
    folder, done = root / "shared" / name, root / "shared" / f"{name}.done"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(root / "shared" / f"{name}.lock"):
        if not done.exists():
            folder.mkdir(exist_ok=True)
            build(folder)
            done.touch()
    return folder


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    from llmgraph.extraction.models import resolve_model

    return resolve_model(None)


@pytest.fixture(scope="session")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


@pytest.fixture(scope="session")
def span_model(tmp_path_factory) -> Path:
    """A span baseline trained on the 28 sample gold reports (5 epochs, about 25 s on two cores)."""
    def train(folder: Path) -> None:
        from llmgraph.core.resources import sample_gold_path
        from llmgraph.io.radgraph_reader import read_radgraph
        from llmgraph.training.span.train import train_span

        docs = read_radgraph(sample_gold_path())
        train_span(docs, docs, folder / "model", epochs=5, batch_size=8, progress=False)

    return shared(tmp_path_factory, "span", train) / "model"


@pytest.fixture(scope="session")
def lora_adapter(tmp_path_factory) -> Path:
    """A LoRA adapter of the embedded model (``train-llm --method lora --no-merge``), trained for two
    steps on four short reports (about 15 s): for the adapter paths (peft, vLLM's LoRARequest, vllm serve)."""
    pytest.importorskip("peft")

    def train(folder: Path) -> None:
        from test_finetune import tiny_reports

        from llmgraph.training.llm.config import LLMTrainingConfig
        from llmgraph.training.llm.train import train_llm

        train_llm(tiny_reports(), None, folder / "adapter", LLMTrainingConfig(
            method="lora", lora_rank=8, merge=False, epochs=2, learning_rate=1e-3), progress=False)

    return shared(tmp_path_factory, "lora", train) / "adapter"


@pytest.fixture(scope="session")
def reports(tmp_path_factory) -> Path:
    """200 synthetic reports (JSONL), for the resume and Ray tests."""
    def write(folder: Path) -> None:
        from typer.testing import CliRunner

        from llmgraph.cli.app import app

        done = CliRunner().invoke(app, ["synth", "-n", "200", "-o", str(folder / "reports.jsonl"), "--seed", "5"])
        assert done.exit_code == 0, done.stderr

    return shared(tmp_path_factory, "resume", write) / "reports.jsonl"


@pytest.fixture(scope="session")
def uninterrupted(reports, span_model, tmp_path_factory) -> Path:
    """The span baseline's uninterrupted run over ``reports``: what a killed and resumed run must equal."""
    def run(folder: Path) -> None:
        from typer.testing import CliRunner

        from llmgraph.cli.app import app

        done = CliRunner().invoke(app, ["extract", str(reports), "-o", str(folder / "out.json"), "--type", "span",
                                        "--model", str(span_model)])
        assert done.exit_code == 0, done.stderr

    return shared(tmp_path_factory, "whole", run) / "out.json"


@pytest.fixture(scope="session")
def vllm_engine():
    """One vLLM offline engine of the embedded model (default grammar backend), for every test that only needs
    its generations; tests of engine options (another grammar backend, LoRA, train-llm's own) build their own."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'llmgraph[cpu]' or 'llmgraph[vllm]')")
    from llmgraph.extraction.backends import Decoding
    from llmgraph.extraction.backends.vllm import VLLMBackend

    engine = VLLMBackend(None, Decoding())
    yield engine
    engine.close()


@pytest.fixture
def shared_vllm(vllm_engine, monkeypatch):
    """Commands run in this process (typer's runner) get ``vllm_engine`` for ``--backend vllm`` on the embedded
    model with the engine's grammar backend, with their own decoding settings; anything else builds its own."""
    import copy

    import llmgraph.systems.backend_pool as systems

    real = systems.create_backend

    def create(name, model, decoding, **options):
        if name == "vllm" and model is None and options in ({}, {"grammar_backend": vllm_engine.grammar_backend}):
            view = copy.copy(vllm_engine)  # the same engine; its own decoding; closing it leaves the engine up
            view.decoding, view.close = decoding, lambda: None
            return view
        return real(name, model, decoding, **options)

    monkeypatch.setattr(systems, "create_backend", create)
    return vllm_engine
