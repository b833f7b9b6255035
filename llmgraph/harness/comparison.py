"""What a comparison produced, as data: one ``Outcome`` per system and gold set, and the ``Comparison`` that
``llmgraph.harness.results`` turns into tables (this module only holds them; ``compare`` fills them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmgraph.core.document import Document
from llmgraph.evaluation.scoring import ScoredPredictions
from llmgraph.harness.experiment import Experiment


@dataclass
class Outcome:
    """One system on one gold set: its scores, cost and diffs, or why it failed."""

    system: str
    gold_set: str
    predictions: Path | None = None
    scores: dict[str, Any] | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    error: str | None = None
    reference: bool = False  # a ceiling row (another labeler, a reference model's predictions)
    note: str | None = None  # how it was scored, when that differs from the others (another label set)
    scored: ScoredPredictions | None = field(default=None, repr=False)  # report by report: the tests and per-report rows


@dataclass
class Comparison:
    """Everything ``llmgraph.harness.results`` turns into tables."""

    experiment: Experiment
    out_dir: Path
    gold: dict[str, list[Document]]
    outcomes: list[Outcome]
    significance: list[dict[str, Any]]
    diffs: list[dict[str, Any]]
    per_report: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)  # errors.csv: the error classes per system and gold set
    calibration: list[dict[str, Any]] = field(default_factory=list)  # calibration.csv: how far each system's scores hold

    @property
    def systems(self) -> list[str]:
        """The systems in table order: the experiment's, then the references ``compare`` added."""
        return list(dict.fromkeys(outcome.system for outcome in self.outcomes))

    @property
    def references(self) -> set[str]:
        return {outcome.system for outcome in self.outcomes if outcome.reference}
