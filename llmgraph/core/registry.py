"""Name -> implementation tables, imported lazily: an entry is ``"module:attribute"``, so an optional
dependency (vLLM, torch, the radgraph package) is imported only when its entry is used.

``llmgraph.extraction.backends.BACKENDS`` (generation engines) and ``llmgraph.systems.kinds.SYSTEM_KINDS`` (kinds of
system) are the two registries; adding an implementation is one file and
one line in its table.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator

from llmgraph.core.errors import InputError


class Registry:
    """Names (as users write them) to ``"module:attribute"`` entries, resolved on first use."""

    def __init__(self, what: str, entries: dict[str, str], kind: type | None = None):
        """``kind``: the class every entry must be (or subclass), checked when an entry is loaded."""
        self.what = what
        self.entries = dict(entries)
        self.kind = kind

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
        found = getattr(module, attribute)
        if self.kind is not None and not (found is self.kind or isinstance(found, self.kind)
                                          or (isinstance(found, type) and issubclass(found, self.kind))):
            raise TypeError(f"{self.what} {name!r} ({self.entries[name]}) is not a {self.kind.__name__}")
        return found
