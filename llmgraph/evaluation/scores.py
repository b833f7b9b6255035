"""Per-report score rows and their sums: every metric, of all reports or of a resample, is a weighted sum.

Each scored report leaves a compact row of numbers (tp/fp/fn per metric bucket, the three rewards,
the report's groups); ``ScoreTableBuilder`` fills the rows one report at a time, ``ScoreTable``
holds them as arrays and sums them under any weights (one row of weights per bootstrap resample).
"""

from __future__ import annotations

import itertools
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmgraph.evaluation.items import DocumentItems, ReportItems, pair_counts, pair_rewards
from llmgraph.evaluation.rewards import REWARD_LEVELS
from llmgraph.evaluation.taxonomy import add_errors, error_counter

HEADLINE = ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")
BASE_METRICS = ("entity", "relation", "entity_unlabeled", "relation_unlabeled")
OUTCOMES = ("tp", "fp", "fn")
GROUP_ATTRIBUTES = ("modality", "data_source")
UINT16_MAX = np.iinfo(np.uint16).max


def prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 (0 where undefined), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


@dataclass
class ScoreTable:
    """Per-report numbers from which every metric (and every bootstrap sample) is summed."""

    metrics: list[str]  # sorted metric names; columns 3i, 3i+1, 3i+2 of ``counts`` are tp, fp, fn of metric i
    counts: np.ndarray  # (reports, 3 * metrics) of small integers (float32 when sums stay exact, else float64)
    rewards: dict[str, np.ndarray]  # rg_e / rg_er / rg_er_bar -> array (reports,)
    groups: dict[str, tuple[np.ndarray, list[Any]]] = field(default_factory=dict)  # attribute -> (codes, values)
    errors: Counter = field(default_factory=Counter)  # ErrorKey -> count, over all the reports (taxonomy)

    @property
    def n_reports(self) -> int:
        return len(self.counts)

    def subset(self, mask: np.ndarray) -> ScoreTable:
        if mask.all():  # a group of every report (one data source, say): no copy
            return ScoreTable(self.metrics, self.counts, self.rewards)
        return ScoreTable(self.metrics, self.counts[mask], {name: values[mask] for name, values in self.rewards.items()})

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """tp/fp/fn of every metric for each row of ``weights``. Exact: every sum is an integer the
        dtype holds exactly (``ScoreTableBuilder.scores`` chose it), so no summation order changes it."""
        return (weights.astype(self.counts.dtype) @ self.counts).astype(float)

    def summarise(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """All metrics for each row of ``weights`` (how often each report is drawn)."""
        values: dict[str, np.ndarray] = {}
        sums = self.sums(weights)
        for index, metric in enumerate(self.metrics):
            tp, fp, fn = sums[:, 3 * index], sums[:, 3 * index + 1], sums[:, 3 * index + 2]
            values[f"{metric}_precision"], values[f"{metric}_recall"], values[f"{metric}_f1"] = prf(tp, fp, fn)
        total = np.maximum(weights.sum(axis=1), 1)
        for name, rewards in self.rewards.items():
            values[name] = _weighted_sums(weights, rewards) / total
        return values


def _weighted_sums(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``weights @ values``, four rows at a time. BLAS sums a row in an order that depends on how
    it groups rows (by four, split over threads); four-row calls sum every row as one
    single-threaded call over all rows does, which is what the whole resampling matrix got on
    one or two BLAS threads at 1,000 samples: the rewards' CIs are those of earlier versions."""
    return np.concatenate([weights[start:start + 4] @ values for start in range(0, len(weights), 4)])


class ScoreTableBuilder:
    """The rows of ``ScoreTable``, filled one report at a time in gold order (a row may be
    filled later, when its prediction comes late in its file). A few dozen small numbers per
    report: tp/fp/fn per metric bucket, the three rewards and codes of the report's groups."""

    CHUNK = 4096  # rows per block of counts
    STAGED = 1 << 13  # counts collected before they go into the blocks

    def __init__(self) -> None:
        self.metrics: dict[str, int] = {metric: index for index, metric in enumerate(BASE_METRICS)}
        self.columns: dict[tuple[str, str], int] = {}
        self.chunks: list[np.ndarray] = []
        self.staged = (array("q"), array("i"), array("q"))  # position, column, value
        self.rewards = {name: array("d") for name in REWARD_LEVELS}
        self.groups: dict[str, tuple[array, dict[Any, int]]] = {name: (array("i"), {}) for name in GROUP_ATTRIBUTES}
        self.errors: dict[tuple, int] = {}  # the taxonomy's counts, over all the reports
        self.n = 0

    def add(self, gold: ReportItems, items: tuple[DocumentItems, DocumentItems] | None) -> int:
        """A row for ``gold``, filled from the (gold, prediction) ``items`` now or (``None``) later
        with ``fill``; its position."""
        position = self.n
        for name, (codes, values) in self.groups.items():
            codes.append(values.setdefault(getattr(gold, name), len(values)))
        for rewards in self.rewards.values():
            rewards.append(0.0)
        self.n += 1
        if items is not None:
            self.fill(position, *items)
        return position

    def _column(self, key: tuple[str, str]) -> int:
        """The column of a (metric, outcome) count, added for a metric bucket seen the first time."""
        metric, outcome = key
        column = self.columns[key] = 3 * self.metrics.setdefault(metric, len(self.metrics)) + OUTCOMES.index(outcome)
        return column

    def fill(self, position: int, gold_items: DocumentItems, pred_items: DocumentItems) -> None:
        counts = pair_counts(gold_items, pred_items)
        positions, columns, values = self.staged
        known = self.columns
        columns.extend([known[key] if key in known else self._column(key) for key in counts])
        values.extend(counts.values())
        positions.extend(itertools.repeat(position, len(counts)))
        if len(values) >= self.STAGED:
            self._unstage()
        for name, value in pair_rewards(gold_items, pred_items).items():
            self.rewards[name][position] = value
        add_errors(self.errors, gold_items, pred_items)

    def _unstage(self) -> None:
        """Move the staged counts into the blocks (uint16, or int64 for a block holding a larger count)."""
        positions, columns, values = (np.frombuffer(part, dtype=part.typecode) for part in self.staged)
        width = 3 * len(self.metrics)
        while len(self.chunks) * self.CHUNK < self.n:
            self.chunks.append(np.zeros((self.CHUNK, width), dtype=np.uint16))
        blocks = positions // self.CHUNK
        for index in np.unique(blocks):
            chosen = blocks == index
            chunk = self.chunks[index]
            if chunk.shape[1] < width:  # metric buckets first seen after this block began
                chunk = np.pad(chunk, ((0, 0), (0, width - chunk.shape[1])))
            if values[chosen].max() > UINT16_MAX:
                chunk = chunk.astype(np.int64)
            chunk[positions[chosen] % self.CHUNK, columns[chosen]] = values[chosen]
            self.chunks[index] = chunk
        self.staged = (array("q"), array("i"), array("q"))

    def scores(self) -> ScoreTable:
        """The rows as arrays, metrics in sorted order (the blocks are freed as they are copied)."""
        self._unstage()
        order = sorted(self.metrics)
        columns = [3 * self.metrics[metric] + outcome for metric in order for outcome in range(3)]
        largest = max((int(chunk.max(initial=0)) for chunk in self.chunks), default=0)
        exact_in_float32 = self.n * largest < 2 ** 24  # bounds every weighted sum of a resample
        counts = np.zeros((self.n, len(columns)), dtype=np.float32 if exact_in_float32 else np.float64)
        for index in range(len(self.chunks)):
            chunk = self.chunks[index]
            chunk = np.pad(chunk, ((0, 0), (0, 3 * len(self.metrics) - chunk.shape[1])))[:, columns]
            start = index * self.CHUNK
            counts[start:start + self.CHUNK] = chunk[:self.n - start]
            self.chunks[index] = None
        self.chunks = []
        rewards = {name: np.frombuffer(values, dtype=float).copy() for name, values in self.rewards.items()}
        groups = {name: (np.frombuffer(codes, dtype=np.int32).copy(), list(values))
                  for name, (codes, values) in self.groups.items()}
        return ScoreTable(order, counts, rewards, groups, error_counter(self.errors))


def point_values(scores: ScoreTable) -> dict[str, float]:
    """Every metric on all the reports (each counted once)."""
    return {name: float(value[0]) for name, value in scores.summarise(np.ones((1, scores.n_reports))).items()}
