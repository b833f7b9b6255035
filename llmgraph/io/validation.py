"""Validation of RadGraph documents: the JSON Schema first, then the checks it cannot express."""

from __future__ import annotations

import itertools
import json
import operator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import label_set_of
from llmgraph.core.resources import resource


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema from ``schemas/``."""
    return json.loads(resource(f"schemas/{name}").read_text(encoding="utf-8"))


@cache
def _document_validator() -> Draft202012Validator:
    schema = load_schema("radgraph.schema.json")
    return Draft202012Validator({"$ref": "#/$defs/document", "$defs": schema["$defs"]})


def _describe(error) -> str:
    where = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "enum" and where.endswith("label"):
        message = f"unknown entity label {error.instance!r}"
    elif error.validator == "enum":
        message = f"unknown value {error.instance!r} (expected one of {', '.join(map(str, error.validator_value))})"
    elif error.validator == "anyOf" and not where:
        message = "has neither 'entities' nor 'labeler_1'/'labeler_2'"
    else:
        message = error.message
    return f"{where}: {message}" if where else message


# The schema's own checks, in plain Python: validating every document of a 200 MB file with
# jsonschema took most of the time of reading it. ``schema_accepts`` accepts exactly what the
# schema accepts (tests/test_streaming.py checks that on random valid and broken documents);
# jsonschema still decides, and words the message, whenever a document is rejected.

@cache
def _enums() -> tuple[frozenset[str], frozenset[str]]:
    """Entity labels and relation types, as the schema lists them."""
    defs = load_schema("radgraph.schema.json")["$defs"]
    return frozenset(defs["entity"]["properties"]["label"]["enum"]), frozenset(defs["relation"]["prefixItems"][0]["enum"])


DOCUMENT_STRINGS = ("id", "text", "annotator", "source_text")  # "type": "string"
DOCUMENT_NULLABLE = ("data_source", "data_split", "modality")  # "type": ["string", "null"]


def _is_index(value: Any) -> bool:
    """JSON Schema's ``{"type": "integer", "minimum": 0}`` (draft 2020-12: 1.0 is an integer, True is not)."""
    if type(value) is int:
        return value >= 0
    integer = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())
    return integer and not value < 0


def _is_nullable_string(value: Any) -> bool:
    return value is None or isinstance(value, str)


_ENTITY_FIELDS_NAMES = ("tokens", "label", "start_ix", "end_ix", "relations")
_ENTITY_FIELDS = operator.itemgetter(*_ENTITY_FIELDS_NAMES)


def _is_unit(value: Any) -> bool:
    """``{"type": "number", "minimum": 0, "maximum": 1}`` (as jsonschema has it, NaN passes: the
    reader refuses it)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (value < 0 or value > 1)


def _scores_accepted(entity: dict) -> bool:
    """An entity's optional ``score`` and ``relation_scores``."""
    if "score" in entity and not _is_unit(entity["score"]):
        return False
    scores = entity.get("relation_scores", [])
    return isinstance(scores, list) and all(map(_is_unit, scores))


def _entities_accepted(entities: Any) -> bool:
    """``$defs/entities``: an object of entities, each with its tokens, label, span and relations."""
    if not isinstance(entities, dict):
        return False
    return _plain_entities_accepted(entities) or _entities_accepted_one_by_one(entities)


def _plain_entities_accepted(entities: dict) -> bool:
    """The usual case, checked a field at a time over all entities (exact str/int/list types only;
    anything else is left to ``_entities_accepted_one_by_one``)."""
    if not entities:
        return True
    labels, relation_types = _enums()
    try:
        if not all(issubclass(kind, dict) for kind in set(map(type, entities.values()))):
            return False
        tokens, entity_labels, starts, ends, relations = zip(*map(_ENTITY_FIELDS, entities.values()))
    except KeyError:
        return False
    indices = starts + ends
    if not (set(map(type, tokens)) == {str} and "" not in tokens and set(map(type, entity_labels)) == {str}
            and labels.issuperset(entity_labels) and set(map(type, indices)) == {int} and min(indices) >= 0
            and set(map(type, relations)) == {list}):
        return False
    if sum(map(len, entities.values())) != len(_ENTITY_FIELDS_NAMES) * len(entities):  # extra keys: scores?
        if not all(map(_scores_accepted, entities.values())):
            return False
    flat = list(itertools.chain.from_iterable(relations))
    if not flat:
        return True
    if set(map(type, flat)) != {list} or set(map(len, flat)) != {2}:
        return False
    kinds, targets = zip(*flat)
    return (set(map(type, kinds)) == {str} and relation_types.issuperset(kinds)
            and set(map(type, targets)) == {str})


def _entities_accepted_one_by_one(entities: dict) -> bool:
    labels, relation_types = _enums()
    for entity in entities.values():
        if not (isinstance(entity, dict) and "tokens" in entity and "label" in entity and "start_ix" in entity
                and "end_ix" in entity and "relations" in entity):
            return False
        tokens, label, relations = entity["tokens"], entity["label"], entity["relations"]
        if not (isinstance(tokens, str) and tokens and isinstance(label, str) and label in labels
                and _is_index(entity["start_ix"]) and _is_index(entity["end_ix"]) and isinstance(relations, list)):
            return False
        for relation in relations:
            if not (isinstance(relation, list) and len(relation) == 2 and isinstance(relation[0], str)
                    and relation[0] in relation_types and isinstance(relation[1], str)):
                return False
        if not _scores_accepted(entity):
            return False
    return True


def _annotation_accepted(block: Any) -> bool:
    """``$defs/annotation``: one labeler's block of a test-file entry."""
    return (isinstance(block, dict) and "entities" in block and _entities_accepted(block["entities"])
            and all(_is_nullable_string(block[key]) for key in ("data_source", "data_split") if key in block))


def _offsets_accepted(offsets: Any) -> bool:
    """``token_offsets``: an array of [start, end] pairs of non-negative integers."""
    if not isinstance(offsets, list):
        return False
    if not offsets:
        return True
    if set(map(type, offsets)) == {list} and set(map(len, offsets)) == {2}:  # the usual case, at C speed
        values = list(itertools.chain.from_iterable(offsets))
        if set(map(type, values)) == {int}:
            return min(values) >= 0
    return all(isinstance(pair, list) and len(pair) == 2 and _is_index(pair[0]) and _is_index(pair[1])
               for pair in offsets)


def schema_accepts(raw: Any) -> bool:
    """True exactly when ``schemas/radgraph.schema.json`` accepts ``raw`` as one document."""
    if not isinstance(raw, dict) or "text" not in raw:
        return False
    if not ("entities" in raw or "labeler_1" in raw or "labeler_2" in raw):
        return False
    if not (all(isinstance(raw[key], str) for key in DOCUMENT_STRINGS if key in raw)
            and all(_is_nullable_string(raw[key]) for key in DOCUMENT_NULLABLE if key in raw)):
        return False
    if "entities" in raw and not _entities_accepted(raw["entities"]):
        return False
    if not all(_annotation_accepted(raw[name]) for name in ("labeler_1", "labeler_2") if name in raw):
        return False
    return "token_offsets" not in raw or _offsets_accepted(raw["token_offsets"])


def check_schema(raw: Any) -> None:
    """Validate one raw document object against ``schemas/radgraph.schema.json``."""
    if schema_accepts(raw):
        return
    error = best_match(_document_validator().iter_errors(raw))
    if error is not None:
        raise InputError(_describe(error))


_ENTITY_ATTRIBUTES = operator.attrgetter("id", "tokens", "label", "start_ix", "end_ix")


def _document_passes(doc: Document, tokens: list[str]) -> bool:
    """Whether ``check_document`` finds nothing wrong, checked a field at a time (the usual case
    costs little; a document that fails is checked again one entity at a time for the message)."""
    try:
        if doc.entities:
            ids, entity_tokens, labels, starts, ends = zip(*map(_ENTITY_ATTRIBUTES, doc.entities))
            if (len(set(ids)) != len(ids) or len({label_set_of(label) for label in set(labels)}) != 1
                    or min(starts) < 0 or max(ends) >= len(tokens) or not all(map(operator.le, starts, ends))
                    or list(entity_tokens) != [" ".join(tokens[start:end + 1]) for start, end in zip(starts, ends)]):
                return False
            known = set(ids)
            if not ({relation.source for relation in doc.relations} <= known
                    and {relation.target for relation in doc.relations} <= known
                    and all(relation.source != relation.target for relation in doc.relations)):
                return False
        elif doc.relations:
            return False
        if doc.token_offsets is None:
            return True
        if len(doc.token_offsets) != len(tokens):
            return False
        firsts, lasts = zip(*doc.token_offsets)
        limit = len(doc.source_text or doc.text)
        return min(firsts) >= 0 and max(lasts) <= limit and all(map(operator.le, firsts, lasts))
    except (TypeError, ValueError):  # odd values in documents made in code: the full check words the problem
        return False


def check_document(doc: Document) -> None:
    """Checks beyond the schema; raises ``InputError`` naming the report and the problem."""
    tokens = doc.tokens
    if not (tokens and _document_passes(doc, tokens)):
        check_document_one_by_one(doc)


def check_document_one_by_one(doc: Document) -> None:
    """``check_document`` entity by entity, relation by relation: the first problem found is the one reported."""
    tokens = doc.tokens
    fail = lambda problem: InputError(problem, doc_id=doc.id)  # noqa: E731
    if not tokens:
        raise fail("empty text")
    seen: set[str] = set()
    label_sets = set()
    for entity in doc.entities:
        if entity.id in seen:
            raise fail(f"duplicate entity id {entity.id!r}")
        seen.add(entity.id)
        label_sets.add(label_set_of(entity.label))
        if not 0 <= entity.start_ix <= entity.end_ix < len(tokens):
            raise fail(
                f"entity {entity.id}: span [{entity.start_ix}, {entity.end_ix}] outside the text's "
                f"{len(tokens)} tokens"
            )
        span_text = " ".join(tokens[entity.start_ix : entity.end_ix + 1])
        if entity.tokens != span_text:
            raise fail(f"entity {entity.id}: tokens {entity.tokens!r} do not match the text there ({span_text!r})")
    if len(label_sets) > 1:
        raise fail("mixes RadGraph 1.0 and RadGraph-XL labels")
    for relation in doc.relations:
        if relation.source not in seen:
            raise fail(f"relation from missing entity {relation.source!r}")
        if relation.target not in seen:
            raise fail(f"entity {relation.source}: {relation.type} relation to missing entity {relation.target!r}")
    if doc.token_offsets is not None:
        if len(doc.token_offsets) != len(tokens):
            raise fail(f"{len(doc.token_offsets)} token offsets for {len(tokens)} tokens")
        limit = len(doc.source_text or doc.text)
        if any(not 0 <= start <= end <= limit for start, end in doc.token_offsets):
            raise fail("token offset outside the source text")


class CollectionCheck:
    """Collection-wide checks, one document at a time: unique (id, annotator) keys, a single label set.

    Only the keys are kept (a set of ids for documents without an annotator, the annotators of
    each id of a test file), so checking the 220,763 MIMIC-CXR graphs holds their ids and nothing else.
    """

    def __init__(self) -> None:
        self.plain: set[str] = set()
        self.annotated: dict[str, set[str]] = {}
        self.label_sets: dict = {}

    def has(self, doc_id: str) -> bool:
        """Whether a document of report ``doc_id`` was added."""
        return doc_id in self.plain or doc_id in self.annotated

    def add(self, doc: Document) -> None:
        keys = self.plain if doc.annotator is None else self.annotated.setdefault(doc.id, set())
        key = doc.id if doc.annotator is None else doc.annotator
        if key in keys:
            raise InputError("duplicate report id", doc_id=doc.id)
        keys.add(key)
        for entity in doc.entities[:1]:
            self.label_sets.setdefault(label_set_of(entity.label), doc.id)
        if len(self.label_sets) > 1:
            first, second = self.label_sets.values()
            raise InputError(f"mixes RadGraph 1.0 and RadGraph-XL labels (reports {first} and {second})")

    def lacking(self, annotator: str) -> set[str]:
        """Reports seen with documents, none of them by ``annotator``."""
        return (self.plain | self.annotated.keys()) - {doc_id for doc_id, annotators in self.annotated.items()
                                                       if annotator in annotators}


def check_collection(docs: list[Document]) -> None:
    """Collection-wide checks: unique (id, annotator) keys and a single label set."""
    check = CollectionCheck()
    for doc in docs:
        check.add(doc)
