"""Which graphs to trust, per system and gold set: the calibration of its scores (average precision and
expected calibration error of entities and relations, with the reliability bins), what reviewing its least
confident quarter of the reports finds against a random quarter, and (when the experiment names a dev gold
set) micro-F1 at the threshold chosen there. A system without scores gets ``None`` everywhere (results.md
shows n/a): never a made-up number."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from llmgraph.evaluation.calibration import (
    DEFAULT_REVIEW_SIGNAL,
    KINDS,
    ScoredItems,
    calibration_summary,
    review_gain,
    review_order,
    scored_items,
    threshold_curve,
)
from llmgraph.harness.comparison import Outcome
from llmgraph.harness.rows import Pairs

REVIEW_SHARE = 0.25  # the share of a gold set's reports reviewed first
THRESHOLDS = tuple(np.round(np.arange(0.0, 1.0, 0.05), 2))  # candidate thresholds chosen on the dev gold set


def best_threshold(items: ScoredItems) -> float:
    """The threshold of ``THRESHOLDS`` with the best entity F1 + relation F1 (the lowest of ties)."""
    totals = Counter()
    for kind in KINDS:
        for row in threshold_curve(items, kind, THRESHOLDS):
            totals[row["threshold"]] += row["f1"]
    return max(THRESHOLDS, key=lambda threshold: (totals[float(threshold)], -threshold))


CURVES = ("reliability", "pr_curve")  # for plots/, not calibration.csv


def calibration_rows(pairs: Pairs, outcomes: list[Outcome], errors: dict[tuple[str, str], dict[str, int]],
                     dev: str | None = None) -> list[dict[str, Any]]:
    """Per scored system, gold set and kind (entity, relation): the calibration summary, the review gain
    of the reports its scores put first (``DEFAULT_REVIEW_SIGNAL``; ``errors``: (system, gold set) -> report id -> its false positives +
    negatives) and, with a ``dev`` gold set, the threshold chosen there with F1 at it."""
    items: dict[tuple[str, str], ScoredItems] = {}
    orders: dict[tuple[str, str], list[str]] = {}
    for outcome in outcomes:
        if outcome.scored is None or outcome.predictions is None:
            continue
        paired = pairs[(outcome.system, outcome.gold_set)]
        items[(outcome.system, outcome.gold_set)] = scored_items(paired)
        orders[(outcome.system, outcome.gold_set)] = review_order((pred for _, pred in paired), DEFAULT_REVIEW_SIGNAL)
    rows = []
    for (system, gold_set), found in items.items():
        summary = calibration_summary(found)
        scored = any(summary[kind]["scored"] for kind in KINDS)
        gain = review_gain(orders[(system, gold_set)], errors.get((system, gold_set), {}), REVIEW_SHARE) if scored else None
        chosen = best_threshold(items[(system, dev)]) if scored and dev and (system, dev) in items else None
        at_threshold = {kind: threshold_curve(found, kind, [chosen])[0]["f1"] for kind in KINDS} if chosen is not None else {}
        for kind in KINDS:
            rows.append({"system": system, "gold_set": gold_set, "kind": kind,
                         **{key: value for key, value in summary[kind].items() if key not in CURVES},
                         **{key: summary[kind][key] for key in CURVES},
                         "review_signal": DEFAULT_REVIEW_SIGNAL if gain else None,
                         "review_reports": gain["reports"] if gain else None,
                         "review_errors_per_report": gain["errors_per_report"] if gain else None,
                         "random_errors_per_report": gain["random_errors_per_report"] if gain else None,
                         "review_gain": gain["ratio"] if gain else None,
                         "dev_gold_set": dev if chosen is not None else None, "dev_threshold": chosen,
                         "f1_at_dev_threshold": at_threshold.get(kind)})
    return rows
