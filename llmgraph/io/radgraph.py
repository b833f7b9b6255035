"""RadGraph JSON objects to and from Documents, validated.

Flavours (detected on reading):
- official RadGraph 1.0 / RadGraph-XL train and dev files and the ``radgraph`` package's output:
  ``{report_id: {"text", "entities", "data_source", "data_split"}}``;
- the RadGraph 1.0 test file: entities under ``labeler_1`` and ``labeler_2``;
- JSONL: one document per line, with its ``id`` (and ``annotator`` for doubly annotated sets).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any, Iterable

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.io.validation import check_document, check_schema

LABELERS = ("labeler_1", "labeler_2")
_KNOWN_KEYS = {"id", "text", "entities", *LABELERS, "annotator", "data_source", "data_split",
               "modality", "source_text", "token_offsets"}


def _check_duplicates(raw: dict[str, Any]) -> None:
    """Reject a document whose JSON repeats a key (a repeated entity id, say)."""
    blocks = [raw, *(raw[name] for name in LABELERS if isinstance(raw.get(name), dict))]
    for block in blocks:
        if getattr(block, "duplicates", ()):
            raise InputError(f"duplicate key {block.duplicates[0]!r}")
        entities = block.get("entities")
        if getattr(entities, "duplicates", ()):
            raise InputError(f"duplicate entity id {entities.duplicates[0]!r}")
        for entity_id, entity in entities.items() if isinstance(entities, dict) else ():
            if getattr(entity, "duplicates", ()):
                raise InputError(f"entity {entity_id}: duplicate key {entity.duplicates[0]!r}")


_RELATIONS: dict[tuple[str, str, str], Relation] = {}  # relations are values: documents share them
_MAX_SHARED_RELATIONS = 1 << 16


def _relation(kind: str, source: str, target: str) -> Relation:
    """The relation ``source -kind-> target``; the same object for every document that has it
    (building one costs more than looking it up, and files repeat them: "1" modify "2" ...)."""
    key = (kind, source, target)
    relation = _RELATIONS.get(key)
    if relation is None:
        if len(_RELATIONS) >= _MAX_SHARED_RELATIONS:
            _RELATIONS.clear()
        relation = _RELATIONS[key] = Relation(kind, source, target)
    return relation


def _score(value: Any, what: str) -> float:
    """A schema-checked score (a number in [0, 1]); NaN, which the schema lets through, refused."""
    if value != value:
        raise InputError(f"{what} is NaN (expected a number in [0, 1])")
    return float(value)


def _scored_entity(entity_id: str, value: dict[str, Any], start: int, end: int,
                   relations: list[Relation]) -> Entity:
    """An entity with its ``score`` and its relations' ``relation_scores`` (one per relation)."""
    scores = value.get("relation_scores")
    if scores is not None:
        own = value["relations"]
        if len(scores) != len(own):
            raise InputError(f"entity {entity_id}: {len(scores)} relation_scores for {len(own)} relations")
        scored = [Relation(kind, entity_id, target, _score(score, f"entity {entity_id}: a relation score"))
                  for (kind, target), score in zip(own, scores)]
        relations[len(relations) - len(own):] = scored
    score = value.get("score")
    return Entity(entity_id, value["tokens"], value["label"], start, end,
                  None if score is None else _score(score, f"entity {entity_id}: score"))


def _entities(raw: dict[str, Any]) -> tuple[list[Entity], list[Relation]]:
    """Entities and relations of a schema-checked block (JSON Schema integers may be written ``1.0``),
    with their scores when the file has them."""
    entities, relations = [], []
    for entity_id, value in raw.items():
        start, end = value["start_ix"], value["end_ix"]
        if type(start) is not int or type(end) is not int:
            start, end = int(start), int(end)
        for kind, target in value["relations"]:
            relations.append(_relation(kind, entity_id, target))
        if len(value) == 5:  # no scores (the usual case)
            entities.append(Entity(entity_id, value["tokens"], value["label"], start, end))
        else:
            entities.append(_scored_entity(entity_id, value, start, end, relations))
    return entities, relations


def _offsets(raw: list[list[Any]]) -> list[tuple[int, int]]:
    """Schema-checked ``token_offsets`` as (start, end) integer pairs."""
    pairs = list(map(tuple, raw))
    if set(map(type, itertools.chain.from_iterable(pairs))) <= {int}:
        return pairs
    return [(int(start), int(end)) for start, end in pairs]


def documents_from_raw(doc_id: str, raw: Any) -> list[Document]:
    """Documents from one raw document object: one per labeler in a test-file entry."""
    if not isinstance(raw, dict):
        raise InputError(f"expected a JSON object, found {type(raw).__name__}", doc_id=doc_id)
    try:
        _check_duplicates(raw)
        check_schema(raw)
    except InputError as error:
        raise error.at(doc_id=doc_id) from None
    common = dict(
        id=doc_id,
        text=raw["text"],
        data_source=raw.get("data_source"),
        data_split=raw.get("data_split"),
        modality=raw.get("modality"),
        source_text=raw.get("source_text"),
        token_offsets=_offsets(raw["token_offsets"]) if "token_offsets" in raw else None,
        meta={key: value for key, value in raw.items() if key not in _KNOWN_KEYS},
    )
    if "entities" in raw:
        blocks = {raw.get("annotator"): raw}
    else:
        blocks = {name: raw[name] for name in LABELERS if name in raw}
    docs = []
    for annotator, block in blocks.items():
        try:
            entities, relations = _entities(block["entities"])
        except InputError as error:
            raise error.at(doc_id=doc_id) from None
        doc = Document(entities=entities, relations=relations, annotator=annotator, **common)
        check_document(doc)
        docs.append(doc)
    return docs


def document_to_raw(doc: Document) -> dict[str, Any]:
    """The RadGraph JSON object for one document (llmgraph extension keys only when set)."""
    relations: dict[str, list[list[str]]] = defaultdict(list)
    scores: dict[str, list[float | None]] = defaultdict(list)
    for relation in doc.relations:
        relations[relation.source].append([relation.type, relation.target])
        scores[relation.source].append(relation.score)
    entities = {
        entity.id: {
            "tokens": entity.tokens,
            "label": entity.label,
            "start_ix": entity.start_ix,
            "end_ix": entity.end_ix,
            "relations": relations.get(entity.id, []),
        }
        for entity in doc.entities
    }
    for entity in doc.entities:
        if entity.score is not None:
            entities[entity.id]["score"] = entity.score
        own = scores.get(entity.id)
        if own and None not in own:
            entities[entity.id]["relation_scores"] = own
    raw: dict[str, Any] = {"text": doc.text, "entities": entities,
                           "data_source": doc.data_source, "data_split": doc.data_split}
    if doc.modality is not None:
        raw["modality"] = doc.modality
    if doc.source_text is not None:
        raw["source_text"] = doc.source_text
    if doc.token_offsets is not None:
        raw["token_offsets"] = list(map(list, doc.token_offsets))
    return raw | doc.meta


def to_collection(docs: Iterable[Document]) -> dict[str, Any]:
    """A RadGraph JSON collection; doubly annotated documents become a test-file entry."""
    grouped: dict[str, list[Document]] = defaultdict(list)
    for doc in docs:
        grouped[doc.id].append(doc)
    collection = {}
    for doc_id, group in grouped.items():
        if len(group) == 1 and group[0].annotator is None:
            collection[doc_id] = document_to_raw(group[0])
            continue
        raw = document_to_raw(group[0])
        raw.pop("entities")
        for doc in group:
            if doc.annotator not in LABELERS:
                raise InputError(f"annotator {doc.annotator!r} cannot be written to a test file", doc_id=doc_id)
            raw[doc.annotator] = {"entities": document_to_raw(doc)["entities"]}
        collection[doc_id] = raw
    return collection
