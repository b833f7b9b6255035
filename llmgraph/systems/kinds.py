"""The kinds of system, by the name users write (``type:`` in experiment files, ``llmgraph extract --type``).

A new kind is one module in this folder with a ``SystemKind`` subclass and one line here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmgraph.core.registry import Registry
from llmgraph.systems.base import System, SystemContext, SystemKind

SYSTEM_KINDS = Registry("system type", {
    "llm": "llmgraph.systems.llm:LLMKind",
    "span": "llmgraph.systems.span:SpanKind",
    "radgraph": "llmgraph.systems.radgraph:RadGraphKind",
    "predictions": "llmgraph.systems.predictions:PredictionsKind",
}, SystemKind)


def system_kind(name: str) -> SystemKind:
    """The kind named ``name``; an unknown name is a one-line error naming the kinds."""
    return SYSTEM_KINDS.load(name)()


def runnable_kinds() -> list[str]:
    """The kinds ``llmgraph extract`` runs (predictions files are made elsewhere)."""
    return [name for name in SYSTEM_KINDS if system_kind(name).runnable]


def system_config(kind: str, settings: dict[str, Any]) -> Any:
    """The typed config of a system of type ``kind`` from its experiment-file keys."""
    return system_kind(kind).config_of(settings)


def build_system(kind: str, settings: dict[str, Any], examples_source: str | Path | None = None,
                 examples_labeler: str = "1") -> System:
    """The System of type ``kind`` from its experiment-file keys, drawing exemplars from ``examples_source``
    (default: the sample gold set); the model loads on first use."""
    chosen = system_kind(kind)
    context = SystemContext(examples_source=examples_source, examples_labeler=examples_labeler)
    return chosen.build(chosen.config_of(settings), context)
