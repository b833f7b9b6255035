"""Predictions made elsewhere as a system of ``llmgraph compare``: ``type: predictions``.

A file of graphs in any format the readers take (RadGraph JSON, the ``radgraph`` package's output,
JSONL, a two-labeler test file with ``labeler``) stands in one table with the systems llmgraph runs:
the same scores, significance tests, per-report rows, viewers and plots. ``path`` is one file for
every gold set, a mapping from gold set name to file, or a folder holding one file per gold set
(named by the set: ``FOLDER/cxr.json``). A gold report the file lacks scores as an empty graph and
is a per-report error (``not in the predictions file``), counted; predictions of reports the gold set
does not have are ignored and counted. A prediction whose text differs from the gold's is a
one-line error naming the file and the report, as ``llmgraph evaluate`` says it.

``reference: true`` marks the row as a ceiling to read the others against (another labeler, or a
second model's graphs); the human ceiling of a gold set with two labelers is added by ``compare``
itself (``human_ceiling``).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator

from llmgraph.core.defaults import RADGRAPH_SUFFIXES
from llmgraph.core.document import Batch, Document
from llmgraph.core.errors import InputError
from llmgraph.core.fingerprints import file_sha256
from llmgraph.core.labels import label_set_of
from llmgraph.evaluation.pairing import check_same_text, no_common_ids
from llmgraph.io.radgraph_reader import check_labeler_named, read_radgraph
from llmgraph.systems.base import SystemContext, SystemKind

MISSING = "not in the predictions file"  # the error of a gold report the file has no graph for


def _labeler(value: Any) -> str | None:
    return None if value is None else str(value)


def file_in_folder(folder: Path, gold_set: str) -> Path:
    """The one file of ``folder`` named by the gold set (``cxr.json`` or ``cxr.jsonl``)."""
    found = [folder / f"{gold_set}{extension}" for extension in RADGRAPH_SUFFIXES if (folder / f"{gold_set}{extension}").is_file()]
    if len(found) != 1:
        wanted = " or ".join(f"{gold_set}{extension}" for extension in RADGRAPH_SUFFIXES)
        problem = f"has no predictions for gold set {gold_set!r} (expected {wanted})" if not found else \
            f"has both {found[0].name} and {found[1].name} for gold set {gold_set!r}"
        raise InputError(problem, folder)
    return found[0]


@dataclass
class PredictionsSystemConfig:
    """Graphs made elsewhere, read from ``path`` (a file, ``{gold set: file}``, or a folder of
    ``GOLDSET.json`` files); ``labeler`` picks one labeler of a two-labeler file; ``reference`` marks
    a ceiling row."""

    type: ClassVar[str] = "predictions"

    path: str | dict[str, str]
    labeler: str | int | None = None
    reference: bool = False

    def file_for(self, gold_set: str | None) -> Path:
        """The predictions file of a gold set."""
        if isinstance(self.path, dict):
            if gold_set not in self.path:
                raise InputError(f"path: no file for gold set {gold_set!r} (given for {', '.join(self.path)})")
            return Path(self.path[gold_set])
        path = Path(self.path)
        if path.is_dir():
            if gold_set is None:
                raise InputError("is a folder: give the file of one gold set", path)
            return file_in_folder(path, gold_set)
        if not path.exists():
            raise InputError("no such predictions file", path)
        return path



class PredictionFile:
    """A System over a file of graphs: each gold report's graph, looked up by report id."""

    def __init__(self, path: Path, labeler: str | None = None, reference: bool = False,
                 gold_ids: frozenset[str] | None = None, gold_set: str | None = None):
        """``gold_ids``: the reports of the gold set (``gold_set`` its name), to count the predictions it does
        not have, and to refuse a file that has none of them."""
        self.path, self.labeler, self.reference, self.gold_ids = Path(path), labeler, reference, gold_ids
        self.gold_set = gold_set
        self.sha256 = file_sha256(self.path)  # the cache key: a changed file is scored again
        self.by_id: dict[str, Document] | None = None
        self.counts = {"reports": 0, "reports_ok": 0, "reports_failed": 0, "reports_missing": 0}
        self.seconds = 0.0
        self.label_set: str | None = None

    def settings(self) -> dict[str, Any]:
        return {"type": "predictions", "path": str(self.path.resolve()), "sha256": self.sha256,
                "labeler": self.labeler, "reference": self.reference}

    def _read(self) -> dict[str, Document]:
        started = time.perf_counter()
        docs = read_radgraph(self.path, self.labeler)
        if not docs:
            raise InputError("holds no predictions (an empty collection)", self.path)
        check_labeler_named(docs, self.labeler, self.path)
        self.label_set = next((label_set_of(e.label).value for doc in docs for e in doc.entities), None)
        self.seconds += time.perf_counter() - started
        return {doc.id: doc for doc in docs}

    def _prediction(self, gold: Document) -> Document | None:
        assert self.by_id is not None
        pred = self.by_id.get(gold.id)
        if pred is not None:
            check_same_text(gold.id, gold.text, pred.text, self.path)
        return pred

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        if self.by_id is None:
            self.by_id = self._read()
            if self.gold_ids is not None and not self.by_id.keys() & self.gold_ids:
                raise InputError(no_common_ids(list(self.by_id), sorted(self.gold_ids),
                                                 f"gold set {self.gold_set}" if self.gold_set else "the gold set"), self.path)
        docs = iter(docs)
        while batch := list(itertools.islice(docs, 256)):
            found = [(doc, self._prediction(doc)) for doc in batch]
            predicted = [pred for _, pred in found if pred is not None]
            errors = {doc.id: MISSING for doc, pred in found if pred is None}
            self.counts["reports"] += len(batch)
            self.counts["reports_ok"] += len(predicted)
            self.counts["reports_failed"] += len(errors)
            self.counts["reports_missing"] += len(errors)
            yield predicted, errors

    def tokens(self) -> int:
        return 0

    def not_in_gold(self) -> int | None:
        """Predictions of reports the gold set does not have (ignored); None when not known."""
        return None if self.by_id is None or self.gold_ids is None else len(self.by_id.keys() - self.gold_ids)

    def manifest(self) -> dict[str, Any]:
        return {"backend": None, "settings": self.settings(), "predictions_file": str(self.path),
                "label_set": self.label_set, "seconds": {"reading": self.seconds}, "reports_per_second": None,
                "counts": {**self.counts, "predictions_not_in_gold": self.not_in_gold(),
                           "prompt_tokens": 0, "completion_tokens": 0}}

    def close(self) -> None:
        pass


class PredictionsKind(SystemKind):
    name, title, config = "predictions", "predictions", PredictionsSystemConfig
    runnable = False  # made elsewhere: compare reads them, extract has nothing to run
    path_keys = ("path",)

    def build(self, config: PredictionsSystemConfig, context: SystemContext) -> PredictionFile:
        return PredictionFile(config.file_for(context.gold_set), _labeler(config.labeler), config.reference,
                              context.gold_ids, context.gold_set)
