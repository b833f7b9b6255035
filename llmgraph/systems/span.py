"""The span kind: our span baseline, a folder written by ``llmgraph train-span``, or a ``train:`` block that
``llmgraph compare`` trains first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from llmgraph.core.defaults import PREDICTOR_BATCH_SIZE
from llmgraph.core.errors import InputError
from llmgraph.core.fingerprints import contents_fingerprint
from llmgraph.systems.base import SystemContext, SystemKind
from llmgraph.systems.predictor import PredictorSystem
from llmgraph.systems.provision import trained_span_model
from llmgraph.training.span.files import SPAN_MODEL_FILES


def span_model_fingerprint(folder: str | Path) -> str | None:
    """A SHA-256 over the contents (and relative paths) of a span model's files: ``span_model.json``,
    ``heads.pt`` and every file of ``encoder/``. Retraining into the same folder changes it; copying
    the folder elsewhere does not. None when the folder holds none of them."""
    return contents_fingerprint(folder, SPAN_MODEL_FILES)


def span_system(model_dir: str | Path, batch_size: int = PREDICTOR_BATCH_SIZE, training_seconds: float | None = None) -> PredictorSystem:
    """Our span baseline from a folder written by ``llmgraph train-span`` (torch is imported when it loads,
    so a cached comparison never imports it)."""
    model_dir = Path(model_dir)

    def load() -> Any:
        from llmgraph.training.span.predict import SpanPredictor

        return SpanPredictor.load(model_dir)

    return PredictorSystem(load,
                           {"type": "span", "model": str(model_dir.resolve()),
                            "span_model_sha256": span_model_fingerprint(model_dir)},
                           batch_size, training_seconds=training_seconds)


@dataclass
class SpanSystemConfig:
    """Our span baseline: a folder written by ``llmgraph train-span`` (``model``), or a ``train:`` block
    that ``compare`` trains into its output folder first (the keys of ``$defs.span_training``)."""

    type: ClassVar[str] = "span"

    model: str | None = None
    train: dict[str, Any] | None = None
    batch_size: int = PREDICTOR_BATCH_SIZE

    def __post_init__(self) -> None:
        if (self.model is None) == (self.train is None):
            raise InputError("a span system needs a model folder (--model DIR, model:) or, in an experiment "
                             "file, a train: block, not both")


class SpanKind(SystemKind):
    name, title, config = "span", "span", SpanSystemConfig
    path_keys = ("model",)

    def build(self, config: SpanSystemConfig, context: SystemContext) -> PredictorSystem:
        if config.model is not None:
            return span_system(config.model, config.batch_size)
        if context.work_dir is None:
            raise InputError("a span system with a train: block is trained by llmgraph compare; "
                             "elsewhere give the folder of llmgraph train-span")
        model_dir, seconds = trained_span_model(config.train, context.work_dir, context.log)
        return span_system(model_dir, config.batch_size, training_seconds=seconds or None)
