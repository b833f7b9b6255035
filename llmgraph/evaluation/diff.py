"""What a prediction got wrong in one report: missing, spurious and mislabeled entities and relations.

Entities are compared by token span: a span in both with different labels is *mislabeled*, a
gold span not predicted is *missing*, a predicted span not in gold is *spurious*. Relations are
compared by the spans of both ends: same ends with another type is *mislabeled*. These are
the errors behind the micro-F1 counts (a mislabeled entity is one fn and one fp there).
"""

from __future__ import annotations

from typing import Any

from llmgraph.core.document import Document, Entity


def _entity(entity: Entity) -> dict[str, Any]:
    return {"tokens": entity.tokens, "start_ix": entity.start_ix, "end_ix": entity.end_ix, "label": entity.label}


def _by_span(doc: Document) -> dict[tuple[int, int], Entity]:
    return {entity.span: entity for entity in doc.entities}


def relation_ends(doc: Document) -> dict[tuple[tuple[int, int], tuple[int, int]], set[str]]:
    """The relation types between every (source span, target span) of ``doc``."""
    spans = {entity.id: entity.span for entity in doc.entities}
    ends: dict[tuple[tuple[int, int], tuple[int, int]], set[str]] = {}
    for relation in doc.relations:
        ends.setdefault((spans[relation.source], spans[relation.target]), set()).add(relation.type)
    return ends


def _relation(doc: Document, ends: tuple[tuple[int, int], tuple[int, int]], **fields: Any) -> dict[str, Any]:
    tokens = doc.tokens
    source, target = ends
    return {"source": " ".join(tokens[source[0]:source[1] + 1]), "source_ix": list(source),
            "target": " ".join(tokens[target[0]:target[1] + 1]), "target_ix": list(target), **fields}


def document_diff(gold: Document, pred: Document) -> dict[str, Any]:
    """The errors of ``pred`` against ``gold`` (same report), as JSON-ready lists."""
    gold_spans, pred_spans = _by_span(gold), _by_span(pred)
    entities = {
        "missing": [_entity(e) for span, e in gold_spans.items() if span not in pred_spans],
        "spurious": [_entity(e) for span, e in pred_spans.items() if span not in gold_spans],
        "mislabeled": [_entity(e) | {"label": pred_spans[span].label, "gold_label": e.label}
                       for span, e in gold_spans.items() if span in pred_spans and pred_spans[span].label != e.label],
    }
    gold_relations, pred_relations = relation_ends(gold), relation_ends(pred)
    relations: dict[str, list[dict[str, Any]]] = {"missing": [], "spurious": [], "mislabeled": []}
    for ends in sorted(gold_relations.keys() | pred_relations.keys()):
        missing = sorted(gold_relations.get(ends, set()) - pred_relations.get(ends, set()))
        spurious = sorted(pred_relations.get(ends, set()) - gold_relations.get(ends, set()))
        pairs = min(len(missing), len(spurious))  # same ends, another type
        relations["mislabeled"] += [_relation(gold, ends, type=got, gold_type=wanted)
                                    for wanted, got in zip(missing[:pairs], spurious[:pairs])]
        relations["missing"] += [_relation(gold, ends, type=kind) for kind in missing[pairs:]]
        relations["spurious"] += [_relation(gold, ends, type=kind) for kind in spurious[pairs:]]
    return {"id": gold.id, "entities": entities, "relations": relations,
            "correct": {"entities": len(gold_spans.keys() & pred_spans.keys()) - len(entities["mislabeled"]),
                        "relations": sum(len(gold_relations.get(ends, set()) & got)
                                         for ends, got in pred_relations.items())}}
