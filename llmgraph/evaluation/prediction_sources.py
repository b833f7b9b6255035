"""Where the predictions come from while gold reports are scored: a list, or their file read along with the gold.

Both are asked for a report's prediction by id (``find``), give the predictions still wanted
once the gold is done (``finish``) and name the predictions no gold report asked for (``unmatched``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.evaluation.items import ReportItems
from llmgraph.io.radgraph_reader import RadGraphFile

LATER = object()  # a prediction that may come later in its file


class ListedPredictions:
    """Predictions held in a list, found by report id (and made ready for scoring by ``prepare``)."""

    def __init__(self, pred: list[Document], prepare: Callable[[Document], Any]):
        self.by_id = {doc.id: doc for doc in pred}
        if len(self.by_id) != len(pred):
            raise InputError("predictions hold a report id twice")
        self.order = [doc.id for doc in pred]
        self.asked: set[str] = set()
        self.prepare = prepare

    def find(self, doc_id: str) -> Any:
        self.asked.add(doc_id)
        doc = self.by_id.get(doc_id)
        return None if doc is None else self.prepare(doc)

    def finish(self, wanted: set[str]) -> Iterator[tuple[str, Any]]:
        return iter(())

    def unmatched(self) -> list[str]:
        return [doc_id for doc_id in self.order if doc_id not in self.asked]


class FilePredictions:
    """Predictions read from their file along with the gold file, as ``ReportItems``.

    A helper process parses the file (and computes each prediction's items) while this one reads
    the gold. When both files list the reports in the same order (``llmgraph extract`` keeps its
    input's order), each prediction is parsed once, as its turn comes. A few entries are read
    ahead to skip predictions the gold does not have; entries read past are remembered by byte
    offset only and parsed again if asked for. A gold report whose prediction is not in sight
    waits until the end of the gold file (``LATER``), when the rest of the prediction file is read.
    """

    WINDOW = 64  # predictions read ahead of the gold, at most

    def __init__(self, path: Path, labeler: str | None, gold_repeats: bool, prepare: Callable[[Document], ReportItems]):
        self.path = path
        self.prepare = prepare
        self.file = RadGraphFile(path, labeler, read_ahead=True, prepare=prepare)
        self.stream = self._predictions(labeler == "both")
        self.window: dict[str, tuple[int, ReportItems]] = {}  # read ahead, in file order
        self.passed: dict[str, int] = {}  # read past without being asked for: id -> byte offset
        self.found: dict[str, int] = {}  # asked for, kept when the gold asks for a report twice
        self.gold_repeats = gold_repeats
        self.last: ReportItems | None = None
        self.unmatched_ids: list[str] = []

    def _predictions(self, both: bool) -> Iterator[tuple[int, ReportItems]]:
        seen: set[str] | None = set() if both else None  # only both labelers can repeat an id
        for offset, predictions in self.file.entries():
            for prediction in predictions:
                if seen is not None and prediction.id in seen:
                    raise InputError("predictions hold a report id twice", self.path, prediction.id)
                if seen is not None:
                    seen.add(prediction.id)
                yield offset, prediction

    def _again(self, offset: int) -> ReportItems | None:
        doc = next(iter(self.file.documents_at(offset)), None)
        return None if doc is None else self.prepare(doc)

    def find(self, doc_id: str) -> ReportItems | object:
        if self.last is not None and self.last.id == doc_id:
            return self.last
        offset, prediction = self._take(doc_id)
        if prediction is None:
            return LATER
        if self.gold_repeats:
            self.found[doc_id] = offset
        self.last = prediction
        return prediction

    def _take(self, doc_id: str) -> tuple[int, ReportItems | None]:
        if doc_id in self.passed:
            offset = self.passed.pop(doc_id)
            return offset, self._again(offset)
        if doc_id in self.found:
            return self.found[doc_id], self._again(self.found[doc_id])
        while doc_id not in self.window and len(self.window) < self.WINDOW:
            item = next(self.stream, None)
            if item is None:
                break
            self.window[item[1].id] = item
        if doc_id not in self.window:
            return 0, None
        for key in list(self.window):  # the entries before it are predictions the gold skipped
            offset, prediction = self.window.pop(key)
            if key == doc_id:
                return offset, prediction
            self.passed[key] = offset
        raise AssertionError("unreachable: the id is in the window")

    def finish(self, wanted: set[str]) -> Iterator[tuple[str, ReportItems]]:
        """After the gold: read the rest of the file (all of it is validated), yielding the
        predictions of ``wanted`` ids; every other prediction not asked for is unmatched."""
        rest: list[tuple[int, str]] = []
        for doc_id in wanted & self.found.keys():  # waited for, then found when the gold asked again
            prediction = self._again(self.found[doc_id])
            if prediction is not None:
                yield doc_id, prediction
        for doc_id, offset in list(self.passed.items()):
            if doc_id in wanted:
                prediction = self._again(offset)
                if prediction is not None:
                    yield doc_id, prediction
            else:
                rest.append((offset, doc_id))
        for offset, prediction in itertools.chain(list(self.window.values()), self.stream):
            if prediction.id in wanted:
                yield prediction.id, prediction
            else:
                rest.append((offset, prediction.id))
        self.window.clear()
        self.unmatched_ids = [doc_id for _, doc_id in sorted(rest)]

    def unmatched(self) -> list[str]:
        return self.unmatched_ids
