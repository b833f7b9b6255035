"""The radgraph kind: a model of the ``radgraph`` package (``llmgraph.systems.radgraph_package``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from llmgraph.systems.base import SystemContext, SystemKind
from llmgraph.systems.predictor import PredictorSystem
from llmgraph.systems.radgraph_package import DEFAULT_RADGRAPH_MODEL


def radgraph_system(model: str = DEFAULT_RADGRAPH_MODEL, cache_dir: str | None = None) -> PredictorSystem:
    """A model of the ``radgraph`` package (it predicts one report at a time)."""
    from llmgraph.systems.radgraph_package import RadGraphPackageModel

    return PredictorSystem(lambda: RadGraphPackageModel(model, cache_dir), {"type": "radgraph", "model": model})


@dataclass
class RadGraphSystemConfig:
    """A model of the ``radgraph`` package (``llmgraph.systems.radgraph_package.RADGRAPH_MODELS``)."""

    type: ClassVar[str] = "radgraph"

    model: str = DEFAULT_RADGRAPH_MODEL
    cache_dir: str | None = None


class RadGraphKind(SystemKind):
    name, title, config = "radgraph", "radgraph package", RadGraphSystemConfig

    def build(self, config: RadGraphSystemConfig, context: SystemContext) -> PredictorSystem:
        return radgraph_system(config.model, config.cache_dir)
