"""``llm_model.json``: what a folder written by ``llmgraph train-llm`` was trained on and how.

Extraction reads it for the model's defaults (its prompt and label set: the model was trained on
them); ``llmgraph.extraction.models.resolve_weights`` reads it for the base model of a kept LoRA adapter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmgraph.core.errors import InputError

CARD = "llm_model.json"


def read_card(model: str | Path | None) -> dict[str, Any] | None:
    """The training record of a local model folder written by ``train-llm``, or None for any other model
    (the embedded default, a hub id, a served model name, a folder of another origin)."""
    if not model:
        return None
    path = Path(model).expanduser() / CARD
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"not a readable training record ({error.__class__.__name__}: {error})", path) from None
    if not isinstance(card, dict) or not isinstance(card.get("prompt"), dict) or "label_set" not in card:
        raise InputError("not a training record of llmgraph train-llm (no prompt or label_set)", path)
    return card
