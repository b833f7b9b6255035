"""What constrained decoding is handed: the static output schema or a per-report grammar.

Grammar modes:
- ``none``: free text (for measuring what constraints buy);
- ``json``: ``schemas/extraction.schema.json``, the same for every report;
- ``report``: a per-report grammar. Entity texts can only be word n-grams of this report,
  listed in report order, each starting after the previous one ends: the model cannot loop,
  repeat itself or invent text, so every entity is grounded by construction. Rendered as Lark
  (llguidance) or EBNF (xgrammar).
- ``report-near``: the same, but the next entity starts within ``NEAR_WINDOW`` tokens of where the
  previous one ended (or at the nearest candidate after it when none starts that close): a wrong
  first token cannot jump far ahead and lose everything between.
- ``report-any``: entity texts are the report's candidate spans in any order (one terminal of
  literals), at most ``max_entities`` of them; repeats are dropped by grounding, counted.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Callable, Iterable

from llmgraph.core.document import Document
from llmgraph.core.labels import RELATION_TYPES
from llmgraph.io.validation import load_schema

MAX_SPAN_TOKENS = 12  # "1.9 x 0.6 cm" is 8 RadGraph tokens, "mild - to - moderate" 5
MAX_SPAN_WORDS = 3  # content words: "left lower lobe", "superior vena cava", "swan - ganz catheter"
MAX_INNER_FUNCTION_WORDS = 1  # "out of view", "mild - to - moderate"; never "effusion in the lobe"
MAX_ENTITIES = 60
MAX_RELATIONS_PER_ENTITY = 3  # every relation of the sample and synthetic gold but 2 of 570
# Words that never start or end an entity: function words, and the negation and hedge cues
# that set an entity's certainty but are not entities themselves (RadGraph guidelines).
STOPWORDS = frozenset("""
a an the of in on at to for with without within and or but nor is are was were be been being has have had
there this that these those it its which who by from as than into onto over under per via
no not none neither nor negative may might could can would should will possible possibly probable
probably likely unlikely suggest suggests suggestive concerning consistent compatible represent represents
evidence seen noted identified demonstrated appears appear again also since compared""".split())
# Entities that begin with a function word (device position: "tube in place", "catheter in situ").
FUNCTION_WORD_ENTITIES = frozenset({("in", "place"), ("in", "situ"), ("in", "position"), ("in", "standard", "position"),
                                    ("at", "baseline")})


# Where the next entity may start under ``report-near``: within this many tokens after the previous one
# ends. With it the grammar takes the gold answer of every 30-word chunk of the sample and long gold sets
# (12 misses one of their 206 chunks, 8 eight); eval/bench_grammar.py measures it.
NEAR_WINDOW = 16


class GrammarMode(str, Enum):
    NONE = "none"
    JSON = "json"
    REPORT = "report"
    REPORT_NEAR = "report-near"
    REPORT_ANY = "report-any"

    @property
    def per_report(self) -> bool:
        """A grammar built per report (its entity texts are the report's spans), not a schema or nothing."""
        return self.value.startswith("report")


def output_schema(labels: tuple[str, ...], max_entities: int = MAX_ENTITIES) -> dict[str, Any]:
    """``schemas/extraction.schema.json`` with the run's label enum and entity bound.

    JSON Schema cannot forbid repeats (xgrammar rejects ``uniqueItems``), so ``maxItems`` is
    what ends a list when a small model starts repeating itself.
    """
    schema = copy.deepcopy(load_schema("extraction.schema.json"))
    entities = schema["properties"]["entities"]
    entities["maxItems"] = max_entities
    entities["items"]["properties"]["label"]["enum"] = list(labels)
    return schema


def is_word(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


def _has_letters(token: str) -> bool:
    return any(ch.isalpha() for ch in token)


def _can_bound(token: str) -> bool:
    """Whether an entity may start or end on this token."""
    return is_word(token) and token.lower() not in STOPWORDS


def joins(tokens: list[str], position: int) -> bool:
    """Punctuation that may sit inside an entity: a hyphen or slash, or a decimal point."""
    token = tokens[position]
    if token in ("-", "/"):
        return True
    return token == "." and 0 < position < len(tokens) - 1 and tokens[position - 1].isdigit() and tokens[position + 1].isdigit()


def _decimal_point(tokens: list[str], position: int) -> bool:
    return position < len(tokens) and tokens[position] == "." and joins(tokens, position)


def _header_tokens(tokens: list[str]) -> set[int]:
    """Positions of section-header words ("FINDINGS :", "CLINICAL HISTORY :")."""
    header: set[int] = set()
    for colon, token in enumerate(tokens):
        if token != ":":
            continue
        position = colon - 1
        while position >= 0 and tokens[position].isupper() and len(tokens[position]) > 1:
            header.add(position)
            position -= 1
    return header


@dataclass(frozen=True)
class CandidateSpan:
    """A candidate entity: tokens ``start..end`` (inclusive) and the text the model writes for it."""

    start: int
    end: int
    text: str


def span_text(doc: Document, start: int, end: int) -> str:
    """How tokens ``start..end`` read to a model: the report's own characters when offsets are
    known ("2.5 cm"), else the RadGraph tokens joined by spaces; whitespace folded."""
    if doc.source_text is not None and doc.token_offsets is not None:
        return " ".join(doc.source_text[doc.token_offsets[start][0]:doc.token_offsets[end][1]].split())
    return " ".join(doc.tokens[start:end + 1])


def _negation_cue(tokens: list[str], position: int) -> bool:
    """ "free of" ("lungs are free of consolidation") sets certainty; "free" of "free air" is an entity."""
    return tokens[position].lower() == "free" and position + 1 < len(tokens) and tokens[position + 1].lower() == "of"


def candidate_spans(doc: Document, max_tokens: int = MAX_SPAN_TOKENS, max_words: int = MAX_SPAN_WORDS,
                    max_inner: int = MAX_INNER_FUNCTION_WORDS) -> list[CandidateSpan]:
    """The spans an entity may take: up to ``max_words`` content words (``max_tokens`` tokens) with at most
    ``max_inner`` function words inside, starting and ending on a content word (or one of
    ``FUNCTION_WORD_ENTITIES``), within a sentence, never on a section header or inside a number."""
    tokens = doc.tokens
    lowered = [token.lower() for token in tokens]
    header = _header_tokens(tokens)
    spans = []
    for start in range(len(tokens)):
        if start in header or (start > 0 and _decimal_point(tokens, start - 1)) or not is_word(tokens[start]):
            continue
        for phrase in FUNCTION_WORD_ENTITIES:
            end = start + len(phrase) - 1
            if tuple(lowered[start:end + 1]) == phrase and not header.intersection(range(start, end + 1)):
                spans.append(CandidateSpan(start, end, span_text(doc, start, end)))
        if not _can_bound(tokens[start]) or _negation_cue(tokens, start):
            continue
        words = inner = 0
        for end in range(start, min(start + max_tokens, len(tokens))):
            token = tokens[end]
            if end in header or not (is_word(token) or joins(tokens, end)):
                break
            if _has_letters(token):
                function_word = lowered[end] in STOPWORDS
                words += not function_word
                inner += function_word
                if words > max_words or inner > max_inner:
                    break
            if _can_bound(token) and not _decimal_point(tokens, end + 1):
                spans.append(CandidateSpan(start, end, span_text(doc, start, end)))
    return sorted(set(spans), key=lambda span: (span.start, span.end))


def within_grammar(doc: Document, max_relations: int = MAX_RELATIONS_PER_ENTITY) -> Document:
    """``doc`` cut to what its grammar can produce: entities on candidate spans, in report order without
    overlap, and each entity's first ``max_relations`` relations between kept entities."""
    spans = {(span.start, span.end) for span in candidate_spans(doc)}
    kept, end = [], -1
    for entity in sorted(doc.entities, key=lambda e: e.span):
        if entity.span in spans and entity.start_ix > end:
            kept.append(entity)
            end = entity.end_ix
    ids = {entity.id for entity in kept}
    relations, per_source = [], Counter()
    for relation in doc.relations:
        if relation.source in ids and relation.target in ids and per_source[relation.source] < max_relations:
            relations.append(relation)
            per_source[relation.source] += 1
    return replace(doc, entities=kept, relations=relations)


@dataclass
class Reach:
    """How much of a gold set the per-report grammar can produce (``within_grammar``)."""

    entities: int = 0
    reachable_entities: int = 0
    relations: int = 0
    reachable_relations: int = 0
    missed: Counter = field(default_factory=Counter)  # texts of gold entities the grammar cannot produce

    @property
    def entity_reach(self) -> float:
        return self.reachable_entities / self.entities if self.entities else 1.0

    @property
    def relation_reach(self) -> float:
        return self.reachable_relations / self.relations if self.relations else 1.0


def reach(docs: Iterable[Document]) -> Reach:
    """The share of gold entities and relations the per-report grammar can produce."""
    result = Reach()
    for doc in docs:
        inside = within_grammar(doc)
        kept = {entity.id for entity in inside.entities}
        result.entities += len(doc.entities)
        result.reachable_entities += len(kept)
        result.relations += len(doc.relations)
        result.reachable_relations += len(inside.relations)
        result.missed.update(entity.tokens for entity in doc.entities if entity.id not in kept)
    return result


# A grammar as plain data: rule name -> alternatives; an alternative is a sequence of
# literals (str) and references to rules (Ref), optionally optional.
@dataclass(frozen=True)
class Ref:
    name: str
    optional: bool = False


Rules = dict[str, list[list[str | Ref]]]


def _entity_literal(text: str) -> str:
    return '{"text":' + json.dumps(text, ensure_ascii=False) + ',"label":"'


def report_rules(doc: Document, labels: tuple[str, ...], max_relations: int = MAX_RELATIONS_PER_ENTITY) -> Rules:
    """The per-report grammar: ordered, non-overlapping report spans, each with a few relations.

    ``first_k`` / ``next_k`` produce the entity list from token ``k`` on (``next`` with a leading
    comma); each may skip ahead (``first_k -> first_k+1``) or take a span starting at ``k``.
    A relation's target is any candidate span text of the report.
    """
    spans = candidate_spans(doc)
    by_start: dict[int, list[CandidateSpan]] = {}
    for span in spans:
        by_start.setdefault(span.start, []).append(span)
    starts = sorted(by_start)
    targets = sorted({span.text for span in spans})
    rules: Rules = {
        "root": [['{"entities":[', Ref("first_0", optional=True) if starts else "", "]}"]],
        "label": [[f'{json.dumps(label)[1:-1]}","relations":[', Ref("relations_1", optional=True), "]}"]
                  for label in labels],
        "relation": [['["', Ref("relation_type"), '",', Ref("target"), "]"]],
        "relation_type": [[kind] for kind in RELATION_TYPES],
        "target": [[json.dumps(text, ensure_ascii=False)] for text in targets] or [['""']],
    }
    for count in range(1, max_relations + 1):
        more = [Ref(f"relations_{count + 1}", optional=True)] if count < max_relations else []
        rules[f"relations_{count}"] = [["," if count > 1 else "", Ref("relation"), *more]]
    for position, start in enumerate(starts):
        following = starts[position + 1] if position + 1 < len(starts) else None
        for family, prefix in (("first", ""), ("next", ",")):
            alternatives: list[list[str | Ref]] = []
            for span in by_start[start]:
                after = next((s for s in starts if s > span.end), None)
                tail = [Ref(f"next_{after}", optional=True)] if after is not None else []
                alternatives.append([prefix + _entity_literal(span.text), Ref("label"), *tail])
            if following is not None:
                alternatives.append([Ref(f"{family}_{following}")])
            rules[f"{family}_{start}"] = alternatives
    if starts and starts[0] != 0:
        rules["first_0"] = [[Ref(f"first_{starts[0]}")]]
    return rules


def _common_rules(spans: list[CandidateSpan], labels: tuple[str, ...],
                  max_relations: int = MAX_RELATIONS_PER_ENTITY) -> Rules:
    """What every entity of a per-report grammar ends with: its label and up to ``max_relations`` relations,
    each to a candidate span's text (one terminal of literals, ``TARGET``)."""
    rules: Rules = {
        "label": [[f'{json.dumps(label)[1:-1]}","relations":[', Ref("relations_1", optional=True), "]}"]
                  for label in labels],
        "relation": [['["', Ref("relation_type"), '",', Ref("TARGET"), "]"]],
        "relation_type": [[kind] for kind in RELATION_TYPES],
        "TARGET": [[json.dumps(text, ensure_ascii=False)] for text in sorted({span.text for span in spans})]
                  or [['""']],
    }
    for count in range(1, max_relations + 1):
        more = [Ref(f"relations_{count + 1}", optional=True)] if count < max_relations else []
        rules[f"relations_{count}"] = [["," if count > 1 else "", Ref("relation"), *more]]
    return rules


def near_rules(doc: Document, labels: tuple[str, ...], window: int = NEAR_WINDOW) -> Rules:
    """Ordered, non-overlapping report spans, each starting within ``window`` tokens after the previous
    one ends (the first within ``window`` tokens of the report's start), or at the nearest candidate
    start beyond when none is that close. ``after_E`` continues a list whose last entity ended at token E."""
    spans = candidate_spans(doc)
    starts = sorted({span.start for span in spans})
    by_start: dict[int, list[CandidateSpan]] = {}
    for span in spans:
        by_start.setdefault(span.start, []).append(span)

    reachable_from: dict[int, list[CandidateSpan]] = {}

    def reachable(end: int) -> list[CandidateSpan]:  # asked again for every span ending at ``end``: kept
        if end not in reachable_from:
            near = [start for start in starts if end < start <= end + window]
            beyond = [start for start in starts if start > end][:1]
            reachable_from[end] = [span for start in (near or beyond) for span in by_start[start]]
        return reachable_from[end]

    def alternatives(end: int, prefix: str) -> list[list[str | Ref]]:
        return [[prefix + _entity_literal(span.text), Ref("label"),
                 *([Ref(f"after_{span.end}", optional=True)] if reachable(span.end) else [])]
                for span in reachable(end)]

    rules: Rules = {"root": [['{"entities":[', Ref("first", optional=True) if starts else "", "]}"]]}
    if starts:
        rules["first"] = alternatives(-1, "")
    for end in sorted({span.end for span in spans}):
        if reachable(end):
            rules[f"after_{end}"] = alternatives(end, ",")
    return rules | _common_rules(spans, labels)


def any_order_rules(doc: Document, labels: tuple[str, ...], max_entities: int = MAX_ENTITIES) -> Rules:
    """Up to ``max_entities`` entities whose texts are candidate spans of the report (one terminal of
    literals, ``SPAN``), in any order; ``entities_K`` is the list from its K-th entity on."""
    spans = candidate_spans(doc)
    if not spans:
        return {"root": [['{"entities":[]}']]} | _common_rules(spans, labels)
    rules: Rules = {"root": [['{"entities":[', Ref("entities_1", optional=True), "]}"]],
                    "entity": [['{"text":', Ref("SPAN"), ',"label":"', Ref("label")]],
                    "SPAN": [[json.dumps(text, ensure_ascii=False)] for text in sorted({s.text for s in spans})]}
    for count in range(1, max_entities + 1):
        more = [Ref(f"entities_{count + 1}", optional=True)] if count < max_entities else []
        rules[f"entities_{count}"] = [["," if count > 1 else "", Ref("entity"), *more]]
    return rules | _common_rules(spans, labels)


# The rules of each per-report mode, from a report, its label names and the bound of the entity list.
RULES_OF: dict[GrammarMode, Callable[[Document, tuple[str, ...], int], Rules]] = {
    GrammarMode.REPORT: lambda doc, labels, max_entities: report_rules(doc, labels),
    GrammarMode.REPORT_NEAR: lambda doc, labels, max_entities: near_rules(doc, labels),
    GrammarMode.REPORT_ANY: any_order_rules,
}


def _render(rules: Rules, define: str, root: str) -> str:
    def item(part: str | Ref) -> str:
        if isinstance(part, Ref):
            name = root if part.name == "root" else part.name
            return f"{name}?" if part.optional else name
        return json.dumps(part, ensure_ascii=False)

    lines = []
    for name, alternatives in rules.items():
        rendered = " | ".join(" ".join(item(part) for part in alt if part != "") or '""' for alt in alternatives)
        lines.append(f"{root if name == 'root' else name}{define}{rendered}")
    return "\n".join(lines) + "\n"


def to_lark(rules: Rules) -> str:
    """Lark syntax, as llguidance (vLLM's ``guidance`` backend) reads it."""
    return _render(rules, ": ", "start")


def to_ebnf(rules: Rules) -> str:
    """GBNF/EBNF syntax, as xgrammar reads it."""
    return _render(rules, " ::= ", "root")


class GrammarDialect(str, Enum):
    """The grammar syntaxes the engines read: Lark (llguidance) and GBNF/EBNF (xgrammar)."""

    LARK = "lark"
    EBNF = "ebnf"


# vLLM's structured-output backends (``--grammar-backend``; a server's ``--structured-outputs-config``)
# and the dialect each reads.
GRAMMAR_BACKENDS = {"guidance": GrammarDialect.LARK, "xgrammar": GrammarDialect.EBNF}
DEFAULT_GRAMMAR_BACKEND = "guidance"  # llguidance: the per-report grammar compiles in well under 1% of the run


@dataclass(frozen=True)
class Constraint:
    """What one generation is constrained by: nothing, a JSON Schema, or a grammar per dialect."""

    mode: GrammarMode
    schema: dict[str, Any] | None = None
    rules: Rules | None = None

    def grammar(self, dialect: GrammarDialect) -> str:
        assert self.rules is not None
        return to_lark(self.rules) if GrammarDialect(dialect) is GrammarDialect.LARK else to_ebnf(self.rules)


def structured_outputs(constraint: Constraint, grammar_backend: str) -> dict[str, Any] | None:
    """The constraint as vLLM's structured-output fields (``StructuredOutputsParams`` in the engine, the
    ``structured_outputs`` request field of a vLLM server: the same keys), for ``grammar_backend``;
    None when the generation is unconstrained. JSON is written without free whitespace, which small
    models otherwise fill forever."""
    if constraint.mode is GrammarMode.JSON:
        return {"json": constraint.schema, "disable_any_whitespace": True}
    if constraint.mode.per_report:
        return {"grammar": constraint.grammar(GRAMMAR_BACKENDS[grammar_backend])}
    return None


def constraint_for(doc: Document, mode: GrammarMode, labels: tuple[str, ...],
                   max_entities: int = MAX_ENTITIES) -> Constraint:
    """The constraint for one report under ``mode``."""
    if mode is GrammarMode.NONE:
        return Constraint(mode)
    if mode is GrammarMode.JSON:
        return Constraint(mode, schema=output_schema(labels, max_entities))
    return Constraint(mode, rules=RULES_OF[mode](doc, labels, max_entities))
