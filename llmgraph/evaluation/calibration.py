"""How far a system's scores can be trusted: each predicted entity and relation is a (score, correct)
pair, and the pairs give the precision-recall curve and its area (average precision), the expected
calibration error with its reliability bins, micro-F1 at score thresholds, and how many more errors the
reports a review signal puts first hold than reports picked at random.

A prediction is correct when micro-F1 counts it a true positive (span and label; for relations both
ends and the type). Average precision ranks the predictions only: a score no better than chance earns
the share of correct predictions (the positive rate), a perfect ranking 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from llmgraph.core.document import Document
from llmgraph.evaluation.items import document_items
from llmgraph.evaluation.scores import prf

BINS = 10  # reliability bins of equal width over [0, 1]
KINDS = ("entity", "relation")


@dataclass
class ScoredItems:
    """Every prediction's score and whether it was correct, per kind, and the gold items' count."""

    scores: dict[str, np.ndarray]
    correct: dict[str, np.ndarray]
    gold: dict[str, int]
    unscored: dict[str, int]  # predictions without a score (left out of the curves)


def _items_with_scores(doc: Document) -> dict[str, dict[tuple, float | None]]:
    """Each distinct entity (span, label) and relation (ends, type) of a prediction with its score
    (the highest of its copies)."""
    keys = {e.id: (e.start_ix, e.end_ix, e.label) for e in doc.entities}
    found: dict[str, dict[tuple, float | None]] = {"entity": {}, "relation": {}}
    pairs = [("entity", keys[e.id], e.score) for e in doc.entities]
    pairs += [("relation", (keys[r.source], keys[r.target], r.type), r.score) for r in doc.relations]
    for kind, key, score in pairs:
        known = found[kind].get(key)
        found[kind][key] = score if known is None else max(known, score if score is not None else known)
    return found


def scored_items(pairs: Iterable[tuple[Document, Document]]) -> ScoredItems:
    """The (score, correct) pairs of every prediction of (gold, prediction) documents in one label set."""
    scores: dict[str, list[float]] = {kind: [] for kind in KINDS}
    correct: dict[str, list[bool]] = {kind: [] for kind in KINDS}
    gold_count, unscored = dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0)
    for gold, pred in pairs:
        items = document_items(gold)
        truth = {"entity": items.entities, "relation": items.relations}
        for kind, predicted in _items_with_scores(pred).items():
            gold_count[kind] += len(truth[kind])
            for key, score in predicted.items():
                if score is None:
                    unscored[kind] += 1
                    continue
                scores[kind].append(score)
                correct[kind].append(key in truth[kind])
    return ScoredItems({k: np.array(v, dtype=float) for k, v in scores.items()},
                       {k: np.array(v, dtype=bool) for k, v in correct.items()}, gold_count, unscored)


def _thresholds(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predictions ranked by score, highest first, cut at every distinct score (equal scores are kept
    or dropped together): at each cut the score, the correct predictions kept and all predictions kept."""
    order = np.argsort(-scores, kind="stable")
    ranked_scores = scores[order]
    last_of_tie = np.r_[ranked_scores[1:] != ranked_scores[:-1], True]
    return ranked_scores[last_of_tie], np.cumsum(correct[order])[last_of_tie], np.flatnonzero(last_of_tie) + 1


def average_precision(scores: np.ndarray, correct: np.ndarray) -> float | None:
    """The area under the precision-recall curve of ranking the predictions by score (recall of the
    correct ones), as step-wise average precision; predictions of equal score form one step. None
    without a correct prediction."""
    positives = int(correct.sum())
    if positives == 0:
        return None
    _, hits, seen = _thresholds(scores, correct)
    recall_steps = np.diff(np.r_[0, hits]) / positives
    return float(np.sum(recall_steps * hits / seen))


def precision_recall_points(scores: np.ndarray, correct: np.ndarray, gold: int, points: int = 200
                            ) -> list[dict[str, float]]:
    """The precision-recall curve: micro precision, and recall of the ``gold`` items, of the predictions
    kept at each score threshold, highest first (predictions of equal score kept together; at most
    ``points`` thresholds, evenly spaced along the ranking). Empty without scores or gold items."""
    if not len(scores) or not gold:
        return []
    thresholds, hits, seen = _thresholds(scores, correct)
    chosen = np.unique(np.linspace(0, len(hits) - 1, min(points, len(hits))).round().astype(int))
    return [{"threshold": float(thresholds[i]), "precision": float(hits[i] / seen[i]), "recall": float(hits[i] / gold)}
            for i in chosen]


def reliability(scores: np.ndarray, correct: np.ndarray, bins: int = BINS) -> list[dict[str, float]]:
    """Per bin of equal width over [0, 1] (a score of 1 in the last): its predictions, mean score and
    share correct."""
    index = np.minimum((scores * bins).astype(int), bins - 1)
    rows = []
    for number in range(bins):
        chosen = index == number
        count = int(chosen.sum())
        rows.append({"low": number / bins, "high": (number + 1) / bins, "n": count,
                     "confidence": float(scores[chosen].mean()) if count else None,
                     "accuracy": float(correct[chosen].mean()) if count else None})
    return rows


def expected_calibration_error(scores: np.ndarray, correct: np.ndarray, bins: int = BINS) -> float | None:
    """Σ over bins of (share of predictions) x |share correct - mean score|; None without predictions."""
    if len(scores) == 0:
        return None
    return float(sum(row["n"] / len(scores) * abs(row["accuracy"] - row["confidence"])
                     for row in reliability(scores, correct, bins) if row["n"]))


def threshold_curve(items: ScoredItems, kind: str, thresholds: Iterable[float]) -> list[dict[str, float]]:
    """Micro precision, recall and F1 keeping only the predictions that score at least each threshold
    (gold items count whether or not they were predicted; unscored predictions are dropped at any
    threshold above 0, as ``--min-score`` drops them)."""
    scores, correct, gold = items.scores[kind], items.correct[kind], items.gold[kind]
    rows = []
    for threshold in thresholds:
        kept = scores >= threshold
        tp = int(correct[kept].sum())
        fp = int(kept.sum()) - tp
        precision, recall, f1 = prf(np.array(tp), np.array(fp), np.array(gold - tp))
        rows.append({"threshold": float(threshold), "kept": int(kept.sum()), "tp": tp, "fp": fp, "fn": gold - tp,
                     "precision": float(precision), "recall": float(recall), "f1": float(f1)})
    return rows


def calibration_summary(items: ScoredItems) -> dict[str, dict[str, object]]:
    """Per kind: the predictions scored, their positive rate, average precision, ECE, reliability bins and
    the precision-recall curve; ``None`` values where no prediction carries a score (never a made-up
    number)."""
    summary = {}
    for kind in KINDS:
        scores, correct = items.scores[kind], items.correct[kind]
        summary[kind] = {"scored": len(scores), "unscored": items.unscored[kind],
                         "positive_rate": float(correct.mean()) if len(scores) else None,
                         "average_precision": average_precision(scores, correct) if len(scores) else None,
                         "ece": expected_calibration_error(scores, correct),
                         "reliability": reliability(scores, correct) if len(scores) else [],
                         "pr_curve": precision_recall_points(scores, correct, items.gold[kind])}
    return summary


def expected_errors(doc: Document) -> float | None:
    """How many of a report's scored predictions the scores say are wrong (the sum of 1 - score); None
    when it has no scored prediction."""
    scores = _report_scores(doc)
    return _expected_wrong(scores) if scores else None


def report_confidence(doc: Document) -> float | None:
    """A report's mean score over its entities and relations; None when it has no scored prediction."""
    scores = _report_scores(doc)
    return float(np.mean(scores)) if scores else None


def _report_scores(doc: Document) -> list[float]:
    return [item.score for item in (*doc.entities, *doc.relations) if item.score is not None]


def _by_mean(scores: list[float]) -> float:
    return float(np.mean(scores))


def _by_min(scores: list[float]) -> float:
    return min(scores)


def _expected_wrong(scores: list[float]) -> float:
    """The expected number of wrong predictions (each is wrong with probability 1 - score)."""
    return float(np.sum(1.0 - np.asarray(scores)))


def _by_expected_errors(scores: list[float]) -> float:
    """The report the scores say holds the most mistakes comes first, however long it is."""
    return -_expected_wrong(scores)


# How a report's item scores become its place in the review queue (lowest first).
REVIEW_SIGNALS = {"mean-score": _by_mean, "min-score": _by_min, "expected-errors": _by_expected_errors}
DEFAULT_REVIEW_SIGNAL = "expected-errors"  # measured best of the three (eval/results/bench_review_*)


def review_order(docs: Iterable[Document], signal: str = DEFAULT_REVIEW_SIGNAL) -> list[str]:
    """Report ids in review order by ``signal`` (one of ``REVIEW_SIGNALS``): reports with no scored
    prediction (nothing found is worth a look) lead, then the least trusted first, ties by id."""
    key = REVIEW_SIGNALS[signal]
    keyed = [((0, key(scores)) if (scores := _report_scores(doc)) else (-1, 0.0), doc.id) for doc in docs]
    return [doc_id for _, doc_id in sorted(keyed)]


def review_gain(order: list[str], errors: dict[str, int], share: float = 0.25) -> dict[str, float] | None:
    """Errors (false positives + negatives) per report among the first ``share`` of ``order`` (at least
    one report), against the expected errors per report of as many reports drawn at random (the mean
    over all reports). None when no report has an error."""
    if not order:
        return None
    count = max(1, round(share * len(order)))
    mean = sum(errors.get(doc_id, 0) for doc_id in order) / len(order)
    if mean == 0:
        return None
    chosen = sum(errors.get(doc_id, 0) for doc_id in order[:count]) / count
    return {"reports": count, "errors_per_report": chosen, "random_errors_per_report": mean, "ratio": chosen / mean}
