"""The cache key of a system's predictions on a gold set: a comparison reuses them while it is unchanged."""

from __future__ import annotations

from typing import Any

from llmgraph import __version__
from llmgraph.core.document import Document
from llmgraph.core.fingerprints import value_sha256
from llmgraph.harness.experiment import SystemSpec
from llmgraph.systems.kinds import system_kind


def cache_key(spec: SystemSpec, gold: list[Document], examples: list[Document], system: dict[str, Any]) -> str:
    """What decides a system's predictions: its settings as written and as the built system states them
    (``system``: ``System.settings()``, with the model's fingerprint), the prompt file, the reports, the
    exemplars."""
    parts: dict[str, Any] = {"llmgraph": __version__, "type": spec.type, "settings": spec.settings,
                             "system": system, "reports": value_sha256([[doc.id, doc.text, doc.modality] for doc in gold])}
    kind = system_kind(spec.type)
    parts.update(kind.cache_parts(kind.config_of(spec.settings), examples))
    return value_sha256(parts)
