"""Shared fixtures: the embedded model (converted once into the user cache) and its tokenizer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import radgraph_reference


def pytest_collection_modifyitems(items):
    """Tests that drive the browser (the ``page`` fixture) are marked ``browser``, so that
    ``pytest -m "not vllm and not browser"`` runs without vLLM, playwright or Chromium."""
    for item in items:
        if "page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    from llmgraph.models import resolve_model

    return resolve_model(None)


@pytest.fixture(scope="session")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)


@pytest.fixture(scope="session")
def span_model(tmp_path_factory) -> Path:
    """A span baseline trained on the 28 sample gold reports (5 epochs, about 25 s on two cores)."""
    from llmgraph.formats import read_radgraph
    from llmgraph.prompting import sample_gold_path
    from llmgraph.span import train_span

    docs = read_radgraph(sample_gold_path())
    folder = tmp_path_factory.mktemp("span") / "model"
    train_span(docs, docs, folder, epochs=5, batch_size=8, progress=False)
    return folder


@pytest.fixture(scope="session")
def lora_adapter(tmp_path_factory) -> Path:
    """A LoRA adapter of the embedded model (``train-llm --method lora --no-merge``), trained for two
    steps on four short reports (about 15 s): for the adapter paths (peft, vLLM's LoRARequest, vllm serve)."""
    pytest.importorskip("peft")
    from test_finetune import tiny_reports

    from llmgraph.finetune import LLMTrainingConfig, train_llm

    folder = tmp_path_factory.mktemp("lora") / "adapter"
    train_llm(tiny_reports(), None, folder, LLMTrainingConfig(method="lora", lora_rank=8, merge=False, epochs=2,
                                                              learning_rate=1e-3), progress=False)
    return folder


@pytest.fixture(scope="session")
def reports(tmp_path_factory) -> Path:
    """200 synthetic reports (JSONL), for the resume and Ray tests."""
    from typer.testing import CliRunner

    from llmgraph.cli import app

    path = tmp_path_factory.mktemp("resume") / "reports.jsonl"
    assert CliRunner().invoke(app, ["synth", "-n", "200", "-o", str(path), "--seed", "5"]).exit_code == 0
    return path


@pytest.fixture(scope="session")
def uninterrupted(reports, span_model, tmp_path_factory) -> Path:
    """The span baseline's uninterrupted run over ``reports``: what a killed and resumed run must equal."""
    from typer.testing import CliRunner

    from llmgraph.cli import app

    output = tmp_path_factory.mktemp("whole") / "out.json"
    done = CliRunner().invoke(app, ["extract", str(reports), "-o", str(output), "--type", "span", "--model",
                                    str(span_model)])
    assert done.exit_code == 0, done.stderr
    return output


@pytest.fixture(scope="session")
def vllm_engine():
    """One vLLM offline engine of the embedded model (default grammar backend), for every test that only needs
    its generations; tests of engine options (another grammar backend, LoRA, train-llm's own) build their own."""
    pytest.importorskip("vllm", reason="vLLM is not installed (pip install 'llmgraph[cpu]' or 'llmgraph[vllm]')")
    from llmgraph.backends import Decoding
    from llmgraph.backends.vllm import VLLMBackend

    engine = VLLMBackend(None, Decoding())
    yield engine
    engine.close()


@pytest.fixture
def shared_vllm(vllm_engine, monkeypatch):
    """Commands run in this process (typer's runner) get ``vllm_engine`` for ``--backend vllm`` on the embedded
    model with the engine's grammar backend, with their own decoding settings; anything else builds its own."""
    import copy

    import llmgraph.systems as systems

    real = systems.create_backend

    def create(name, model, decoding, **options):
        if name == "vllm" and model is None and options in ({}, {"grammar_backend": vllm_engine.grammar_backend}):
            view = copy.copy(vllm_engine)  # the same engine; its own decoding; closing it leaves the engine up
            view.decoding, view.close = decoding, lambda: None
            return view
        return real(name, model, decoding, **options)

    monkeypatch.setattr(systems, "create_backend", create)
    return vllm_engine
