"""Grounding: the model's entity texts become token spans of the report; relations get ids.

Each entity text is tokenized like the report and looked up among the report's tokens:
exactly, then ignoring case, then (only when asked) by a bounded fuzzy match. Repeated
mentions of the same text go to successive occurrences. What cannot be grounded is dropped
and counted, never silently: so are duplicates and relations whose ends were dropped.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from jsonschema import Draft202012Validator

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.core.tokenize import tokenize
from llmgraph.extraction.confidence import ItemScores

FUZZY_MIN_RATIO = 0.85


@dataclass
class GroundingStats:
    """Counts of what happened to the model's entities and relations."""

    counts: Counter = field(default_factory=Counter)

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] += amount


def parse_output(text: str, schema: dict[str, Any] | None) -> dict[str, Any]:
    """The model's JSON, checked against the output schema; ``InputError`` says what is wrong."""
    try:
        output = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"model output is not valid JSON ({error.msg} at character {error.pos})") from None
    if schema is not None:
        problem = next(iter(Draft202012Validator(schema).iter_errors(output)), None)
        if problem is not None:
            where = ".".join(map(str, problem.absolute_path))
            raise InputError(f"model output does not match the output schema ({where}: {problem.message})")
    return output


def _occurrences(needle: list[str], haystack: list[str], fold: bool) -> list[int]:
    if fold:
        needle, haystack = [t.lower() for t in needle], [t.lower() for t in haystack]
    width = len(needle)
    return [i for i in range(len(haystack) - width + 1) if haystack[i:i + width] == needle]


def _fuzzy(needle: list[str], haystack: list[str]) -> list[int]:
    """Starts of windows of the same length whose text is close enough (case-insensitive)."""
    target = " ".join(needle).lower()
    width = len(needle)
    scored = []
    for i in range(len(haystack) - width + 1):
        ratio = difflib.SequenceMatcher(None, target, " ".join(haystack[i:i + width]).lower()).ratio()
        if ratio >= FUZZY_MIN_RATIO:
            scored.append((-ratio, i))
    return [i for _, i in sorted(scored)]


def _locate(text: str, tokens: list[str], taken: set[tuple[int, int]], after: int, fuzzy: bool,
            stats: GroundingStats) -> tuple[int, int] | None:
    needle = [token.text for token in tokenize(text)]
    if not needle:
        return None
    for how, starts in (("exact", lambda: _occurrences(needle, tokens, False)),
                        ("case", lambda: _occurrences(needle, tokens, True)),
                        ("fuzzy", lambda: _fuzzy(needle, tokens) if fuzzy else [])):
        free = [(s, s + len(needle) - 1) for s in starts() if (s, s + len(needle) - 1) not in taken]
        if free:
            stats.add(f"entities_grounded_{how}")
            return next((span for span in free if span[0] >= after), free[0])
    return None


def _resolve_target(text: str, source: Entity, entities: list[Entity]) -> Entity | None:
    """The entity a relation's target text names: same tokens (then same tokens ignoring case),
    nearest to the source when the text occurs more than once."""
    wanted = [token.text for token in tokenize(text)]
    for fold in (False, True):
        key = (lambda tokens: [t.lower() for t in tokens]) if fold else (lambda tokens: tokens)
        matches = [e for e in entities if e is not source and key(e.tokens.split()) == key(wanted)]
        if matches:
            return min(matches, key=lambda e: (abs(e.start_ix - source.start_ix), e.start_ix < source.start_ix))
    return None


def ground(doc: Document, output: dict[str, Any], fuzzy: bool = False,
           scores: ItemScores | None = None) -> tuple[Document, GroundingStats]:
    """A copy of ``doc`` holding the model's entities and relations, grounded to its tokens (with the
    ``scores`` of the answer's items when there are any)."""
    stats = GroundingStats()
    tokens = doc.tokens
    taken: set[tuple[int, int]] = set()
    grounded: list[tuple[tuple[int, int], dict[str, Any]]] = []
    after = 0
    for number, item in enumerate(output.get("entities", [])):
        stats.add("entities_generated")
        span = _locate(item["text"], tokens, taken, after, fuzzy, stats)
        if span is None:
            exists = _occurrences([t.text for t in tokenize(item["text"])], tokens, True)
            stats.add("entities_dropped_duplicate" if exists else "entities_dropped_ungrounded")
            stats.add("relations_generated", len(item.get("relations", [])))
            stats.add("relations_dropped", len(item.get("relations", [])))
            continue
        taken.add(span)
        grounded.append((span, item, number))
        after = span[1] + 1
    grounded.sort(key=lambda found: found[0])
    entities = [Entity(str(new_id), " ".join(tokens[start:end + 1]), item["label"], start, end,
                       scores.entities[number] if scores else None)
                for new_id, ((start, end), item, number) in enumerate(grounded, 1)]
    relations: list[Relation] = []
    seen: set[tuple[str, str, str]] = set()
    for entity, (_, item, number) in zip(entities, grounded):
        for place, (kind, target_text) in enumerate(item.get("relations", [])):
            stats.add("relations_generated")
            target = _resolve_target(target_text, entity, entities)
            if target is None or (kind, entity.id, target.id) in seen:
                stats.add("relations_dropped")
                continue
            seen.add((kind, entity.id, target.id))
            relations.append(Relation(kind, entity.id, target.id, scores.relations[number][place] if scores else None))
    stats.add("entities_kept", len(entities))
    stats.add("relations_kept", len(relations))
    return replace(doc, entities=entities, relations=relations), stats
