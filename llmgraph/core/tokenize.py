"""RadGraph-XL tokenization with character offsets into the original report.

Reproduces ``radgraph.utils.radgraph_xl_preprocess_report`` (radgraph 0.1.18): a few
escape-sequence rewrites, whitespace folding, NLTK's wordpunct split (``\\w+|[^\\w\\s]+``)
and five punctuation patches. Every rewrite there keeps string length or only inserts
spaces, so each token can be traced back to the characters it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Rewrites applied before splitting; each keeps the length of the text.
_ESCAPE_REWRITES = (("\\n", "  "), ("\\f", "  "), ("\\u2122", "      "), ("\n", " "), ('\\"', "``"))
# Patches applied after splitting; each only inserts a space inside one punctuation run.
_PUNCT_PATCHES = ((").", ") ."), ("%.", "% ."), (".'", ". '"), ("%,", "% ,"), ("%)", "% )"))
_WORDPUNCT = re.compile(r"\w+|[^\w\s]+")


@dataclass(frozen=True)
class Token:
    """One RadGraph token and the half-open character span it came from."""

    text: str
    start: int
    end: int


def _rewrite_escapes(text: str) -> str:
    for old, new in _ESCAPE_REWRITES:
        text = text.replace(old, new)
    return text


def _patch(piece: str, start: int) -> list[Token]:
    """Split one wordpunct piece by the punctuation patches (words pass unchanged)."""
    patched = piece
    for old, new in _PUNCT_PATCHES:
        patched = patched.replace(old, new)
    tokens, cursor = [], start
    for part in patched.split(" "):
        tokens.append(Token(part, cursor, cursor + len(part)))
        cursor += len(part)
    return tokens


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Tokenize ``text[start:end]`` as RadGraph-XL does; offsets index ``text``.

    A token's ``text`` can differ from ``text[token.start:token.end]`` only where the
    package rewrites an escaped quote (``\\"`` becomes the token ``````).
    """
    end = len(text) if end is None else end
    # Rewrite the whole report so an escape sequence cut by ``start`` behaves as in a full pass.
    rewritten = _rewrite_escapes(text)
    tokens: list[Token] = []
    for match in _WORDPUNCT.finditer(rewritten, start, end):
        tokens.extend(_patch(match.group(), match.start()))
    return tokens


def radgraph_text(text: str) -> str:
    """The space-joined token string RadGraph stores as a document's ``text``."""
    return " ".join(token.text for token in tokenize(text))
