"""Metrics: RadGraph micro-F1 (entities, relations), F1RadGraph rewards, bootstrap CIs.

- Entity micro-F1 (RadGraph paper): an entity is correct when span and label match exactly.
  Relation micro-F1: both entity spans and labels and the relation type match. The
  ``unlabeled`` variants ignore entity labels (relation type still counts).
- F1RadGraph RG_E / RG_ER / RG_ER-bar: the reward levels simple / partial / complete of
  ``radgraph.rewards.compute_reward`` (radgraph 0.1.18), reproduced operation for operation on
  the same annotation dicts, averaged over reports (0 when either side has no entities).
- Confidence intervals: percentile bootstrap over reports, seeded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from llmgraph.document import Document
from llmgraph.errors import InputError
from llmgraph.formats import document_to_raw
from llmgraph.labels import LabelSet, label_set_of

REWARD_LEVELS = {"rg_e": "simple", "rg_er": "partial", "rg_er_bar": "complete"}
HEADLINE = ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")


# F1RadGraph, as in radgraph.rewards ------------------------------------------------------------

def _set_f1(hypothesis: set, reference: set) -> float:
    matched = len(hypothesis & reference)
    precision = matched / len(hypothesis) if len(hypothesis) > 0 else 0.0
    recall = matched / len(reference) if len(reference) > 0 else 0.0
    return (2 * precision * recall / (precision + recall)) if (precision + recall) > 0 else 0.0


def _simple_items(annotation: dict) -> set:
    return {(entity["tokens"], entity["label"]) for entity in annotation["entities"].values()}


def _partial_items(annotation: dict) -> set:
    return {
        (entity["tokens"], entity["label"], True) if entity["relations"] else (entity["tokens"], entity["label"])
        for entity in annotation["entities"].values()
    }


def _complete_items(annotation: dict) -> set:
    entities = annotation["entities"]
    items: set = set()
    for entity in entities.values():
        if not entity["relations"]:
            items.add((entity["tokens"], entity["label"]))
        items.update(
            (entity["tokens"].lower(), entity["label"], kind, entities[target]["tokens"].lower())
            for kind, target in entity["relations"]
        )
    return items


_REWARD_ITEMS: dict[str, Callable[[dict], set]] = {
    "simple": _simple_items, "partial": _partial_items, "complete": _complete_items,
}


def compute_reward(hypothesis: dict, reference: dict, reward_level: str) -> float:
    """F1RadGraph of one report pair (RadGraph annotation dicts), as ``radgraph.rewards``."""
    if len(hypothesis["entities"]) == 0 or len(reference["entities"]) == 0:
        return 0.0
    items = _REWARD_ITEMS[reward_level]
    return _set_f1(items(hypothesis), items(reference))


# RadGraph micro-F1 ------------------------------------------------------------------------------

def entity_items(doc: Document, labeled: bool = True) -> set[tuple]:
    return {(e.start_ix, e.end_ix, e.label) if labeled else (e.start_ix, e.end_ix) for e in doc.entities}


def relation_items(doc: Document, labeled: bool = True) -> set[tuple]:
    entities = {entity.id: entity for entity in doc.entities}

    def key(entity_id: str) -> tuple:
        entity = entities[entity_id]
        return (entity.start_ix, entity.end_ix, entity.label) if labeled else (entity.start_ix, entity.end_ix)

    return {(key(r.source), key(r.target), r.type) for r in doc.relations}


def _count(gold: set[tuple], pred: set[tuple], bucket: Callable[[tuple], str], prefix: str) -> Counter:
    """tp/fp/fn of one report, overall under ``prefix`` and per ``bucket`` (label or type)."""
    counts: Counter = Counter()
    for item in gold | pred:
        outcome = "tp" if item in gold and item in pred else ("fn" if item in gold else "fp")
        counts[(prefix, outcome)] += 1
        counts[(f"{prefix}:{bucket(item)}", outcome)] += 1
    return counts


def report_counts(gold: Document, pred: Document) -> Counter:
    """All tp/fp/fn counts of one report: keys are ``(metric, outcome)``."""
    counts = _count(entity_items(gold), entity_items(pred), lambda item: item[2], "entity")
    counts += _count(relation_items(gold), relation_items(pred), lambda item: item[2], "relation")
    for kind, items in (("entity", entity_items), ("relation", relation_items)):
        matched = len(items(gold, False) & items(pred, False))
        counts[(f"{kind}_unlabeled", "tp")] += matched
        counts[(f"{kind}_unlabeled", "fp")] += len(items(pred, False)) - matched
        counts[(f"{kind}_unlabeled", "fn")] += len(items(gold, False)) - matched
    return counts


def prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 (0 where undefined), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


# Pairing, scoring, bootstrap ---------------------------------------------------------------------

@dataclass
class Pairing:
    """Gold and predicted documents matched by report id, in one label set."""

    gold: list[Document]
    pred: list[Document]
    label_set: LabelSet | None
    missing_predictions: list[str] = field(default_factory=list)
    unmatched_predictions: list[str] = field(default_factory=list)


def _label_set(docs: Iterable[Document]) -> LabelSet | None:
    return next((label_set_of(e.label) for doc in docs for e in doc.entities), None)


def pair_documents(gold: list[Document], pred: list[Document], label_set: LabelSet | None = None) -> Pairing:
    """Match predictions to gold by id; a missing prediction scores as an empty graph.

    Without ``label_set``, both sides keep their labels when they share a label set and are
    mapped to RadGraph 1.0 (the coarser set) when they do not.
    """
    by_id = {doc.id: doc for doc in pred}
    if len(by_id) != len(pred):
        raise InputError("predictions hold a report id twice")
    gold_set, pred_set = _label_set(gold), _label_set(pred)
    if label_set is None and gold_set and pred_set and gold_set != pred_set:
        label_set = LabelSet.RADGRAPH
    pairing = Pairing([], [], label_set or gold_set or pred_set)
    for doc in gold:
        match = by_id.get(doc.id)
        if match is None:
            pairing.missing_predictions.append(doc.id)
            match = Document(id=doc.id, text=doc.text)
        elif match.tokens != doc.tokens:
            position = next((i for i, (a, b) in enumerate(zip(doc.tokens, match.tokens)) if a != b),
                            min(len(doc.tokens), len(match.tokens)))
            raise InputError(f"predicted text differs from the gold text at token {position}", doc_id=doc.id)
        if label_set is not None:
            doc, match = doc.with_labels(label_set), match.with_labels(label_set)
        pairing.gold.append(doc)
        pairing.pred.append(match)
    gold_ids = {doc.id for doc in gold}
    pairing.unmatched_predictions = [doc.id for doc in pred if doc.id not in gold_ids]
    return pairing


@dataclass
class ReportScores:
    """Per-report numbers from which every metric (and every bootstrap sample) is summed."""

    ids: list[str]
    counts: dict[str, np.ndarray]  # metric -> array (reports, 3) of tp, fp, fn
    rewards: dict[str, np.ndarray]  # rg_e / rg_er / rg_er_bar -> array (reports,)

    @classmethod
    def of(cls, pairing: Pairing) -> "ReportScores":
        per_report = [report_counts(gold, pred) for gold, pred in zip(pairing.gold, pairing.pred)]
        metrics = sorted({metric for counts in per_report for metric, _ in counts} | {
            "entity", "relation", "entity_unlabeled", "relation_unlabeled"})
        counts = {
            metric: np.array([[c[(metric, o)] for o in ("tp", "fp", "fn")] for c in per_report], dtype=float)
            .reshape(len(per_report), 3)
            for metric in metrics
        }
        raws = [(document_to_raw(p), document_to_raw(g)) for g, p in zip(pairing.gold, pairing.pred)]
        rewards = {
            name: np.array([compute_reward(hyp, ref, level) for hyp, ref in raws], dtype=float)
            for name, level in REWARD_LEVELS.items()
        }
        return cls([doc.id for doc in pairing.gold], counts, rewards)

    def subset(self, mask: np.ndarray) -> "ReportScores":
        return ReportScores(
            [doc_id for doc_id, keep in zip(self.ids, mask) if keep],
            {metric: values[mask] for metric, values in self.counts.items()},
            {name: values[mask] for name, values in self.rewards.items()},
        )

    def summarise(self, weights: np.ndarray) -> dict[str, np.ndarray]:
        """All metrics for each row of ``weights`` (how often each report is drawn)."""
        values: dict[str, np.ndarray] = {}
        for metric, counts in self.counts.items():
            tp, fp, fn = (weights @ counts).T
            values[f"{metric}_precision"], values[f"{metric}_recall"], values[f"{metric}_f1"] = prf(tp, fp, fn)
        total = np.maximum(weights.sum(axis=1), 1)
        for name, rewards in self.rewards.items():
            values[name] = weights @ rewards / total
        return values


def bootstrap_weights(n_reports: int, samples: int, seed: int) -> np.ndarray:
    """Resampling counts: row b says how often each report is drawn in bootstrap sample b."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_reports, size=(samples, n_reports))
    return np.apply_along_axis(np.bincount, 1, draws, minlength=n_reports).astype(float)


def _scores_block(scores: ReportScores, samples: int, seed: int, confidence: float) -> dict[str, Any]:
    point = {name: float(value[0]) for name, value in scores.summarise(np.ones((1, len(scores.ids)))).items()}
    block: dict[str, Any] = {"n_reports": len(scores.ids)}
    for metric in ("entity", "relation", "entity_unlabeled", "relation_unlabeled"):
        for part in ("f1", "precision", "recall"):
            block[f"{metric}_{part}"] = point[f"{metric}_{part}"]
    for name in REWARD_LEVELS:
        block[name] = point[name]
    ci: dict[str, list[float]] = {}
    if samples and len(scores.ids) > 1:
        sampled = scores.summarise(bootstrap_weights(len(scores.ids), samples, seed))
        tail = (1 - confidence) / 2 * 100
        ci = {name: [float(v) for v in np.percentile(values, [tail, 100 - tail])] for name, values in sampled.items()}
    block["ci"] = {name: ci[name] for name in block if name in ci}
    breakdown: dict[str, dict[str, dict[str, Any]]] = {"per_label": {}, "per_relation": {}}
    for metric, counts in scores.counts.items():
        if ":" not in metric:
            continue
        kind, bucket = metric.split(":", 1)
        tp, fp, fn = counts.sum(axis=0)
        entry = {name: point[f"{metric}_{name}"] for name in ("f1", "precision", "recall")}
        entry |= {"support": int(tp + fn), "tp": int(tp), "fp": int(fp), "fn": int(fn)}
        if f"{metric}_f1" in ci:
            entry["ci"] = ci[f"{metric}_f1"]
        breakdown["per_label" if kind == "entity" else "per_relation"][bucket] = entry
    return block | {key: dict(sorted(value.items())) for key, value in breakdown.items()}


def evaluate(
    gold: list[Document],
    pred: list[Document],
    label_set: LabelSet | None = None,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Every metric of a prediction set against gold, with bootstrap CIs, as one JSON-ready dict.

    Top level: ``entity_f1``, ``relation_f1``, ``rg_e``, ``rg_er``, ``rg_er_bar`` (and precision,
    recall, label-agnostic variants), ``ci``, ``per_label``, ``per_relation``, and ``per_group``
    (the same block per ``modality`` and per ``data_source`` of the gold reports).
    """
    if not gold:
        raise InputError("no gold reports to evaluate")
    pairing = pair_documents(gold, pred, label_set)
    scores = ReportScores.of(pairing)
    result = _scores_block(scores, samples, seed, confidence)
    groups: dict[str, dict[str, Any]] = {}
    for attribute in ("modality", "data_source"):
        values = [getattr(doc, attribute) for doc in pairing.gold]
        if len(set(values)) > 1 or values[0] is not None:
            groups[attribute] = {
                str(value): _scores_block(scores.subset(np.array([v == value for v in values])), samples, seed, confidence)
                for value in sorted(set(values), key=str)
            }
    return {
        **result,
        "label_set": pairing.label_set.value if pairing.label_set else None,
        "missing_predictions": pairing.missing_predictions,
        "unmatched_predictions": pairing.unmatched_predictions,
        "bootstrap": {"samples": samples, "seed": seed, "confidence": confidence},
        "per_group": groups,
    }


HEADLINE_METRICS = ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")


def paired_bootstrap(
    gold: list[Document],
    pred_a: list[Document],
    pred_b: list[Document],
    label_set: LabelSet | None = None,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Is system A better than system B on these reports? Per headline metric.

    Both systems are scored on the same bootstrap resamples of the reports. ``difference`` is
    A minus B on all reports; ``ci`` the percentile interval of the resampled differences;
    ``p_value`` the two-sided share of resamples on the other side of zero (doubled, capped at 1).
    """
    scores = [ReportScores.of(pair_documents(gold, pred, label_set)) for pred in (pred_a, pred_b)]
    n_reports = len(scores[0].ids)
    point = [s.summarise(np.ones((1, n_reports))) for s in scores]
    weights = bootstrap_weights(n_reports, samples, seed)
    sampled = [s.summarise(weights) for s in scores]
    tail = (1 - confidence) / 2 * 100
    result = {}
    for metric in HEADLINE_METRICS:
        differences = sampled[0][metric] - sampled[1][metric]
        p_value = min(1.0, 2 * min(float(np.mean(differences <= 0)), float(np.mean(differences >= 0))))
        low, high = np.percentile(differences, [tail, 100 - tail])
        result[metric] = {"a": float(point[0][metric][0]), "b": float(point[1][metric][0]),
                          "difference": float(point[0][metric][0] - point[1][metric][0]),
                          "ci": [float(low), float(high)], "p_value": p_value}
    return result
