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
from typing import Any

ESTIMATORS = ("allowed", "raw")
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


def _walk_strings(value: Any, found: list[Any]) -> None:
    """Every string of a parsed JSON value (keys and values) in the order they were written."""
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(key)
            _walk_strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _walk_strings(item, found)
    elif isinstance(value, str):
        found.append(value)


@dataclass
class ItemScores:
    """Scores of a parsed answer's items: one per entity, one per relation of each entity."""

    entities: list[float]
    relations: list[list[float]]


def item_scores(text: str, output: dict[str, Any], tokens: TokenLogprobs) -> ItemScores | None:
    """The score of every entity and relation of ``output`` (``text`` parsed), or None when the
    answer's strings cannot be lined up with the text (a repeated key, say)."""
    literals = [(match.start(), match.end()) for match in _STRING.finditer(text)]
    strings: list[Any] = []
    _walk_strings(output, strings)
    if len(strings) != len(literals):
        return None
    entities, relations = [], []
    position = 0
    for key, value in output.items():
        position += 1  # the key
        if key != "entities" or not isinstance(value, list):
            position += _count(value)
            continue
        for item in value:
            entity_spans, relation_scores = [], []
            for field_name, field in (item.items() if isinstance(item, dict) else ()):
                position += 1
                if field_name in ("text", "label") and isinstance(field, str):
                    start, end = literals[position]
                    entity_spans.append((start + 1, end))
                    position += 1
                elif field_name == "relations" and isinstance(field, list):
                    for relation in field:
                        parts = [literals[position + i] for i in range(_count(relation))]
                        position += len(parts)
                        relation_scores.append(tokens.probability([(start + 1, end) for start, end in parts]))
                else:
                    position += _count(field)
            entities.append(tokens.probability(entity_spans))
            relations.append(relation_scores)
    return ItemScores(entities, relations)


def _count(value: Any) -> int:
    found: list[Any] = []
    _walk_strings(value, found)
    return len(found)


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
