"""A system around a fine-tuned model with a batched ``predict(docs) -> docs`` (our span baseline, the
radgraph package's models)."""

from __future__ import annotations

import itertools
import time
from typing import Any, Callable, Iterable, Iterator

from llmgraph.core.defaults import PREDICTOR_BATCH_SIZE
from llmgraph.core.document import Batch, Document
from llmgraph.core.rules import MAX_REPORT_WORDS, report_problem


class PredictorSystem:
    """A fine-tuned model with a batched ``predict(docs) -> docs`` (our span baseline, the radgraph package);
    it loads on first use. Reports ``report_problem`` refuses (longer than ``max_words`` tokens, invalid
    Unicode, empty) are per-report errors; the rest of their batch is predicted."""

    def __init__(self, load: Callable[[], Any], settings: dict[str, Any], batch_size: int = PREDICTOR_BATCH_SIZE,
                 max_words: int = MAX_REPORT_WORDS, training_seconds: float | None = None):
        self.load, self._settings, self.batch_size, self.max_words = load, settings, batch_size, max_words
        self.training_seconds = training_seconds  # when the model was trained for this run (compare)
        self.predictor: Any = None
        self.load_seconds, self.seconds, self.reports, self.failed = 0.0, 0.0, 0, 0

    def settings(self) -> dict[str, Any]:
        return self._settings

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        if self.predictor is None:
            started = time.perf_counter()
            self.predictor = self.load()
            self.load_seconds = time.perf_counter() - started
        docs = iter(docs)
        while batch := list(itertools.islice(docs, self.batch_size)):
            errors = {doc.id: problem for doc in batch if (problem := report_problem(doc, self.max_words))}
            runnable = [doc for doc in batch if doc.id not in errors]
            started = time.perf_counter()
            predicted = self.predictor.predict(runnable) if runnable else []
            self.seconds += time.perf_counter() - started
            self.reports += len(batch)
            self.failed += len(errors)
            yield predicted, errors

    def tokens(self) -> int:
        return 0

    def manifest(self) -> dict[str, Any]:
        return {"backend": self.predictor.describe() if self.predictor else None, "settings": self._settings,
                "seconds": {"model_load": self.load_seconds, "prediction": self.seconds,
                            **({"training": self.training_seconds} if self.training_seconds is not None else {})},
                "reports_per_second": self.reports / self.seconds if self.seconds else None,
                "counts": {"reports": self.reports, "reports_ok": self.reports - self.failed, "reports_failed": self.failed,
                           "prompt_tokens": 0, "completion_tokens": 0}}

    def close(self) -> None:
        if self.predictor is not None:
            self.predictor.close()
