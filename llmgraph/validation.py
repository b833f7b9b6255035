"""Validation of RadGraph documents: the JSON Schema first, then the checks it cannot express."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.labels import label_set_of
from llmgraph.resources import resource

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


def check_schema(raw: Any) -> None:
    """Validate one raw document object against ``schemas/radgraph.schema.json``."""
    error = best_match(_document_validator().iter_errors(raw))
    if error is not None:
        raise InputError(_describe(error))


def check_document(doc: Document) -> None:
    """Checks beyond the schema; raises ``InputError`` naming the report and the problem."""
    fail = lambda problem: InputError(problem, doc_id=doc.id)  # noqa: E731
    tokens = doc.tokens
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
    """Collection-wide checks, one document at a time: unique (id, annotator) keys, a single label set."""

    def __init__(self) -> None:
        self.keys: set[tuple[str, str | None]] = set()
        self.label_sets: dict = {}

    def add(self, doc: Document) -> None:
        key = (doc.id, doc.annotator)
        if key in self.keys:
            raise InputError("duplicate report id", doc_id=doc.id)
        self.keys.add(key)
        for entity in doc.entities[:1]:
            self.label_sets.setdefault(label_set_of(entity.label), doc.id)
        if len(self.label_sets) > 1:
            first, second = self.label_sets.values()
            raise InputError(f"mixes RadGraph 1.0 and RadGraph-XL labels (reports {first} and {second})")


def check_collection(docs: list[Document]) -> None:
    """Collection-wide checks: unique (id, annotator) keys and a single label set."""
    check = CollectionCheck()
    for doc in docs:
        check.add(doc)
