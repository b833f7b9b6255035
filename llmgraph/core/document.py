"""The data model at the centre of llmgraph: a report, its entities and relations."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from llmgraph.core.labels import LabelSet, convert
from llmgraph.core.tokenize import tokenize


@dataclass(frozen=True)
class Entity:
    """A contiguous token span with a label; ``start_ix``/``end_ix`` are 0-based, inclusive.
    ``score`` is the system's confidence in the entity (span and label), in [0, 1]; None when the
    system gives none (gold, a system without scores)."""

    id: str
    tokens: str
    label: str
    start_ix: int
    end_ix: int
    score: float | None = None

    @property
    def span(self) -> tuple[int, int]:
        return (self.start_ix, self.end_ix)


@dataclass(frozen=True)
class Relation:
    """A directed relation from the dependent entity (``source``) to the one it depends on, with the
    system's confidence in it (``score``, in [0, 1]; None when there is none)."""

    type: str
    source: str
    target: str
    score: float | None = None


@dataclass
class Document:
    """One report in RadGraph form.

    ``text`` is the RadGraph token string (tokens joined by single spaces). When the document
    was made from a raw report, ``source_text`` keeps that report and ``token_offsets`` the
    character span of every token in it, so the original can be highlighted.
    ``annotator`` names the labeler of a doubly annotated test file (``labeler_1``/``labeler_2``).
    """

    id: str
    text: str
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    data_source: str | None = None
    data_split: str | None = None
    modality: str | None = None
    annotator: str | None = None
    source_text: str | None = None
    token_offsets: list[tuple[int, int]] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens(self) -> list[str]:
        return self.text.split()

    def relations_from(self, entity_id: str) -> list[Relation]:
        return [relation for relation in self.relations if relation.source == entity_id]

    def fingerprint(self) -> str:
        """A hash of everything a system reads of this report (not its annotations): a resumed run
        re-runs a report whose fingerprint changed."""
        read = [self.text, self.source_text, self.meta.get("sections"), self.modality, self.meta.get("problem")]
        data = json.dumps(read, ensure_ascii=False).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def with_labels(self, label_set: LabelSet) -> "Document":
        """A copy with every entity label mapped into ``label_set``."""
        entities = [replace(entity, label=convert(entity.label, label_set)) for entity in self.entities]
        return replace(self, entities=entities)


def display_text(doc: Document) -> tuple[str, list[tuple[int, int]]]:
    """The text a person reads for ``doc`` (the raw report when it was made from one, else its RadGraph
    text) and the character span of every RadGraph token in it."""
    if doc.source_text is not None and doc.token_offsets is not None:
        return doc.source_text, doc.token_offsets
    return doc.text, [match.span() for match in re.finditer(r"\S+", doc.text)]


def keep_scored(doc: Document, min_score: float) -> tuple[Document, int, int]:
    """``doc`` without the entities and relations that score below ``min_score`` (or carry no score), nor
    the relations of a dropped entity; with how many entities and relations were dropped."""
    entities = [e for e in doc.entities if e.score is not None and e.score >= min_score]
    kept = {e.id for e in entities}
    relations = [r for r in doc.relations
                 if r.score is not None and r.score >= min_score and r.source in kept and r.target in kept]
    return (replace(doc, entities=entities, relations=relations),
            len(doc.entities) - len(entities), len(doc.relations) - len(relations))


def has_scores(doc: Document) -> bool:
    """Whether any entity or relation of ``doc`` carries a score."""
    return any(item.score is not None for item in (*doc.entities, *doc.relations))


def document_from_report(
    doc_id: str,
    report: str,
    spans: list[tuple[int, int]] | None = None,
    **fields: Any,
) -> Document:
    """A document (no annotations yet) for a raw report, tokenized as RadGraph-XL does.

    ``spans`` limits the tokens to those character ranges of ``report`` (chosen sections);
    offsets always index the full report.
    """
    tokens = [token for start, end in spans or [(0, len(report))] for token in tokenize(report, start, end)]
    return Document(
        id=doc_id,
        text=" ".join(token.text for token in tokens),
        source_text=report,
        token_offsets=[(token.start, token.end) for token in tokens],
        **fields,
    )


# What a system yields for a batch of reports: the documents it predicted, and the reports that failed
# (id -> why).
Batch = tuple[list[Document], dict[str, str]]
