"""The gold sets of an experiment as they are scored, and the human ceiling a two-labeler gold set adds."""

from __future__ import annotations

from dataclasses import replace

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.harness.experiment import GoldSet, SystemSpec
from llmgraph.io.radgraph_reader import read_radgraph


def load_gold(gold_set: GoldSet) -> list[Document]:
    """The gold documents of a set, with its default modality and limit applied."""
    docs = read_radgraph(gold_set.path, gold_set.labeler)
    if gold_set.limit:
        docs = docs[:gold_set.limit]
    if gold_set.modality:
        docs = [doc if doc.modality else replace(doc, modality=gold_set.modality) for doc in docs]
    if not docs:
        raise InputError("no reports", gold_set.path)
    return docs


def human_ceiling(gold_set: GoldSet, docs: list[Document]) -> SystemSpec | None:
    """The other labeler of a gold set with two (a RadGraph test file read as ``labeler: 1`` or ``2``), as
    a reference row: ``human (labeler 2 vs 1)`` is labeler 2's graphs scored against labeler 1's."""
    if gold_set.labeler not in ("1", "2") or not any(doc.annotator for doc in docs):
        return None
    other = "2" if gold_set.labeler == "1" else "1"
    return SystemSpec(f"human (labeler {other} vs {gold_set.labeler})", "predictions",
                      {"path": str(gold_set.path), "labeler": other, "reference": True})
