"""Percentile bootstrap over reports, seeded: resampling weights drawn a block at a time.

Row b of the resampling matrix says how often each report is drawn in bootstrap sample b; every
metric of a resample is a weighted sum of the score rows (``ScoreTable.summarise``). The blocks keep
memory from growing with the number of samples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from llmgraph.evaluation.scores import ScoreTable

BOOTSTRAP_BLOCK_BYTES = 16 << 20  # memory for one block of resampling weights


def bootstrap_blocks(n_reports: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Resampling counts, a block of rows at a time: row b says how often each report is drawn in
    bootstrap sample b. numpy's generator gives the same stream drawn in blocks as drawn at once,
    so these are the rows of the whole matrix, in memory that does not grow with ``samples``."""
    rng = np.random.default_rng(seed)
    rows = max(4, BOOTSTRAP_BLOCK_BYTES // (16 * max(n_reports, 1)) // 4 * 4)
    for start in range(0, samples, rows):
        count = min(rows, samples - start)
        draws = rng.integers(0, n_reports, size=(count, n_reports))
        draws += np.arange(count)[:, None] * n_reports
        yield np.bincount(draws.ravel(), minlength=count * n_reports).reshape(count, n_reports).astype(float)


def resampled_metrics(scores: list[ScoreTable], samples: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Every metric of each of ``scores`` (the same reports) on the same bootstrap resamples."""
    parts: list[dict[str, list[np.ndarray]]] = [defaultdict(list) for _ in scores]
    for weights in bootstrap_blocks(scores[0].n_reports, samples, seed):
        for part, score in zip(parts, scores):
            for name, values in score.summarise(weights).items():
                part[name].append(values)
    return [{name: np.concatenate(values) for name, values in part.items()} for part in parts]
