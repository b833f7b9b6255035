"""Scoring a prediction set against gold, report by report: ``evaluate`` (documents in memory) and
``evaluate_files`` (files of any size) are one code path.

Gold reports are paired with their predictions one at a time, and each pair leaves only a compact
row of numbers (``ScoreTable``); every metric and every bootstrap resample is a weighted sum of
those rows, so ``ScoredPredictions`` answers the result, the paired tests and the per-report rows
from one scoring.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmgraph.core.defaults import BOOTSTRAP_SAMPLES, BOOTSTRAP_SEED, CONFIDENCE
from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.evaluation.calibration import calibration_summary, scored_items, threshold_curve
from llmgraph.evaluation.items import ReportItems
from llmgraph.evaluation.pairing import (
    Pairer,
    check_min_score,
    label_set_of_documents,
    no_common_ids,
    pair_documents,
    pairer_of_lists,
)
from llmgraph.evaluation.prediction_sources import LATER, FilePredictions, ListedPredictions
from llmgraph.evaluation.result import evaluation_result
from llmgraph.evaluation.rewards import DEFAULT_REWARDS, REWARD_LEVELS
from llmgraph.evaluation.scores import ScoreTable, ScoreTableBuilder, prf
from llmgraph.io.radgraph_reader import RadGraphFile, read_radgraph


def _score_reports(gold: Iterable[tuple[Any, ReportItems]], predictions, pairer: Pairer,
                   gold_again: Callable[[Any], ReportItems]) -> ScoreTable:
    """Score every gold report against its prediction: in gold order, one at a time; a report
    whose prediction comes later in its file is scored once the gold is done (``gold_again``
    reads it again from where the gold iterable said it was)."""
    rows = ScoreTableBuilder()
    waiting: dict[str, list[tuple[int, Any]]] = defaultdict(list)
    for place, doc in gold:
        match = predictions.find(doc.id)
        if match is LATER:
            waiting[doc.id].append((rows.add(doc, None), place))
        else:
            rows.add(doc, pairer.items(doc, match, rows.n))
    for doc_id, match in predictions.finish(set(waiting)):
        for position, place in waiting.pop(doc_id):
            rows.fill(position, *pairer.items(gold_again(place), match, position))
    for places in waiting.values():  # predicted nowhere in the file
        for position, place in places:
            rows.fill(position, *pairer.items(gold_again(place), None, position))
    return rows.scores()


def _never_later(place: Any) -> ReportItems:
    raise AssertionError("predictions in a list are never late")


def _scores_of_lists(gold: list[Document], pred: list[Document], label_set: LabelSet | None,
                     rewards: str = DEFAULT_REWARDS, min_score: float | None = None
                     ) -> tuple[ScoreTable, Pairer, ListedPredictions]:
    pairer, predictions = pairer_of_lists(gold, pred, label_set, rewards=rewards, min_score=min_score)
    scores = _score_reports(((None, pairer.report(doc)) for doc in gold), predictions, pairer, _never_later)
    return scores, pairer, predictions


@dataclass
class ScoredPredictions:
    """A prediction set scored against gold, report by report: every metric, bootstrap, paired test and
    per-report row is summed from it, so a comparison scores each system once however it is reported."""

    reports: ScoreTable
    pairer: Pairer
    unmatched: list[str]

    @classmethod
    def of(cls, gold: list[Document], pred: list[Document], label_set: LabelSet | None = None,
           rewards: str = DEFAULT_REWARDS, min_score: float | None = None) -> ScoredPredictions:
        if not gold:
            raise InputError("no gold reports to evaluate")
        reports, pairer, predictions = _scores_of_lists(gold, pred, label_set, rewards, min_score)
        return cls(reports, pairer, predictions.unmatched())

    @property
    def label_set(self) -> LabelSet | None:
        return self.pairer.label_set

    def result(self, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
               confidence: float = CONFIDENCE) -> dict[str, Any]:
        """What ``evaluate`` returns."""
        return evaluation_result(self.reports, self.pairer, self.unmatched, samples, seed, confidence)

    def per_report(self) -> list[dict[str, float]]:
        """Per report, in gold order: entity and relation precision, recall and F1, and the three rewards.
        Where a ratio has nothing to count (nothing predicted, nothing in the gold) it is 0.0, as
        ``evaluate`` says of that one report (``prf``)."""
        scores, rows = self.reports, []
        columns = {kind: 3 * scores.metrics.index(kind) for kind in ("entity", "relation")}
        for index, counts in enumerate(scores.counts.tolist()):
            row: dict[str, float] = {}
            for kind, column in columns.items():
                precision, recall, f1 = prf(*map(np.array, counts[column:column + 3]))
                row |= {f"{kind}_precision": float(precision), f"{kind}_recall": float(recall), f"{kind}_f1": float(f1)}
            rows.append(row | {name: float(scores.rewards[name][index]) for name in REWARD_LEVELS})
        return rows


def evaluate(
    gold: list[Document],
    pred: list[Document],
    label_set: LabelSet | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
    rewards: str = DEFAULT_REWARDS,
    min_score: float | None = None,
) -> dict[str, Any]:
    """Every metric of a prediction set against gold, with bootstrap CIs, as one JSON-ready dict
    (F1RadGraph of the reward version ``rewards``, which the dict names); with ``min_score``, the
    predictions without what scores below it.

    Top level: ``entity_f1``, ``relation_f1``, ``rg_e``, ``rg_er``, ``rg_er_bar`` (and precision,
    recall, label-agnostic variants), ``ci``, ``per_label``, ``per_relation``, and ``per_group``
    (the same block per ``modality`` and per ``data_source`` of the gold reports).
    """
    return ScoredPredictions.of(gold, pred, label_set, rewards, min_score).result(samples, seed, confidence)


def evaluate_files(
    gold_path: str | Path,
    pred_path: str | Path,
    gold_labeler: str | None = None,
    pred_labeler: str | None = None,
    label_set: LabelSet | None = None,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
    rewards: str = DEFAULT_REWARDS,
    min_score: float | None = None,
) -> dict[str, Any]:
    """``evaluate(read_radgraph(gold_path, gold_labeler), read_radgraph(pred_path, pred_labeler), ...)``,
    the same numbers, without holding the files: both are streamed, and each report leaves a
    row of a few dozen numbers. Errors name their file (a prediction whose text differs from the
    gold: the prediction file and the report)."""
    gold_path, pred_path = Path(gold_path), Path(pred_path)
    check_min_score(RadGraphFile(pred_path, pred_labeler), min_score, pred_path)
    pairer = Pairer(label_set, label_set_of_documents(RadGraphFile(gold_path, gold_labeler)),
                    label_set_of_documents(RadGraphFile(pred_path, pred_labeler)), pred_path, rewards, min_score)
    # The gold is read here while a helper process reads the predictions (and computes their items).
    gold_file = RadGraphFile(gold_path, gold_labeler, prepare=pairer.report)
    predictions = FilePredictions(pred_path, pred_labeler, gold_labeler == "both", pairer.prediction)
    gold = (((offset, index), report) for offset, reports in gold_file.entries() for index, report in enumerate(reports))
    scores = _score_reports(gold, predictions, pairer,
                            lambda place: pairer.report(gold_file.documents_at(place[0])[place[1]]))
    if scores.n_reports == 0:
        raise InputError("no gold reports to evaluate", gold_path)
    unmatched = predictions.unmatched()
    if unmatched and len(pairer.missing_predictions()) == scores.n_reports:
        raise InputError(no_common_ids(unmatched, pairer.missing_predictions(), f"the gold file {gold_path}"), pred_path)
    return evaluation_result(scores, pairer, predictions.unmatched(), samples, seed, confidence)


CURVE_THRESHOLDS = tuple(step / 10 for step in range(10))


def confidence_curve(gold_path: str | Path, pred_path: str | Path, gold_labeler: str | None = None,
                     pred_labeler: str | None = None, label_set: LabelSet | None = None) -> dict[str, Any]:
    """Per kind (entity, relation): precision, recall and F1 of the predictions kept at each of
    ``CURVE_THRESHOLDS``, with the calibration summary (average precision, ECE, reliability bins).
    Predictions without scores give empty curves and ``None`` measures (never made-up numbers)."""
    pairing = pair_documents(read_radgraph(gold_path, gold_labeler), read_radgraph(pred_path, pred_labeler), label_set)
    items = scored_items(zip(pairing.gold, pairing.pred))
    summary = calibration_summary(items)
    return {kind: summary[kind] | {"thresholds": threshold_curve(items, kind, CURVE_THRESHOLDS)
                                   if summary[kind]["scored"] else []} for kind in summary}
