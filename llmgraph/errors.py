"""The one error type for bad input: it names the file, the report and what is wrong."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input, reported to users as one line: ``FILE: report ID: problem``."""

    def __init__(self, problem: str, path: str | Path | None = None, doc_id: str | None = None):
        self.problem, self.path, self.doc_id = problem, path, doc_id
        where = [str(part) for part in (path, None if doc_id is None else f"report {doc_id}") if part]
        super().__init__(": ".join([*where, problem]))

    def at(self, path: str | Path | None = None, doc_id: str | None = None) -> "InputError":
        """The same problem, located in ``path`` / report ``doc_id`` unless already located."""
        return InputError(self.problem, self.path or path, self.doc_id if self.doc_id is not None else doc_id)
