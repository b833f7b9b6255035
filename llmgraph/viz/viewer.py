"""The viewer's data and its HTML file.

Every report becomes one compact record: the text shown (the original report when the document
keeps it, else the RadGraph tokens), its entity marks as character spans and its relations
between marks. With gold, each mark carries its status from ``llmgraph.evaluation.diff.document_diff``:
correct, missing (gold only), spurious (predicted only) or wrong label/type; and each mark that is a
micro-F1 error its class in the error taxonomy (``llmgraph.evaluation.taxonomy``). The records go into
one HTML file as JSON; its inline script draws one report at a time, so thousands stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from llmgraph.core.document import Document, display_text
from llmgraph.core.labels import ALL_LABELS, RELATION_TYPES, LabelSet, to_radgraph, to_radgraph_xl
from llmgraph.evaluation.diff import document_diff, relation_ends
from llmgraph.evaluation.items import DocumentItems, document_items
from llmgraph.evaluation.pairing import pair_documents
from llmgraph.evaluation.taxonomy import ENTITY_ERRORS, RELATION_ERRORS, ErrorIndex, Item
from llmgraph.io.atomic import write_atomic

HERE = Path(__file__).parent
STATUSES = ("none", "correct", "missing", "spurious", "wrong")
UNMATCHED_IDS_SHOWN = 20

# Okabe-Ito colours (safe under the common colour-vision deficiencies), by entity kind and certainty.
COLOURS = {
    ("Anatomy", "definitely present"): "#0072B2", ("Anatomy", "uncertain"): "#56B4E9",
    ("Anatomy", "definitely absent"): "#CC79A7", ("Observation", "definitely present"): "#D55E00",
    ("Observation", "uncertain"): "#F0E442", ("Observation", "definitely absent"): "#009E73",
}

Span = tuple[int, int]
Ends = tuple[Span, Span]


def _tint(colour: str, share: float = 0.38) -> str:
    """``colour`` mixed with white: a background black text stays readable on."""
    channels = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(255 - (255 - c) * share):02x}" for c in channels)


def label_style(label: str) -> dict[str, Any]:
    """Colour, background tint and short tag of an entity label (RadGraph 1.0 and XL alike)."""
    kind, *middle, certainty = to_radgraph_xl(label).split("::")
    measurement = bool(middle)
    colour = COLOURS[(kind, certainty)]
    return {"name": label, "tag": to_radgraph(label) + ("·meas" if measurement else ""), "color": colour,
            "tint": _tint(colour), "measure": measurement}


def _ends(row: dict[str, Any]) -> Ends:
    return tuple(row["source_ix"]), tuple(row["target_ix"])


def marks(pred: Document, gold: Document | None) -> tuple[dict[Span, tuple], dict[tuple[Ends, str], tuple]]:
    """Entity marks by token span (status, label, gold label) and relation marks by (ends, type)
    (status, gold type): the predicted graph, plus what ``document_diff`` says about it when there is gold."""
    base = "none" if gold is None else "correct"
    entities = {entity.span: (base, entity.label, None) for entity in pred.entities}
    relations = {(ends, kind): (base, None) for ends, kinds in relation_ends(pred).items() for kind in kinds}
    if gold is None:
        return entities, relations
    diff = document_diff(gold, pred)
    for row in diff["entities"]["spurious"]:
        entities[(row["start_ix"], row["end_ix"])] = ("spurious", row["label"], None)
    for row in diff["entities"]["mislabeled"]:
        entities[(row["start_ix"], row["end_ix"])] = ("wrong", row["label"], row["gold_label"])
    for row in diff["entities"]["missing"]:
        entities[(row["start_ix"], row["end_ix"])] = ("missing", row["label"], None)
    for row in diff["relations"]["spurious"]:
        relations[(_ends(row), row["type"])] = ("spurious", None)
    for row in diff["relations"]["mislabeled"]:
        relations[(_ends(row), row["type"])] = ("wrong", row["gold_type"])
    for row in diff["relations"]["missing"]:
        relations[(_ends(row), row["type"])] = ("missing", None)
    return entities, relations


def _relations_by_key(items: DocumentItems) -> dict[tuple[Ends, str], tuple[Item, Item, str]]:
    """A document's relations as the taxonomy reads them (ends with their labels), by the key of their
    relation marks (the ends' spans and the type)."""
    return {((source[:2], target[:2]), kind): (source, target, kind) for source, target, kind in items.relations}


def error_classes(pred: Document, gold: Document, entities: dict[Span, tuple], relations: dict[tuple[Ends, str], tuple]
                  ) -> tuple[dict[Span, str], dict[tuple[Ends, str], str]]:
    """The taxonomy class of every mark (of ``marks``) that is a micro-F1 error: a missing mark has its
    false negative's class, any other mark its false positive's when its item is not in gold. Items
    carry labels (a relation its ends' labels) where ``document_diff`` matches spans, so a relation
    between the right spans with a mislabeled end stays correct and has a class (``endpoint error``)."""
    gold_items, pred_items = document_items(gold), document_items(pred)
    against_gold, against_pred = ErrorIndex(gold_items), ErrorIndex(pred_items)
    entity_classes = {}
    for span, (status, label, _) in entities.items():
        item = (*span, label)
        if status == "missing":
            entity_classes[span] = against_pred.entity_error(item, "missed")
        elif item not in gold_items.entities:
            entity_classes[span] = against_gold.entity_error(item, "spurious")
    gold_relations, pred_relations = _relations_by_key(gold_items), _relations_by_key(pred_items)
    relation_classes = {}
    for key, (status, _) in relations.items():
        if status == "missing":
            relation_classes[key] = against_pred.relation_error(gold_relations[key], false_negative=True)
        elif pred_relations[key] not in gold_items.relations:
            relation_classes[key] = against_gold.relation_error(pred_relations[key], false_negative=False)
    return entity_classes, relation_classes


def _row(fields: list[int], other: int | None, error: int | None) -> list[int | None]:
    """A mark's array: its four fields, then the gold label (type) when it differs, then the index of
    its error class when it has one (with ``null`` for no gold label before it)."""
    if error is not None:
        return [*fields, other, error]
    return fields + ([other] if other is not None else [])


def _record(pred: Document, gold: Document | None, labels: dict[str, int], types: dict[str, int]) -> dict[str, Any]:
    """One report as the viewer reads it: id, modality, text, entity and relation marks as arrays
    (``[start, end, label, status, gold label, error class]``, ``[source, target, type, status, gold type,
    error class]``; labels, types and classes as indexes into the payload's lists)."""
    shown = next((doc for doc in (gold, pred) if doc is not None and doc.source_text is not None), gold or pred)
    text, offsets = display_text(shown)
    entities, relations = marks(pred, gold)
    entity_classes, relation_classes = error_classes(pred, gold, entities, relations) if gold is not None else ({}, {})
    spans = sorted(entities, key=lambda span: (span[0], -span[1]))
    index = {span: i for i, span in enumerate(spans)}
    entity_rows = []
    for span in spans:
        status, label, gold_label = entities[span]
        error = entity_classes.get(span)
        entity_rows.append(_row([offsets[span[0]][0], offsets[span[1]][1], labels[label], STATUSES.index(status)],
                                labels[gold_label] if gold_label else None,
                                ENTITY_ERRORS.index(error) if error else None))
    relation_rows = []
    for (source, target), kind in sorted(relations, key=lambda key: (index[key[0][0]], index[key[0][1]], key[1])):
        status, gold_type = relations[((source, target), kind)]
        error = relation_classes.get(((source, target), kind))
        relation_rows.append(_row([index[source], index[target], types.setdefault(kind, len(types)),
                                   STATUSES.index(status)],
                                  types.setdefault(gold_type, len(types)) if gold_type else None,
                                  RELATION_ERRORS.index(error) if error else None))
    return {"id": pred.id, "m": shown.modality or pred.modality or "", "t": text, "e": entity_rows,
            "r": relation_rows}


def build_payload(pred: list[Document], gold: list[Document] | None = None, label_set: LabelSet | None = None,
                  title: str = "llmgraph viewer", sources: str = "") -> dict[str, Any]:
    """Everything the viewer shows. With ``gold``, only reports in both files are shown (in gold
    order, labels mapped as the metrics map them); the others are counted under ``unmatched``."""
    unmatched = {"pred_only": [], "gold_only": []}
    if gold is None:
        if label_set is not None:
            pred = [doc.with_labels(label_set) for doc in pred]
        pairs = [(doc, None) for doc in pred]
    else:
        pairing = pair_documents(gold, pred, label_set)
        missing = set(pairing.missing_predictions)
        pairs = [(p, g) for g, p in zip(pairing.gold, pairing.pred) if g.id not in missing]
        unmatched = {"pred_only": pairing.unmatched_predictions, "gold_only": pairing.missing_predictions}
    labels = {label: i for i, label in enumerate(ALL_LABELS)}
    types = {kind: i for i, kind in enumerate(RELATION_TYPES)}
    reports = [_record(p, g, labels, types) for p, g in pairs]
    used = {row[2] for report in reports for row in report["e"]} | {
        row[4] for report in reports for row in report["e"] if len(row) > 4 and row[4] is not None}
    return {"title": title, "sources": sources, "gold": gold is not None,
            "labels": [label_style(label) for label in ALL_LABELS], "used_labels": sorted(used),
            "relation_types": list(types), "errors": {"entity": ENTITY_ERRORS, "relation": RELATION_ERRORS},
            "reports": reports,
            "unmatched": {key: {"count": len(ids), "ids": ids[:UNMATCHED_IDS_SHOWN]} for key, ids in unmatched.items()}}


def _script_json(value: Any) -> Markup:
    """JSON safe inside a ``<script>`` element: no ``<`` at all, so no ``</script>`` or ``<!--``."""
    return Markup(json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c"))


def render_viewer(payload: dict[str, Any]) -> str:
    """The self-contained HTML page (inline CSS and JavaScript, no network) for ``payload``."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE), autoescape=True,
                                     undefined=jinja2.StrictUndefined)
    return environment.get_template("viewer.html.j2").render(
        title=payload["title"], sources=payload["sources"], payload=_script_json(payload),
        css=Markup((HERE / "viewer.css").read_text(encoding="utf-8")),
        js=Markup((HERE / "viewer.js").read_text(encoding="utf-8")))


def write_viewer(path: str | Path, pred: list[Document], gold: list[Document] | None = None,
                 label_set: LabelSet | None = None, title: str = "llmgraph viewer", sources: str = "") -> dict[str, Any]:
    """Write the viewer of ``pred`` (against ``gold``) to ``path``; returns its payload."""
    payload = build_payload(pred, gold, label_set, title, sources)
    write_atomic(path, render_viewer(payload))
    return payload
