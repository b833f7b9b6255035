"""Read reviewed graphs back: a Label Studio JSON export (a file) or an exported brat folder."""

from __future__ import annotations

import json
from pathlib import Path

from llmgraph.core.errors import InputError
from llmgraph.io.brat import from_brat
from llmgraph.io.label_studio import read_export
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.reviewed import Imported
from llmgraph.review.export import MANIFEST, REPORTS


def import_review(path: Path, labeler: str | None = None, every_annotator: bool = False) -> Imported:
    """The reviewed documents of ``path``: a brat folder ``review export`` wrote (its ``.ann`` files as the
    reviewers left them), or a Label Studio JSON export."""
    if path.is_dir():
        if labeler is not None or every_annotator:
            raise InputError("is a brat folder: --labeler and --all choose among Label Studio annotators", path)
        return _import_brat(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not a readable Label Studio JSON export ({error})", path) from None
    return read_export(tasks, str(path), labeler, every_annotator)


def _import_brat(folder: Path) -> Imported:
    manifest_path, reports_path = folder / MANIFEST, folder / REPORTS
    if not manifest_path.is_file() or not reports_path.is_file():
        raise InputError(f"has no {MANIFEST} and {REPORTS}: not a brat folder llmgraph review export wrote", folder)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    bases = {doc.id: doc for doc in read_radgraph(reports_path)}
    imported = Imported()
    for entry in manifest["reports"]:
        stem = entry["file"]
        text_path, ann_path = folder / f"{stem}.txt", folder / f"{stem}.ann"
        if not ann_path.is_file() or not text_path.is_file():
            raise InputError(f"{stem}.txt or {stem}.ann is missing (report {entry['id']})", folder)
        graph = from_brat(bases[entry["id"]], _read(text_path), _read(ann_path), str(ann_path))
        imported.docs.append(graph.document())
        imported.counts.update(graph.counts)
    imported.counts["reports imported"] = len(imported.docs)
    return imported


def _read(path: Path) -> str:
    """A brat file as written: offsets count characters, so line ends are kept as they are."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()
