"""Write the chosen reports for review: Label Studio tasks and labeling config, or brat files, with a
manifest that says how they were chosen and why each one was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS, XL_LABELS, LabelSet
from llmgraph.core.names import safe_name
from llmgraph.evaluation.pairing import label_set_of_documents
from llmgraph.io.atomic import write_atomic, write_json
from llmgraph.io.brat import annotation_conf, to_brat
from llmgraph.io.label_studio import labeling_config, to_task
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.review.select import Pick, Selection, select

MANIFEST = "review.json"  # in every export folder
REPORTS = "reports.json"  # brat: the exported reports without annotations (their tokens and offsets)
LABELS_OF = {LabelSet.RADGRAPH: RADGRAPH_LABELS, LabelSet.RADGRAPH_XL: XL_LABELS}


def _write_label_studio(docs: list[Document], folder: Path, system: str, labels: tuple[str, ...]) -> dict[str, str]:
    write_json(folder / "tasks.json", [to_task(doc, system) for doc in docs])
    write_atomic(folder / "labeling_config.xml", labeling_config(labels))
    return {doc.id: "tasks.json" for doc in docs}


def _write_brat(docs: list[Document], folder: Path, system: str, labels: tuple[str, ...]) -> dict[str, str]:
    stems: dict[str, str] = {}
    for index, doc in enumerate(docs, 1):
        stem = safe_name(doc.id, "report")
        if stem in stems.values():
            stem = f"{stem}-{index}"
        stems[doc.id] = stem
        text, ann = to_brat(doc)
        write_atomic(folder / f"{stem}.txt", text)
        write_atomic(folder / f"{stem}.ann", ann)
    write_atomic(folder / "annotation.conf", annotation_conf(labels))
    write_radgraph([replace(doc, entities=[], relations=[], annotator=None) for doc in docs], folder / REPORTS)
    return stems


WRITERS = {"label-studio": _write_label_studio, "brat": _write_brat}


def export_review(docs: list[Document], folder: Path, to: str, selection: Selection, system: str,
                  about: dict[str, Any]) -> dict[str, Any]:
    """Choose reports from ``docs`` (one system's graphs) by ``selection``, write them to ``folder`` for the
    tool ``to`` (one of ``WRITERS``) and return the manifest written with them (``about``: where the
    graphs came from)."""
    if folder.exists() and any(folder.iterdir()):
        raise InputError("is not empty: export into a new folder (an export never writes over another)", folder)
    if len({doc.annotator for doc in docs}) > 1:
        raise InputError("holds two labelers' graphs: review one (--labeler 1 or 2)")
    picks = select(docs, selection)
    by_id = {doc.id: doc for doc in docs}
    chosen = [by_id[pick.id] for pick in picks]
    labels = LABELS_OF[label_set_of_documents(docs) or LabelSet.RADGRAPH]
    folder.mkdir(parents=True, exist_ok=True)
    files = WRITERS[to](chosen, folder, system, labels)
    manifest = {"format": to, "system": system, **about, "select": selection.how, "count": len(picks),
                "of": len(docs), "seed": selection.seed if selection.how == "random" else None,
                "labels": list(labels), "reports": [_entry(pick, files[pick.id]) for pick in picks]}
    write_json(folder / MANIFEST, manifest)
    return manifest


def _entry(pick: Pick, file: str) -> dict[str, Any]:
    return {"id": pick.id, "rank": pick.rank, "why": pick.why, "value": pick.value, "file": file}
