"""The one error type for bad input: it names the file, the report and what is wrong."""

from __future__ import annotations

from pathlib import Path

# Characters ``str.splitlines`` breaks at, shown escaped so a message stays one line whatever ids it quotes.
_LINE_BREAKS = str.maketrans({char: repr(char)[1:-1] for char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})
MAX_PROBLEM = 600  # characters of a problem shown; echoed values (model output, a file's value) are cut to fit
MAX_NAME = 200  # characters of a path or report id shown


def shorten(text: str, limit: int = MAX_PROBLEM) -> str:
    """``text`` cut in the middle to at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 20)
    return f"{text[:keep * 2 // 3]} ... [{len(text) - keep:,} characters left out] ... {text[-(keep // 3):]}"


class InputError(Exception):
    """Bad input, reported to users as one line: ``FILE: report ID: problem``.

    Whatever the problem quotes, the line stays short: the problem is cut to ``MAX_PROBLEM``
    characters and the path and id to ``MAX_NAME``.
    """

    def __init__(self, problem: str, path: str | Path | None = None, doc_id: str | None = None):
        self.problem, self.path, self.doc_id = shorten(str(problem)), path, doc_id
        where = [shorten(str(part), MAX_NAME) for part in (path, None if doc_id is None else f"report {doc_id}")
                 if part]
        super().__init__(": ".join([*where, self.problem]).translate(_LINE_BREAKS))

    def at(self, path: str | Path | None = None, doc_id: str | None = None) -> "InputError":
        """The same problem, located in ``path`` / report ``doc_id`` unless already located."""
        return InputError(self.problem, self.path or path, self.doc_id if self.doc_id is not None else doc_id)
