"""Files llmgraph ships beside its code: ``schemas/``, ``prompts/``, ``eval/data/sample_gold.json``.

In a checkout (or an editable install) they are read from the repository; a wheel packages them
under ``llmgraph/`` with the same relative paths.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # the llmgraph package folder


def resource(relative: str) -> Path:
    """The shipped file or folder at ``relative`` (a path from the repository root)."""
    packaged = _PACKAGE / relative
    return packaged if packaged.exists() else _PACKAGE.parent / relative


def sample_gold_path() -> Path:
    """The shipped sample gold set: the default pool of few-shot exemplars, the demo's and tests' gold."""
    return resource("eval/data/sample_gold.json")
