"""Rules every system applies to every report before predicting it (LLM, span baseline, radgraph package),
and that training data is filtered by: a report that cannot be extracted, and why."""

from __future__ import annotations

import re

from llmgraph.core.document import Document

# Longer reports are refused per report by every system, before any model sees them.
MAX_REPORT_WORDS = 2000
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def unicode_problem(text: str | None) -> str | None:
    """Why ``text`` cannot be encoded as UTF-8 (a lone surrogate, which tokenizers and servers reject), or None."""
    found = _SURROGATE.search(text or "")
    if found is None:
        return None
    return f"text is not valid Unicode (lone surrogate U+{ord(found.group()):04X} at character {found.start()})"


def report_problem(doc: Document, max_words: int | None = None) -> str | None:
    """Why a report cannot be extracted at all (a reader's note, invalid Unicode, no text, more than
    ``max_words`` tokens), or None. Every system asks this of every report before predicting it."""
    if doc.meta.get("problem"):
        return doc.meta["problem"]
    problem = unicode_problem(doc.source_text if doc.source_text is not None else doc.text)
    if problem:
        return problem
    if not doc.tokens:
        return "empty report"
    if max_words is not None and len(doc.tokens) > max_words:
        return f"report too long ({len(doc.tokens)} tokens > {max_words})"
    return None
