"""The JSON-ready dict ``evaluate`` returns: point values, bootstrap CIs, per-label and per-relation
breakdowns, the same block per group of the gold reports, and what was paired and how."""

from __future__ import annotations

from typing import Any

import numpy as np

from llmgraph.evaluation.bootstrap import resampled_metrics
from llmgraph.evaluation.pairing import Pairer
from llmgraph.evaluation.rewards import REWARD_LEVELS
from llmgraph.evaluation.scores import BASE_METRICS, ScoreTable, point_values
from llmgraph.evaluation.taxonomy import error_summary


def _scores_block(scores: ScoreTable, samples: int, seed: int, confidence: float) -> dict[str, Any]:
    """The metrics of these reports, their CIs, and the per-label and per-relation breakdown."""
    point = point_values(scores)
    block: dict[str, Any] = {"n_reports": scores.n_reports}
    for metric in BASE_METRICS:
        for part in ("f1", "precision", "recall"):
            block[f"{metric}_{part}"] = point[f"{metric}_{part}"]
    for name in REWARD_LEVELS:
        block[name] = point[name]
    ci: dict[str, list[float]] = {}
    if samples and scores.n_reports > 1:
        sampled, = resampled_metrics([scores], samples, seed)
        tail = (1 - confidence) / 2 * 100
        ci = {name: [float(v) for v in np.percentile(values, [tail, 100 - tail])] for name, values in sampled.items()}
    block["ci"] = {name: ci[name] for name in block if name in ci}
    totals = scores.sums(np.ones((1, scores.n_reports)))[0]
    breakdown: dict[str, dict[str, dict[str, Any]]] = {"per_label": {}, "per_relation": {}}
    for index, metric in enumerate(scores.metrics):
        if ":" not in metric:
            continue
        kind, bucket = metric.split(":", 1)
        tp, fp, fn = totals[3 * index:3 * index + 3]
        entry = {name: point[f"{metric}_{name}"] for name in ("f1", "precision", "recall")}
        entry |= {"support": int(tp + fn), "tp": int(tp), "fp": int(fp), "fn": int(fn)}
        if f"{metric}_f1" in ci:
            entry["ci"] = ci[f"{metric}_f1"]
        breakdown["per_label" if kind == "entity" else "per_relation"][bucket] = entry
    return block | {key: dict(sorted(value.items())) for key, value in breakdown.items()}


def evaluation_result(scores: ScoreTable, pairer: Pairer, unmatched: list[str], samples: int, seed: int,
                      confidence: float) -> dict[str, Any]:
    """The JSON-ready result: all reports, then the same block per group of the gold reports."""
    result = _scores_block(scores, samples, seed, confidence)
    groups: dict[str, dict[str, Any]] = {}
    for attribute, (codes, values) in scores.groups.items():
        if len(values) > 1 or values[0] is not None:
            groups[attribute] = {
                str(value): _scores_block(scores.subset(codes == code), samples, seed, confidence)
                for code, value in sorted(enumerate(values), key=lambda item: str(item[1]))
            }
    return {
        **result,
        "label_set": pairer.label_set.value if pairer.label_set else None,
        "rewards": pairer.rewards,
        "missing_predictions": pairer.missing_predictions(),
        "unmatched_predictions": unmatched,
        "bootstrap": {"samples": samples, "seed": seed, "confidence": confidence},
        "min_score": pairer.min_score,
        "errors": error_summary(scores.errors),
        "per_group": groups,
    }
