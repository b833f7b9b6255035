"""Label Studio for review: tasks with a system's graph as a prediction (pre-annotations a reviewer
corrects), the labeling config for a label set, and the way back from a Label Studio JSON export.

A task's ``data`` holds the report as a person reads it (``text``) and, under ``llmgraph``, the
exported report in RadGraph JSON without annotations (its tokens, character offsets and metadata), so an
export read back needs nothing but itself. Entities are ``labels`` regions over ``text`` (character
offsets, the entity's score as the region's ``score``, region ids ``e<entity id>``); relations are
``relation`` results between two regions (``direction`` right: from the source to the target).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from xml.sax.saxutils import quoteattr

from llmgraph.core.document import Document, display_text
from llmgraph.core.errors import InputError
from llmgraph.core.labels import ALL_LABELS, RELATION_TYPES
from llmgraph.io.radgraph import LABELERS, document_to_raw, documents_from_raw
from llmgraph.io.reviewed import Imported, Region, ReviewedGraph, entity_numbers

FROM_NAME, TO_NAME = "label", "text"  # the names of the Labels and Text tags in the labeling config
DATA_KEY = "llmgraph"  # the exported report under task["data"]
REGION_ID = re.compile(r"e(\d+)$")


def labeling_config(labels: Iterable[str]) -> str:
    """The labeling config: the report's text, one Label per entity label, the three relation types."""
    label_lines = "\n".join(f"    <Label value={quoteattr(label)}/>" for label in labels)
    relation_lines = "\n".join(f"    <Relation value={quoteattr(kind)}/>" for kind in RELATION_TYPES)
    return (f"<View>\n  <Relations>\n{relation_lines}\n  </Relations>\n"
            f'  <Labels name="{FROM_NAME}" toName="{TO_NAME}">\n{label_lines}\n  </Labels>\n'
            f'  <Text name="{TO_NAME}" value="${TO_NAME}"/>\n</View>\n')


def to_task(doc: Document, model_version: str) -> dict[str, Any]:
    """One task: the report, and its graph as a prediction by ``model_version``."""
    text, offsets = display_text(doc)
    base = document_to_raw(replace(doc, entities=[], relations=[], annotator=None))
    region = {entity_id: f"e{number}" for entity_id, number in entity_numbers(doc).items()}
    result: list[dict[str, Any]] = []
    for entity in doc.entities:
        start, end = offsets[entity.start_ix][0], offsets[entity.end_ix][1]
        item = {"id": region[entity.id], "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
                "value": {"start": start, "end": end, "text": text[start:end], "labels": [entity.label]}}
        if entity.score is not None:
            item["score"] = entity.score
        result.append(item)
    for relation in doc.relations:
        item = {"type": "relation", "from_id": region[relation.source], "to_id": region[relation.target],
                "direction": "right", "labels": [relation.type]}
        if relation.score is not None:
            item["score"] = relation.score
        result.append(item)
    prediction: dict[str, Any] = {"model_version": model_version, "result": result}
    scores = [item["score"] for item in result if "score" in item]
    if scores:
        prediction["score"] = sum(scores) / len(scores)  # Label Studio sorts tasks by it
    return {"data": {TO_NAME: text, DATA_KEY: {"id": doc.id, **base}}, "predictions": [prediction]}


def _annotator(annotation: dict[str, Any]) -> str:
    """Who made an annotation: Label Studio writes ``completed_by`` as a user id, or an object with the
    user's email."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("username") or who.get("id"))
    return str(who)


def _latest(annotations: list[dict[str, Any]]) -> dict[str, Any]:
    return max(annotations, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))


def read_export(tasks: Any, path: str, labeler: str | None = None, every_annotator: bool = False) -> Imported:
    """The reviewed documents of a Label Studio JSON export (``tasks``, read from ``path``): per task, the
    latest annotation (of ``labeler`` only when named; every annotator's latest as labeler_1/_2 with
    ``every_annotator``). A task without an annotation is counted as not reviewed, never read as a report
    without findings; cancelled (skipped) annotations likewise."""
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in tasks):
        raise InputError("not a Label Studio JSON export (a list of tasks, each with its data and annotations): "
                         "export the project with the JSON format (not JSON-MIN or CSV)", path)
    imported = Imported()
    chosen: list[tuple[dict, str | None, dict]] = []  # (task, labeler, annotation)
    for task in tasks:
        annotations = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        imported.counts["cancelled annotations skipped"] += len(task.get("annotations") or []) - len(annotations)
        if labeler is not None:
            annotations = [a for a in annotations if _annotator(a) == labeler]
        if not annotations:
            imported.counts["tasks not reviewed"] += 1
            continue
        if every_annotator:
            by_annotator: dict[str, list] = {}
            for annotation in annotations:
                by_annotator.setdefault(_annotator(annotation), []).append(annotation)
            chosen += [(task, who, _latest(group)) for who, group in by_annotator.items()]
        else:
            chosen.append((task, None, _latest(annotations)))
    _refuse_foreign_labels(chosen, path)
    names = sorted({who for _, who, _ in chosen if who is not None})
    if len(names) > len(LABELERS):
        raise InputError(f"--all keeps each annotator as a labeler, and RadGraph files hold two; this export has "
                         f"{len(names)} ({', '.join(names)}): choose one with --labeler", path)
    imported.annotators = dict(zip(LABELERS, names))
    labeler_of = {who: name for name, who in imported.annotators.items()}
    for task, who, annotation in chosen:
        graph = _graph(task, annotation, path)
        doc = graph.document()
        imported.counts.update(graph.counts)
        imported.docs.append(replace(doc, annotator=labeler_of.get(who)) if who is not None else doc)
    imported.counts["reports imported"] = len({doc.id for doc in imported.docs})
    if not imported.docs:
        raise InputError(f"no reviewed task: {imported.counts['tasks not reviewed']} of {len(tasks)} tasks have no "
                         "annotation" + (f" by {labeler}" if labeler else "") + " (predictions are not reviews)", path)
    return imported


def _refuse_foreign_labels(chosen: list[tuple[dict, str | None, dict]], path: str) -> None:
    """One line naming every label of the chosen annotations that is not a RadGraph or RadGraph-XL label."""
    foreign = sorted({label for _, _, annotation in chosen for item in annotation.get("result") or []
                      if item.get("type") == "labels" for label in (item.get("value") or {}).get("labels") or []
                      if label not in ALL_LABELS})
    if foreign:
        raise InputError(f"labels not in RadGraph's or RadGraph-XL's label set: {', '.join(foreign)} "
                         "(an export from another project?)", path)


def _graph(task: dict[str, Any], annotation: dict[str, Any], path: str) -> ReviewedGraph:
    data = task.get("data") or {}
    raw = data.get(DATA_KEY)
    if not isinstance(raw, dict) or "id" not in raw:
        raise InputError(f"task {task.get('id')} has no {DATA_KEY!r} data: not a task llmgraph review export wrote", path)
    raw = dict(raw)
    doc_id = str(raw.pop("id"))
    base = documents_from_raw(doc_id, raw)[0]
    graph = ReviewedGraph(base, f"task {task.get('id')}")
    if data.get(TO_NAME) != display_text(base)[0]:
        raise graph.fail("the task's text differs from the exported report: another version of the report?")
    for item in annotation.get("result") or []:
        kind = item.get("type")
        if kind == "labels":
            value = item.get("value") or {}
            labels = value.get("labels") or []
            if len(labels) != 1:
                raise graph.fail(f"region {item.get('id')} has {len(labels)} labels; an entity has one")
            match = REGION_ID.match(str(item.get("id")))
            try:
                start, end = int(value["start"]), int(value["end"])
            except (KeyError, TypeError, ValueError):
                raise graph.fail(f"region {item.get('id')} has no character start and end") from None
            graph.add_region(Region(str(item.get("id")), start, end, labels[0], value.get("text"),
                                    match.group(1) if match else None))
        elif kind == "relation":
            _link(graph, item)
        else:
            graph.counts[f"results of type {kind} skipped"] += 1
    return graph


def _link(graph: ReviewedGraph, item: dict[str, Any]) -> None:
    labels = item.get("labels") or []
    if len(labels) != 1:
        raise graph.fail(f"relation {item.get('from_id')} -> {item.get('to_id')} has {len(labels)} relation "
                         "labels; a RadGraph relation has one type")
    direction = item.get("direction", "right")
    if direction == "bi":
        raise graph.fail(f"relation {item.get('from_id')} <-> {item.get('to_id')} goes both ways; RadGraph "
                         "relations have a direction")
    source, target = str(item.get("from_id")), str(item.get("to_id"))
    graph.add_link(*((target, source) if direction == "left" else (source, target)), labels[0])
