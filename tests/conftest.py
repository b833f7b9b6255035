"""Shared fixtures: the embedded model (converted once into the user cache) and its tokenizer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import radgraph_reference


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    from llmgraph.models import resolve_model

    return resolve_model(None)


@pytest.fixture(scope="session")
def tokenizer(embedded_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model)
