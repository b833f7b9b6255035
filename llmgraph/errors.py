"""The one error type for bad input: it names the file, the report and what is wrong."""

from __future__ import annotations

from pathlib import Path

# Characters ``str.splitlines`` breaks at, shown escaped so a message stays one line whatever ids it quotes.
_LINE_BREAKS = str.maketrans({char: repr(char)[1:-1] for char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})


class InputError(Exception):
    """Bad input, reported to users as one line: ``FILE: report ID: problem``."""

    def __init__(self, problem: str, path: str | Path | None = None, doc_id: str | None = None):
        self.problem, self.path, self.doc_id = problem, path, doc_id
        where = [str(part) for part in (path, None if doc_id is None else f"report {doc_id}") if part]
        super().__init__(": ".join([*where, problem]).translate(_LINE_BREAKS))

    def at(self, path: str | Path | None = None, doc_id: str | None = None) -> "InputError":
        """The same problem, located in ``path`` / report ``doc_id`` unless already located."""
        return InputError(self.problem, self.path or path, self.doc_id if self.doc_id is not None else doc_id)
