"""Where a comparison writes what, under its output folder ``OUTDIR`` (README, Comparing systems). Anything
the experiment reads must lie outside these paths; ``compare`` refuses it before any work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmgraph.core.names import safe_name
from llmgraph.systems.provision import LLM_MODELS, SPAN_MODELS

GOLD, SYSTEMS, PLOTS, VIEWER = "gold", "systems", "plots", "viewer"
OUTPUT_FOLDERS = (GOLD, SYSTEMS, SPAN_MODELS, LLM_MODELS, PLOTS, VIEWER)
RESULTS_CSV, RESULTS_MD, SIGNIFICANCE_CSV = "results.csv", "results.md", "significance.csv"
DIFFS_JSONL, PER_REPORT_CSV, FAILURES_JSON = "diffs.jsonl", "per_report.csv", "failures.json"
ERRORS_CSV, CALIBRATION_CSV = "errors.csv", "calibration.csv"
OUTPUT_FILES = (RESULTS_CSV, RESULTS_MD, SIGNIFICANCE_CSV, DIFFS_JSONL, PER_REPORT_CSV, ERRORS_CSV, CALIBRATION_CSV,
                FAILURES_JSON)


def folder_name(system: str) -> str:
    """The folder (and file-name part) of a system's outputs (``human (labeler 2 vs 1)`` is
    ``human-labeler-2-vs-1``)."""
    return safe_name(system, "system")


@dataclass(frozen=True)
class Layout:
    """The paths of one comparison's outputs."""

    out_dir: Path

    def written_paths(self) -> list[Path]:
        """Every file and folder a comparison writes into (``OUTPUT_FILES`` and ``OUTPUT_FOLDERS``)."""
        return [self.out_dir / name for name in (*OUTPUT_FOLDERS, *OUTPUT_FILES)]

    def gold(self, gold_set: str) -> Path:
        """The gold set as scored."""
        return self.out_dir / GOLD / f"{gold_set}.json"

    def predictions(self, system: str, gold_set: str) -> Path:
        """A system's predictions on a gold set; beside them ``SET.manifest.json`` and ``SET.key``."""
        return self.out_dir / SYSTEMS / folder_name(system) / f"{gold_set}.json"

    def manifest(self, system: str, gold_set: str) -> Path:
        return self.predictions(system, gold_set).with_suffix(".manifest.json")

    def key(self, system: str, gold_set: str) -> Path:
        """The cache key the predictions were made under."""
        return self.predictions(system, gold_set).with_suffix(".key")

    def viewer(self, system: str, gold_set: str) -> Path:
        return self.out_dir / VIEWER / f"{folder_name(system)}__{gold_set}.html"

    def table(self, name: str) -> Path:
        """One of ``OUTPUT_FILES``."""
        return self.out_dir / name

    @property
    def plots(self) -> Path:
        return self.out_dir / PLOTS
