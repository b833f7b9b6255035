"""``llmgraph evaluate``: score a prediction file against gold and print the tables (or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from llmgraph.cli.base import _flag, _labeler_option
from llmgraph.cli.options import Rewards
from llmgraph.cli.render import _print_evaluation
from llmgraph.core.defaults import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED
from llmgraph.core.labels import LabelSet
from llmgraph.evaluation.rewards import DEFAULT_REWARDS
from llmgraph.evaluation.scoring import confidence_curve, evaluate_files


def evaluate(
    gold: Path = typer.Option(..., "--gold", metavar="FILE", help="Gold RadGraph JSON/JSONL."),
    pred: Path = typer.Option(..., "--pred", metavar="FILE", help="Predicted RadGraph JSON/JSONL."),
    labeler: Optional[str] = _labeler_option(),
    pred_labeler: Optional[str] = typer.Option(
        None, "--pred-labeler", metavar="1|2", help="Labeler of a test file used as predictions (2 vs --labeler 1: the human ceiling)."),
    labels: Optional[LabelSet] = typer.Option(None, "--labels", help="Score in this label set (default: as the files, or 1.0 when they differ)."),
    samples: int = typer.Option(BOOTSTRAP_SAMPLES, "--bootstrap", min=0, help="Bootstrap samples for the confidence intervals (0: none)."),
    seed: int = typer.Option(BOOTSTRAP_SEED, "--seed", min=0, max=2**32 - 1, help="Seed of the bootstrap resamples."),
    rewards: Rewards = typer.Option(Rewards(DEFAULT_REWARDS), "--rewards", help="F1RadGraph as scored by the radgraph package on PyPI (0.1.18) or by its repository's main branch (tokens lower-cased at every level)."),
    min_score: Optional[float] = typer.Option(None, "--min-score", min=0.0, max=1.0, metavar="S", help="Score the predictions without their entities and relations of confidence below S (and the relations of a left-out entity)."),
    curve: bool = _flag("Also the precision, recall and F1 of entities and relations kept at confidence thresholds 0, 0.1 ... 0.9, with their average precision and calibration error (reads both files into memory).", "--curve"),
    as_json: bool = _flag("Print one JSON object instead of tables.", "--json"),
) -> None:
    """Score predictions against gold: entity/relation micro-F1, F1RadGraph, bootstrap CIs, the kinds of errors."""
    result = evaluate_files(gold, pred, labeler, pred_labeler, label_set=labels, samples=samples, seed=seed,
                            rewards=rewards.value, min_score=min_score)
    if curve:
        result["curve"] = confidence_curve(gold, pred, labeler, pred_labeler, labels)
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_evaluation(result)
