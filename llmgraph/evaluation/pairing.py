"""Pairing each gold report with its prediction by report id, in one label set.

A missing prediction is an empty graph; a prediction of another report text is an error naming the
file and the report. ``Pairer`` does it for the scoring (in memory and from files alike);
``pair_documents`` gives the paired documents themselves (the viewer's).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from llmgraph.core.document import Document, has_scores, keep_scored
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet, label_set_of
from llmgraph.evaluation.items import NO_ITEMS, DocumentItems, ReportItems, document_items
from llmgraph.evaluation.prediction_sources import ListedPredictions
from llmgraph.evaluation.rewards import DEFAULT_REWARDS, check_rewards


def label_set_of_documents(docs: Iterable[Document]) -> LabelSet | None:
    """The label set of the first entity (reading no further than it)."""
    return next((label_set_of(e.label) for doc in docs for e in doc.entities), None)


def check_same_text(gold_id: str, gold_text: str, text: str, pred_path: Path | None = None) -> None:
    """A prediction of another report text than the gold's (other tokens) is an error naming the file
    and the report."""
    if text != gold_text and text.split() != gold_text.split():
        gold_tokens, pred_tokens = gold_text.split(), text.split()
        token = next((i for i, (a, b) in enumerate(zip(gold_tokens, pred_tokens)) if a != b),
                     min(len(gold_tokens), len(pred_tokens)))
        raise InputError(f"predicted text differs from the gold text at token {token}", pred_path, gold_id)


def no_common_ids(pred_ids: list[str], gold_ids: list[str], gold: str) -> str:
    """The problem of predictions that share no report id with their gold (a file keyed by position, as the
    radgraph package writes its outputs: "0", "1", ...), with a few ids of each."""
    def few(ids: list[str]) -> str:
        return ", ".join(map(repr, ids[:3])) + (", ..." if len(ids) > 3 else "")

    return (f"no report id in common with {gold} (predictions: {few(pred_ids)}; gold: {few(gold_ids)}): key each "
            "graph by its report's id")


class Pairer:
    """Pairs each gold report with its prediction in one label set: a missing prediction becomes
    an empty graph, a prediction of another tokenization is an error.

    Without ``label_set``, both sides keep their labels when they share a label set and are
    mapped to RadGraph 1.0 (the coarser set) when they do not.
    """

    def __init__(self, label_set: LabelSet | None, gold_set: LabelSet | None, pred_set: LabelSet | None,
                 pred_path: Path | None = None, rewards: str = DEFAULT_REWARDS, min_score: float | None = None):
        if label_set is None and gold_set and pred_set and gold_set != pred_set:
            label_set = LabelSet.RADGRAPH
        self.rewards = check_rewards(rewards)
        self.mapping = label_set
        self.label_set = label_set or gold_set or pred_set
        self.pred_path = pred_path
        self.min_score = min_score  # predictions are scored without what scores below it
        self.missing: list[tuple[int, str]] = []  # (gold position, id) of reports without a prediction

    def mapped(self, doc: Document) -> Document:
        return doc if self.mapping is None else doc.with_labels(self.mapping)

    def report(self, doc: Document) -> ReportItems:
        return ReportItems(doc.id, doc.text, doc.modality, doc.data_source,
                           document_items(self.mapped(doc), self.rewards))

    def prediction(self, doc: Document) -> ReportItems:
        """``report`` of a prediction, without what scores below ``min_score`` when it is set."""
        return self.report(doc if self.min_score is None else keep_scored(doc, self.min_score)[0])

    def _check_text(self, gold_id: str, gold_text: str, text: str) -> None:
        check_same_text(gold_id, gold_text, text, self.pred_path)

    def items(self, gold: ReportItems, pred: ReportItems | None, position: int) -> tuple[DocumentItems, DocumentItems]:
        """The items of the gold report at ``position`` and of its prediction."""
        if pred is None:
            self.missing.append((position, gold.id))
            return gold.items, NO_ITEMS
        self._check_text(gold.id, gold.text, pred.text)
        return gold.items, pred.items

    def documents(self, gold: Document, pred: Document | None, position: int) -> tuple[Document, Document]:
        """The gold document and its prediction (an empty one if missing), in the label set."""
        if pred is None:
            self.missing.append((position, gold.id))
            pred = Document(id=gold.id, text=gold.text)
        else:
            self._check_text(gold.id, gold.text, pred.text)
        return self.mapped(gold), self.mapped(pred)

    def missing_predictions(self) -> list[str]:
        return [doc_id for _, doc_id in sorted(self.missing)]


def check_min_score(pred: Iterable[Document], min_score: float | None, where: Path | None = None) -> None:
    """``min_score`` needs scores: predictions whose first graph with an entity carries none are refused."""
    if min_score is None:
        return
    first = next((doc for doc in pred if doc.entities), None)
    if first is not None and not has_scores(first):
        raise InputError(f"--min-score {min_score:g}: the predictions carry no scores (report {first.id} has none; "
                         "README, Confidence)", where)


def pairer_of_lists(gold: list[Document], pred: list[Document], label_set: LabelSet | None,
                    scoring: bool = True, rewards: str = DEFAULT_REWARDS,
                    min_score: float | None = None) -> tuple[Pairer, ListedPredictions]:
    """The pairer of gold and predictions held in lists, and those predictions (made ready for scoring, or
    kept as documents without ``scoring``)."""
    check_min_score(pred, min_score)
    pairer = Pairer(label_set, label_set_of_documents(gold), label_set_of_documents(pred), rewards=rewards,
                    min_score=min_score)
    return pairer, ListedPredictions(pred, pairer.prediction if scoring else lambda doc: doc)


@dataclass
class Pairing:
    """Gold and predicted documents matched by report id, in one label set."""

    gold: list[Document]
    pred: list[Document]
    label_set: LabelSet | None
    missing_predictions: list[str] = field(default_factory=list)
    unmatched_predictions: list[str] = field(default_factory=list)


def pair_documents(gold: list[Document], pred: list[Document], label_set: LabelSet | None = None) -> Pairing:
    """Match predictions to gold by id, as the metrics do; a missing prediction is an empty graph."""
    pairer, predictions = pairer_of_lists(gold, pred, label_set, scoring=False)
    pairs = [pairer.documents(doc, predictions.find(doc.id), position) for position, doc in enumerate(gold)]
    return Pairing([g for g, _ in pairs], [p for _, p in pairs], pairer.label_set,
                   pairer.missing_predictions(), predictions.unmatched())
