"""Read reviewed graphs back: a Label Studio JSON export (a file) or an exported brat folder."""

from __future__ import annotations

from pathlib import Path

from llmgraph.core.errors import InputError
from llmgraph.io.brat import from_brat
from llmgraph.io.label_studio import read_export
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.reviewed import Imported
from llmgraph.io.text_files import parse_json, read_text
from llmgraph.review.export import MANIFEST, REPORTS


def import_review(path: Path, labeler: str | None = None, every_annotator: bool = False) -> Imported:
    """The reviewed documents of ``path``: a brat folder ``review export`` wrote (its ``.ann`` files as the
    reviewers left them), or a Label Studio JSON export."""
    if path.is_dir():
        if labeler is not None or every_annotator:
            raise InputError("is a brat folder: --labeler and --all choose among Label Studio annotators", path)
        return _import_brat(path)
    return read_export(parse_json(read_text(path), path), str(path), labeler, every_annotator)


def _import_brat(folder: Path) -> Imported:
    manifest_path, reports_path = folder / MANIFEST, folder / REPORTS
    if not manifest_path.is_file() or not reports_path.is_file():
        raise InputError(f"has no {MANIFEST} and {REPORTS}: not a brat folder llmgraph review export wrote", folder)
    manifest = parse_json(read_text(manifest_path), manifest_path)
    bases = {doc.id: doc for doc in read_radgraph(reports_path)}
    imported = Imported()
    for entry in manifest["reports"]:
        stem = entry["file"]
        text_path, ann_path = folder / f"{stem}.txt", folder / f"{stem}.ann"
        if not ann_path.is_file() or not text_path.is_file():
            raise InputError(f"{stem}.txt or {stem}.ann is missing (report {entry['id']})", folder)
        # read as bytes and decoded, line ends kept: brat's offsets count them
        graph = from_brat(bases[entry["id"]], read_text(text_path), read_text(ann_path), str(ann_path))
        imported.docs.append(graph.document())
        imported.counts.update(graph.counts)
    imported.counts["reports imported"] = len(imported.docs)
    return imported

