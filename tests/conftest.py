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
