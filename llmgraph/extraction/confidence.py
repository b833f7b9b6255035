"""An LLM's confidence in each entity and relation it wrote, from the log-probabilities of the tokens
that wrote it.

An answer's tokens come with their character ends in the answer text and a log-probability each. An
entity's score is the probability of the tokens that wrote its text and its label (each string's
characters and its closing quote: closing a span is the decision that sets its end), ``exp`` of their
summed log-probabilities; a relation's, of the tokens that wrote its type and its target. Which
log-probabilities these are is the backend's: under a grammar, vLLM returns them renormalised over the
tokens the grammar allowed (``allowed``); transformers can also give the model's own before the mask
(``raw``). README, Confidence, says which was chosen and why.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any

ESTIMATORS = ("allowed", "raw")
KEY = object()  # marks the path of a key (not a value) in ``_string_paths``
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


@dataclass(frozen=True)
class TokenLogprobs:
    """An answer's tokens: where each ends in the answer text, and its log-probability."""

    ends: list[int]
    logprobs: list[float]

    def probability(self, spans: list[tuple[int, int]]) -> float:
        """The probability of the tokens that overlap any of ``spans`` (character ranges, end excluded)."""
        chosen: set[int] = set()
        for start, end in spans:
            first = bisect.bisect_right(self.ends, start)  # the first token ending after ``start``
            index = first
            while index < len(self.ends) and (self.ends[index - 1] if index else 0) < end:
                chosen.add(index)
                index += 1
        return math.exp(sum(self.logprobs[i] for i in chosen)) if chosen else 1.0


def _string_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every string of a parsed JSON value (keys and values) in the order they were written; a
    key's path ends with ``KEY``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key, KEY)
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _string_paths(item, (*path, index))
    elif isinstance(value, str):
        yield path


@dataclass
class ItemScores:
    """Scores of a parsed answer's items: one per entity, one per relation of each entity."""

    entities: list[float]
    relations: list[list[float]]


def item_scores(text: str, output: dict[str, Any], tokens: TokenLogprobs) -> ItemScores | None:
    """The score of every entity and relation of ``output`` (``text`` parsed), or None when the
    answer's strings cannot be lined up with the text (a repeated key, say)."""
    literals = [(match.start() + 1, match.end()) for match in _STRING.finditer(text)]  # characters + closing quote
    paths = list(_string_paths(output))
    if len(paths) != len(literals):
        return None
    entities = output.get("entities") if isinstance(output.get("entities"), list) else []
    entity_spans: list[list[tuple[int, int]]] = [[] for _ in entities]
    relation_spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for path, span in zip(paths, literals):
        if path[:1] != ("entities",) or KEY in path or len(path) < 3:
            continue
        if path[2] in ("text", "label"):
            entity_spans[path[1]].append(span)
        elif path[2] == "relations" and len(path) == 5:
            relation_spans.setdefault((path[1], path[3]), []).append(span)
    relations = [[tokens.probability(relation_spans.get((number, place), []))
                  for place in range(len(item.get("relations", [])) if isinstance(item, dict) else 0)]
                 for number, item in enumerate(entities)]
    return ItemScores([tokens.probability(spans) for spans in entity_spans], relations)


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def chat_token_logprobs(content: list[Any] | None, text: str) -> TokenLogprobs | None:
    """The tokens of an OpenAI-style chat answer (``choices[0].logprobs.content``: token, logprob and
    bytes each, as objects or dicts) lined up with its ``text``; None when the server sent none or they
    do not add up to the text."""
    if not content:
        return None
    try:
        pieces = [_field(item, "token") for item in content]
        logprobs = [float(_field(item, "logprob")) for item in content]
    except (TypeError, ValueError):
        return None
    if all(isinstance(piece, str) for piece in pieces) and "".join(pieces) == text:
        return TokenLogprobs(list(itertools.accumulate(map(len, pieces))), logprobs)
    raw = [_field(item, "bytes") for item in content]
    if not all(isinstance(part, list) for part in raw):
        return None
    ends, data = [], b""
    for part in raw:
        data += bytes(part)
        ends.append(len(data.decode("utf-8", errors="ignore")))
    return TokenLogprobs(ends, logprobs) if data.decode("utf-8", errors="replace") == text else None
