"""Is system A better than system B on the same gold reports? Paired tests per headline metric.

``bootstrap``: both systems scored on the same bootstrap resamples of the reports (difference,
percentile CI, two-sided p-value). ``randomization``: a paired approximate randomization test,
swapping the two systems' graphs of each report at random. Both read prediction sets already
scored (``ScoredPredictions``), so each system is scored once.
"""

from __future__ import annotations

import numpy as np

from llmgraph.core.defaults import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, CONFIDENCE, RANDOMIZATION_SHUFFLES
from llmgraph.core.document import Document
from llmgraph.core.labels import LabelSet
from llmgraph.evaluation.bootstrap import BOOTSTRAP_BLOCK_BYTES, resampled_metrics
from llmgraph.evaluation.rewards import DEFAULT_REWARDS, REWARD_LEVELS
from llmgraph.evaluation.scores import HEADLINE, ScoreTable, point_values, prf
from llmgraph.evaluation.scoring import ScoredPredictions

SIGNIFICANCE_TESTS = ("bootstrap", "randomization")


def paired_bootstrap(
    gold: list[Document],
    pred_a: list[Document],
    pred_b: list[Document],
    label_set: LabelSet | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
    rewards: str = DEFAULT_REWARDS,
) -> dict[str, dict[str, float]]:
    """Is system A better than system B on these reports? Per headline metric.

    Both systems are scored on the same bootstrap resamples of the reports. ``difference`` is
    A minus B on all reports; ``ci`` the percentile interval of the resampled differences;
    ``p_value`` the two-sided share of resamples on the other side of zero (doubled, capped at 1).
    """
    return bootstrap_test(ScoredPredictions.of(gold, pred_a, label_set, rewards),
                          ScoredPredictions.of(gold, pred_b, label_set, rewards), samples, seed, confidence)


def bootstrap_test(a: ScoredPredictions, b: ScoredPredictions, samples: int = BOOTSTRAP_SAMPLES,
                   seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE) -> dict[str, dict[str, float]]:
    """``paired_bootstrap`` of two prediction sets already scored against the same gold reports."""
    _check_paired(a, b)
    scores = [a.reports, b.reports]
    point = [point_values(s) for s in scores]
    sampled = resampled_metrics(scores, samples, seed)
    tail = (1 - confidence) / 2 * 100
    result = {}
    for metric in HEADLINE:
        differences = sampled[0][metric] - sampled[1][metric]
        p_value = min(1.0, 2 * min(float(np.mean(differences <= 0)), float(np.mean(differences >= 0))))
        low, high = np.percentile(differences, [tail, 100 - tail])
        result[metric] = {"a": point[0][metric], "b": point[1][metric],
                          "difference": point[0][metric] - point[1][metric],
                          "ci": [float(low), float(high)], "p_value": p_value}
    return result


def _check_paired(a: ScoredPredictions, b: ScoredPredictions) -> None:
    if a.reports.n_reports != b.reports.n_reports or a.pairer.rewards != b.pairer.rewards:
        raise ValueError("a paired test needs both systems scored on the same gold reports with one reward version")


def _headline_rows(scores: ScoreTable) -> np.ndarray:
    """Per report: tp, fp, fn of entities and of relations, then the three rewards: (reports, 9)."""
    columns = [3 * scores.metrics.index(metric) + k for metric in ("entity", "relation") for k in range(3)]
    return np.column_stack([scores.counts[:, columns].astype(float), *(scores.rewards[n] for n in REWARD_LEVELS)])


def _headline_values(sums: np.ndarray, n_reports: int) -> dict[str, np.ndarray]:
    """The headline metrics from summed ``_headline_rows`` (one row per shuffle)."""
    return {"entity_f1": prf(sums[:, 0], sums[:, 1], sums[:, 2])[2],
            "relation_f1": prf(sums[:, 3], sums[:, 4], sums[:, 5])[2],
            **{name: sums[:, 6 + k] / max(n_reports, 1) for k, name in enumerate(REWARD_LEVELS)}}


def paired_randomization(
    gold: list[Document],
    pred_a: list[Document],
    pred_b: list[Document],
    label_set: LabelSet | None = None,
    samples: int = RANDOMIZATION_SHUFFLES,
    seed: int = BOOTSTRAP_SEED,
    rewards: str = DEFAULT_REWARDS,
) -> dict[str, dict[str, float]]:
    """A paired approximate randomization test of A against B, per headline metric (as RadEval's
    ``compare_systems`` reports it). Each of ``samples`` shuffles swaps A's and B's graphs of every report
    with probability 1/2 and recomputes the corpus-level difference; ``p_value`` is
    (shuffles with ``|difference| >= |observed|`` + 1) / (``samples`` + 1), two-sided. Seeded."""
    return randomization_test(ScoredPredictions.of(gold, pred_a, label_set, rewards),
                              ScoredPredictions.of(gold, pred_b, label_set, rewards), samples, seed)


def randomization_test(a: ScoredPredictions, b: ScoredPredictions, samples: int = RANDOMIZATION_SHUFFLES,
                       seed: int = BOOTSTRAP_SEED) -> dict[str, dict[str, float]]:
    """``paired_randomization`` of two prediction sets already scored against the same gold reports."""
    _check_paired(a, b)
    rows = [_headline_rows(scored.reports) for scored in (a, b)]
    n_reports = len(rows[0])
    observed = {name: values[0] for name, values in
                _headline_values(rows[0].sum(axis=0)[None], n_reports).items()}
    observed_b = {name: values[0] for name, values in
                  _headline_values(rows[1].sum(axis=0)[None], n_reports).items()}
    difference = {name: observed[name] - observed_b[name] for name in HEADLINE}
    extreme = dict.fromkeys(HEADLINE, 0)
    rng = np.random.default_rng(seed)
    block = max(1, BOOTSTRAP_BLOCK_BYTES // (8 * max(n_reports, 1)))
    for start in range(0, samples, block):
        swap = rng.random((min(block, samples - start), n_reports)) < 0.5
        kept = (~swap).astype(float)
        swapped = swap.astype(float)
        values_a = _headline_values(kept @ rows[0] + swapped @ rows[1], n_reports)
        values_b = _headline_values(kept @ rows[1] + swapped @ rows[0], n_reports)
        for name in HEADLINE:
            # a shuffle as far from zero as the observed difference (to rounding) counts as extreme
            extreme[name] += int(np.sum(np.abs(values_a[name] - values_b[name]) >= abs(difference[name]) - 1e-12))
    return {name: {"a": float(observed[name]), "b": float(observed_b[name]), "difference": float(difference[name]),
                   "p_value": (extreme[name] + 1) / (samples + 1)} for name in HEADLINE}
