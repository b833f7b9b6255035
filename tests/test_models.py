"""Model resolution: the embedded default, local folders, the user's hub cache, and clear errors."""

from __future__ import annotations

import pytest

from llmgraph.core.errors import InputError
from llmgraph.extraction.models import DEFAULT_MODEL, resolve_model


def test_embedded_default_is_a_converted_folder(embedded_model):
    assert resolve_model(None) == resolve_model(DEFAULT_MODEL) == embedded_model
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in embedded_model.iterdir()}


def test_local_folder_and_hub_cache(tmp_path, monkeypatch):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert resolve_model(str(folder)) == folder.resolve()
    # A model id already in the user's Hugging Face cache (laid out as huggingface_hub does).
    cache = tmp_path / "hub"
    snapshot = cache / "models--acme--rad-7b" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--acme--rad-7b" / "refs").mkdir()
    (cache / "models--acme--rad-7b" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    assert resolve_model("acme/rad-7b") == snapshot


def test_clear_errors(tmp_path):
    with pytest.raises(InputError, match="not a local folder and not in the Hugging Face cache"):
        resolve_model("nobody/no-such-model")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="has no config.json"):
        resolve_model(str(empty))
