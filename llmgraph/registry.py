"""Name -> implementation tables, imported lazily: an entry is ``"module:attribute"``, so an optional
dependency (vLLM, torch, the radgraph package) is imported only when its entry is used.

``llmgraph.backends.BACKENDS`` (generation engines) and ``llmgraph.systems.SYSTEM_TYPES`` (kinds of
system, by their typed config) are the two registries; adding an implementation is one file and
one line in its table.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator

from llmgraph.errors import InputError


class Registry:
    """Names (as users write them) to ``"module:attribute"`` entries, resolved on first use."""

    def __init__(self, what: str, entries: dict[str, str]):
        self.what = what
        self.entries = dict(entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def names(self) -> str:
        return ", ".join(self.entries)

    def load(self, name: str) -> Any:
        """The implementation registered as ``name``; an unknown name or a missing optional dependency
        is a one-line error."""
        if name not in self.entries:
            raise InputError(f"unknown {self.what} {name!r} (expected one of {self.names()})")
        module_name, _, attribute = self.entries[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and not error.name.startswith("llmgraph"):
                raise InputError(f"{self.what} {name} needs the Python package {error.name!r}, "
                                 "which is not installed") from None
            raise
        return getattr(module, attribute)
