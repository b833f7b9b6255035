"""Metrics: RadGraph micro-F1 (entities, relations), F1RadGraph rewards, bootstrap CIs.

- Entity micro-F1 (RadGraph paper): an entity is correct when span and label match exactly.
  Relation micro-F1: both entity spans and labels and the relation type match. The
  ``unlabeled`` variants ignore entity labels (relation type still counts).
- F1RadGraph RG_E / RG_ER / RG_ER-bar: the reward levels simple / partial / complete of
  ``radgraph.rewards.compute_reward`` (radgraph 0.1.18), reproduced operation for operation on
  the same annotation dicts, averaged over reports (0 when either side has no entities).
- Confidence intervals: percentile bootstrap over reports, seeded.

One code path scores documents in memory (``evaluate``) and files of any size
(``evaluate_files``): gold reports are paired with their predictions one at a time, and each
pair leaves only a compact row of numbers (``ScoreRows``: tp/fp/fn per metric bucket, the
three rewards, the report's groups). Every metric and every bootstrap resample is a weighted
sum of those rows; the resamples are drawn and summed a block at a time, so memory does not
grow with the number of samples.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.io.formats import RadGraphFile
from llmgraph.core.labels import LabelSet, label_set_of

REWARD_LEVELS = {"rg_e": "simple", "rg_er": "partial", "rg_er_bar": "complete"}
# F1RadGraph as scored by: the radgraph package on PyPI (0.1.18: entity tokens lower-cased only in the
# relation items of ``complete``), and the radgraph repository's main branch since its PR #15 (lower-cased
# at every level). The same predictions get other RG_E / RG_ER when their case differs from the gold's.
REWARD_VERSIONS = ("radgraph-0.1.18", "radgraph-main")
DEFAULT_REWARDS = REWARD_VERSIONS[0]
HEADLINE = ("entity_f1", "relation_f1", "rg_e", "rg_er", "rg_er_bar")
BASE_METRICS = ("entity", "relation", "entity_unlabeled", "relation_unlabeled")
OUTCOMES = ("tp", "fp", "fn")
GROUP_ATTRIBUTES = ("modality", "data_source")
BOOTSTRAP_BLOCK_BYTES = 16 << 20  # memory for one block of resampling weights
UINT16_MAX = np.iinfo(np.uint16).max


# F1RadGraph, as in radgraph.rewards ------------------------------------------------------------

def _set_f1(hypothesis: set, reference: set) -> float:
    matched = len(hypothesis & reference)
    precision = matched / len(hypothesis) if len(hypothesis) > 0 else 0.0
    recall = matched / len(reference) if len(reference) > 0 else 0.0
    return (2 * precision * recall / (precision + recall)) if (precision + recall) > 0 else 0.0


def check_rewards(version: str) -> str:
    if version not in REWARD_VERSIONS:
        raise InputError(f"unknown reward version {version!r} (expected one of {', '.join(REWARD_VERSIONS)})")
    return version


def reward_sets(entities: Iterable[tuple[str, str, Sequence[tuple[str, str]]]],
                rewards: str = DEFAULT_REWARDS) -> dict[str, set]:
    """The items each reward level compares, from (tokens, label, [(relation type, target tokens)])
    per entity, as ``radgraph.rewards`` builds them: ``simple`` (tokens, label); ``partial`` the
    same, marked when the entity has relations; ``complete`` (tokens, label) of entities without
    relations and (tokens, label, type, target tokens), lowercased, per relation. Under
    ``radgraph-main`` the tokens are lower-cased in every item."""
    fold = str.lower if check_rewards(rewards) == "radgraph-main" else str
    simple: set = set()
    partial: set = set()
    complete: set = set()
    for tokens, label, relations in entities:
        simple.add((fold(tokens), label))
        if relations:
            partial.add((fold(tokens), label, True))
            complete.update((tokens.lower(), label, kind, target.lower()) for kind, target in relations)
        else:
            partial.add((fold(tokens), label))
            complete.add((fold(tokens), label))
    return {"simple": simple, "partial": partial, "complete": complete}


def reward_items(annotation: dict, rewards: str = DEFAULT_REWARDS) -> dict[str, set]:
    """``reward_sets`` of a RadGraph annotation dict (``{"entities": {id: {"tokens", "label", "relations"}}}``)."""
    entities = annotation["entities"]
    return reward_sets(((entity["tokens"], entity["label"],
                         [(kind, entities[target]["tokens"]) for kind, target in entity["relations"]])
                        for entity in entities.values()), rewards)


def compute_reward(hypothesis: dict, reference: dict, reward_level: str, rewards: str = DEFAULT_REWARDS) -> float:
    """F1RadGraph of one report pair (RadGraph annotation dicts), as ``radgraph.rewards`` of that version."""
    if len(hypothesis["entities"]) == 0 or len(reference["entities"]) == 0:
        return 0.0
    return _set_f1(reward_items(hypothesis, rewards)[reward_level], reward_items(reference, rewards)[reward_level])


# What a document is matched on ---------------------------------------------------------------

class DocumentItems(NamedTuple):
    """Everything a document is compared on, computed once per document."""

    entities: set  # (start, end, label): micro-F1
    spans: set  # (start, end): label-agnostic micro-F1
    relations: set  # (source entity, target entity, type), entities as (start, end, label)
    links: set  # the same with entities as (start, end)
    rewards: dict[str, set] | None  # reward_sets by level; None without entities (the rewards are 0)


def document_items(doc: Document, rewards: str = DEFAULT_REWARDS) -> DocumentItems:
    """The items of ``doc`` (its reward items of that reward version). An entity id given twice (only
    in documents made in code) means its last entity, as in the annotation dict
    ``formats.document_to_raw`` writes."""
    by_id = {entity.id: entity for entity in doc.entities}
    keys = {entity_id: (e.start_ix, e.end_ix, e.label) for entity_id, e in by_id.items()}
    entities = {(e.start_ix, e.end_ix, e.label) for e in doc.entities}
    relations = {(keys[r.source], keys[r.target], r.type) for r in doc.relations}
    items = None
    if by_id:
        targets: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for relation in doc.relations:
            targets[relation.source].append((relation.type, by_id[relation.target].tokens))
        items = reward_sets(((e.tokens, e.label, targets.get(entity_id, ())) for entity_id, e in by_id.items()),
                            rewards)
    return DocumentItems(entities, {item[:2] for item in entities}, relations,
                         {(source[:2], target[:2], kind) for source, target, kind in relations}, items)


def pair_rewards(gold: DocumentItems, pred: DocumentItems) -> dict[str, float]:
    """``rg_e``, ``rg_er``, ``rg_er_bar`` of one report (``compute_reward`` at each level)."""
    if gold.rewards is None or pred.rewards is None:
        return dict.fromkeys(REWARD_LEVELS, 0.0)
    return {name: _set_f1(pred.rewards[level], gold.rewards[level]) for name, level in REWARD_LEVELS.items()}


_BUCKET = operator.itemgetter(2)  # an item's label (entities) or type (relations)


def _count(counts: dict, gold: set[tuple], pred: set[tuple], prefix: str) -> None:
    """The tp/fp/fn of one report under ``prefix`` and per bucket."""
    for outcome, items in (("tp", gold & pred), ("fp", pred - gold), ("fn", gold - pred)):
        if items:
            counts[(prefix, outcome)] = len(items)
            for bucket, number in Counter(map(_BUCKET, items)).items():
                counts[(f"{prefix}:{bucket}", outcome)] = number


def pair_counts(gold: DocumentItems, pred: DocumentItems) -> Counter:
    """All tp/fp/fn counts of one report: keys are ``(metric, outcome)``; a bucket (label,
    relation type) only when it occurs."""
    counts: Counter = Counter()
    _count(counts, gold.entities, pred.entities, "entity")
    _count(counts, gold.relations, pred.relations, "relation")
    for kind, gold_items, pred_items in (("entity", gold.spans, pred.spans), ("relation", gold.links, pred.links)):
        matched = len(gold_items & pred_items)
        counts[(f"{kind}_unlabeled", "tp")] = matched
        counts[(f"{kind}_unlabeled", "fp")] = len(pred_items) - matched
        counts[(f"{kind}_unlabeled", "fn")] = len(gold_items) - matched
    return counts


def report_counts(gold: Document, pred: Document) -> Counter:
    """All tp/fp/fn counts of one report: keys are ``(metric, outcome)``."""
    return pair_counts(document_items(gold), document_items(pred))


def report_rewards(gold: Document, pred: Document, rewards: str = DEFAULT_REWARDS) -> dict[str, float]:
    """``rg_e``, ``rg_er``, ``rg_er_bar`` of one report."""
    return pair_rewards(document_items(gold, rewards), document_items(pred, rewards))


def prf(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 (0 where undefined), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


# Pairing gold reports with their predictions -----------------------------------------------------

def label_set_of_documents(docs: Iterable[Document]) -> LabelSet | None:
    """The label set of the first entity (reading no further than it)."""
    return next((label_set_of(e.label) for doc in docs for e in doc.entities), None)


class ScoredReport(NamedTuple):
    """What scoring reads of a document: its report id, text, groups and items in the label set of
    the scoring (small and cheap to hand over from a helper process that reads the file)."""

    id: str
    text: str
    modality: str | None
    data_source: str | None
    items: DocumentItems


NO_ITEMS = DocumentItems(frozenset(), frozenset(), frozenset(), frozenset(), None)  # a missing prediction


def check_same_text(gold_id: str, gold_text: str, text: str, pred_path: Path | None = None) -> None:
    """A prediction of another report text than the gold's (other tokens) is an error naming the file
    and the report."""
    if text != gold_text and text.split() != gold_text.split():
        gold_tokens, pred_tokens = gold_text.split(), text.split()
        token = next((i for i, (a, b) in enumerate(zip(gold_tokens, pred_tokens)) if a != b),
                     min(len(gold_tokens), len(pred_tokens)))
        raise InputError(f"predicted text differs from the gold text at token {token}", pred_path, gold_id)


class _Pairer:
    """Pairs each gold report with its prediction in one label set: a missing prediction becomes
    an empty graph, a prediction of another tokenization is an error.

    Without ``label_set``, both sides keep their labels when they share a label set and are
    mapped to RadGraph 1.0 (the coarser set) when they do not.
    """

    def __init__(self, label_set: LabelSet | None, gold_set: LabelSet | None, pred_set: LabelSet | None,
                 pred_path: Path | None = None, rewards: str = DEFAULT_REWARDS):
        if label_set is None and gold_set and pred_set and gold_set != pred_set:
            label_set = LabelSet.RADGRAPH
        self.rewards = check_rewards(rewards)
        self.mapping = label_set
        self.label_set = label_set or gold_set or pred_set
        self.pred_path = pred_path
        self.missing: list[tuple[int, str]] = []  # (gold position, id) of reports without a prediction

    def mapped(self, doc: Document) -> Document:
        return doc if self.mapping is None else doc.with_labels(self.mapping)

    def report(self, doc: Document) -> ScoredReport:
        return ScoredReport(doc.id, doc.text, doc.modality, doc.data_source,
                            document_items(self.mapped(doc), self.rewards))

    def _check_text(self, gold_id: str, gold_text: str, text: str) -> None:
        check_same_text(gold_id, gold_text, text, self.pred_path)

    def items(self, gold: ScoredReport, pred: ScoredReport | None, position: int) -> tuple[DocumentItems, DocumentItems]:
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


LATER = object()  # a prediction that may come later in its file


class _ListedPredictions:
    """Predictions held in a list, found by report id (and made ready for scoring by ``prepare``)."""

    def __init__(self, pred: list[Document], prepare: Callable[[Document], Any]):
        self.by_id = {doc.id: doc for doc in pred}
        if len(self.by_id) != len(pred):
            raise InputError("predictions hold a report id twice")
        self.order = [doc.id for doc in pred]
        self.asked: set[str] = set()
        self.prepare = prepare

    def find(self, doc_id: str) -> Any:
        self.asked.add(doc_id)
        doc = self.by_id.get(doc_id)
        return None if doc is None else self.prepare(doc)

    def finish(self, wanted: set[str]) -> Iterator[tuple[str, Any]]:
        return iter(())

    def unmatched(self) -> list[str]:
        return [doc_id for doc_id in self.order if doc_id not in self.asked]


class _FilePredictions:
    """Predictions read from their file along with the gold file, as ``ScoredReport``s.

    A helper process parses the file (and computes each prediction's items) while this one reads
    the gold. When both files list the reports in the same order (``llmgraph extract`` keeps its
    input's order), each prediction is parsed once, as its turn comes. A few entries are read
    ahead to skip predictions the gold does not have; entries read past are remembered by byte
    offset only and parsed again if asked for. A gold report whose prediction is not in sight
    waits until the end of the gold file (``LATER``), when the rest of the prediction file is read.
    """

    WINDOW = 64  # predictions read ahead of the gold, at most

    def __init__(self, path: Path, labeler: str | None, gold_repeats: bool, prepare: Callable[[Document], ScoredReport]):
        self.path = path
        self.prepare = prepare
        self.file = RadGraphFile(path, labeler, read_ahead=True, prepare=prepare)
        self.stream = self._predictions(labeler == "both")
        self.window: dict[str, tuple[int, ScoredReport]] = {}  # read ahead, in file order
        self.passed: dict[str, int] = {}  # read past without being asked for: id -> byte offset
        self.found: dict[str, int] = {}  # asked for, kept when the gold asks for a report twice
        self.gold_repeats = gold_repeats
        self.last: ScoredReport | None = None
        self.unmatched_ids: list[str] = []

    def _predictions(self, both: bool) -> Iterator[tuple[int, ScoredReport]]:
        seen: set[str] | None = set() if both else None  # only both labelers can repeat an id
        for offset, predictions in self.file.entries():
            for prediction in predictions:
                if seen is not None and prediction.id in seen:
                    raise InputError("predictions hold a report id twice", self.path, prediction.id)
                if seen is not None:
                    seen.add(prediction.id)
                yield offset, prediction

    def _again(self, offset: int) -> ScoredReport | None:
        doc = next(iter(self.file.documents_at(offset)), None)
        return None if doc is None else self.prepare(doc)

    def find(self, doc_id: str) -> ScoredReport | object:
        if self.last is not None and self.last.id == doc_id:
            return self.last
        offset, prediction = self._take(doc_id)
        if prediction is None:
            return LATER
        if self.gold_repeats:
            self.found[doc_id] = offset
        self.last = prediction
        return prediction

    def _take(self, doc_id: str) -> tuple[int, ScoredReport | None]:
        if doc_id in self.passed:
            offset = self.passed.pop(doc_id)
            return offset, self._again(offset)
        if doc_id in self.found:
            return self.found[doc_id], self._again(self.found[doc_id])
        while doc_id not in self.window and len(self.window) < self.WINDOW:
            item = next(self.stream, None)
            if item is None:
                break
            self.window[item[1].id] = item
        if doc_id not in self.window:
            return 0, None
        for key in list(self.window):  # the entries before it are predictions the gold skipped
            offset, prediction = self.window.pop(key)
            if key == doc_id:
                return offset, prediction
            self.passed[key] = offset
        raise AssertionError("unreachable: the id is in the window")

    def finish(self, wanted: set[str]) -> Iterator[tuple[str, ScoredReport]]:
        """After the gold: read the rest of the file (all of it is validated), yielding the
        predictions of ``wanted`` ids; every other prediction not asked for is unmatched."""
        rest: list[tuple[int, str]] = []
        for doc_id in wanted & self.found.keys():  # waited for, then found when the gold asked again
            prediction = self._again(self.found[doc_id])
            if prediction is not None:
                yield doc_id, prediction
        for doc_id, offset in list(self.passed.items()):
            if doc_id in wanted:
                prediction = self._again(offset)
                if prediction is not None:
                    yield doc_id, prediction
            else:
                rest.append((offset, doc_id))
        for offset, prediction in itertools.chain(list(self.window.values()), self.stream):
            if prediction.id in wanted:
                yield prediction.id, prediction
            else:
                rest.append((offset, prediction.id))
        self.window.clear()
        self.unmatched_ids = [doc_id for _, doc_id in sorted(rest)]

    def unmatched(self) -> list[str]:
        return self.unmatched_ids


# Per-report rows ---------------------------------------------------------------------------------

@dataclass
class ReportScores:
    """Per-report numbers from which every metric (and every bootstrap sample) is summed."""

    metrics: list[str]  # sorted metric names; columns 3i, 3i+1, 3i+2 of ``counts`` are tp, fp, fn of metric i
    counts: np.ndarray  # (reports, 3 * metrics) of small integers (float32 when sums stay exact, else float64)
    rewards: dict[str, np.ndarray]  # rg_e / rg_er / rg_er_bar -> array (reports,)
    groups: dict[str, tuple[np.ndarray, list[Any]]] = field(default_factory=dict)  # attribute -> (codes, values)

    @property
    def n_reports(self) -> int:
        return len(self.counts)

    def subset(self, mask: np.ndarray) -> "ReportScores":
        if mask.all():  # a group of every report (one data source, say): no copy
            return ReportScores(self.metrics, self.counts, self.rewards)
        return ReportScores(self.metrics, self.counts[mask], {name: values[mask] for name, values in self.rewards.items()})

    def sums(self, weights: np.ndarray) -> np.ndarray:
        """tp/fp/fn of every metric for each row of ``weights``. Exact: every sum is an integer the
        dtype holds exactly (``ScoreRows.scores`` chose it), so no summation order changes it."""
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


class ScoreRows:
    """The rows of ``ReportScores``, filled one report at a time in gold order (a row may be
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
        self.n = 0

    def add(self, gold: ScoredReport, items: tuple[DocumentItems, DocumentItems] | None) -> int:
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

    def scores(self) -> ReportScores:
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
        return ReportScores(order, counts, rewards, groups)


def _score_reports(gold: Iterable[tuple[Any, ScoredReport]], predictions, pairer: _Pairer,
                   gold_again: Callable[[Any], ScoredReport]) -> ReportScores:
    """Score every gold report against its prediction: in gold order, one at a time; a report
    whose prediction comes later in its file is scored once the gold is done (``gold_again``
    reads it again from where the gold iterable said it was)."""
    rows = ScoreRows()
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


# Bootstrap and the result ---------------------------------------------------------------------

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


def _sampled(scores: list[ReportScores], samples: int, seed: int) -> list[dict[str, np.ndarray]]:
    """Every metric of each of ``scores`` (the same reports) on the same bootstrap resamples."""
    parts: list[dict[str, list[np.ndarray]]] = [defaultdict(list) for _ in scores]
    for weights in bootstrap_blocks(scores[0].n_reports, samples, seed):
        for part, score in zip(parts, scores):
            for name, values in score.summarise(weights).items():
                part[name].append(values)
    return [{name: np.concatenate(values) for name, values in part.items()} for part in parts]


def _point(scores: ReportScores) -> dict[str, float]:
    return {name: float(value[0]) for name, value in scores.summarise(np.ones((1, scores.n_reports))).items()}


def _scores_block(scores: ReportScores, samples: int, seed: int, confidence: float) -> dict[str, Any]:
    point = _point(scores)
    block: dict[str, Any] = {"n_reports": scores.n_reports}
    for metric in BASE_METRICS:
        for part in ("f1", "precision", "recall"):
            block[f"{metric}_{part}"] = point[f"{metric}_{part}"]
    for name in REWARD_LEVELS:
        block[name] = point[name]
    ci: dict[str, list[float]] = {}
    if samples and scores.n_reports > 1:
        sampled, = _sampled([scores], samples, seed)
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


def _result(scores: ReportScores, pairer: _Pairer, unmatched: list[str], samples: int, seed: int,
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
        "per_group": groups,
    }


def _listed(gold: list[Document], pred: list[Document], label_set: LabelSet | None,
            scoring: bool = True, rewards: str = DEFAULT_REWARDS) -> tuple[_Pairer, _ListedPredictions]:
    pairer = _Pairer(label_set, label_set_of_documents(gold), label_set_of_documents(pred), rewards=rewards)
    return pairer, _ListedPredictions(pred, pairer.report if scoring else lambda doc: doc)


def _never_later(place: Any) -> ScoredReport:
    raise AssertionError("predictions in a list are never late")


def _scores_of_lists(gold: list[Document], pred: list[Document], label_set: LabelSet | None,
                     rewards: str = DEFAULT_REWARDS) -> tuple[ReportScores, _Pairer, _ListedPredictions]:
    pairer, predictions = _listed(gold, pred, label_set, rewards=rewards)
    scores = _score_reports(((None, pairer.report(doc)) for doc in gold), predictions, pairer, _never_later)
    return scores, pairer, predictions


@dataclass
class Scored:
    """A prediction set scored against gold, report by report: every metric, bootstrap, paired test and
    per-report row is summed from it, so a comparison scores each system once however it is reported."""

    reports: ReportScores
    pairer: _Pairer
    unmatched: list[str]

    @classmethod
    def of(cls, gold: list[Document], pred: list[Document], label_set: LabelSet | None = None,
           rewards: str = DEFAULT_REWARDS) -> "Scored":
        if not gold:
            raise InputError("no gold reports to evaluate")
        reports, pairer, predictions = _scores_of_lists(gold, pred, label_set, rewards)
        return cls(reports, pairer, predictions.unmatched())

    @property
    def label_set(self) -> LabelSet | None:
        return self.pairer.label_set

    def result(self, samples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
        """What ``evaluate`` returns."""
        return _result(self.reports, self.pairer, self.unmatched, samples, seed, confidence)

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
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    rewards: str = DEFAULT_REWARDS,
) -> dict[str, Any]:
    """Every metric of a prediction set against gold, with bootstrap CIs, as one JSON-ready dict
    (F1RadGraph of the reward version ``rewards``, which the dict names).

    Top level: ``entity_f1``, ``relation_f1``, ``rg_e``, ``rg_er``, ``rg_er_bar`` (and precision,
    recall, label-agnostic variants), ``ci``, ``per_label``, ``per_relation``, and ``per_group``
    (the same block per ``modality`` and per ``data_source`` of the gold reports).
    """
    return Scored.of(gold, pred, label_set, rewards).result(samples, seed, confidence)


def no_common_ids(pred_ids: list[str], gold_ids: list[str], gold: str) -> str:
    """The problem of predictions that share no report id with their gold (a file keyed by position, as the
    radgraph package writes its outputs: "0", "1", ...), with a few ids of each."""
    def few(ids: list[str]) -> str:
        return ", ".join(map(repr, ids[:3])) + (", ..." if len(ids) > 3 else "")

    return (f"no report id in common with {gold} (predictions: {few(pred_ids)}; gold: {few(gold_ids)}): key each "
            "graph by its report's id")


def evaluate_files(
    gold_path: str | Path,
    pred_path: str | Path,
    gold_labeler: str | None = None,
    pred_labeler: str | None = None,
    label_set: LabelSet | None = None,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    rewards: str = DEFAULT_REWARDS,
) -> dict[str, Any]:
    """``evaluate(read_radgraph(gold_path, gold_labeler), read_radgraph(pred_path, pred_labeler), ...)``,
    the same numbers, without holding the files: both are streamed, and each report leaves a
    row of a few dozen numbers. Errors name their file (a prediction whose text differs from the
    gold: the prediction file and the report)."""
    gold_path, pred_path = Path(gold_path), Path(pred_path)
    pairer = _Pairer(label_set, label_set_of_documents(RadGraphFile(gold_path, gold_labeler)),
                     label_set_of_documents(RadGraphFile(pred_path, pred_labeler)), pred_path, rewards)
    # The gold is read here while a helper process reads the predictions (and computes their items).
    gold_file = RadGraphFile(gold_path, gold_labeler, prepare=pairer.report)
    predictions = _FilePredictions(pred_path, pred_labeler, gold_labeler == "both", pairer.report)
    gold = (((offset, index), report) for offset, reports in gold_file.entries() for index, report in enumerate(reports))
    scores = _score_reports(gold, predictions, pairer,
                            lambda place: pairer.report(gold_file.documents_at(place[0])[place[1]]))
    if scores.n_reports == 0:
        raise InputError("no gold reports to evaluate", gold_path)
    unmatched = predictions.unmatched()
    if unmatched and len(pairer.missing_predictions()) == scores.n_reports:
        raise InputError(no_common_ids(unmatched, pairer.missing_predictions(), f"the gold file {gold_path}"), pred_path)
    return _result(scores, pairer, predictions.unmatched(), samples, seed, confidence)


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
    pairer, predictions = _listed(gold, pred, label_set, scoring=False)
    pairs = [pairer.documents(doc, predictions.find(doc.id), position) for position, doc in enumerate(gold)]
    return Pairing([g for g, _ in pairs], [p for _, p in pairs], pairer.label_set,
                   pairer.missing_predictions(), predictions.unmatched())


def paired_bootstrap(
    gold: list[Document],
    pred_a: list[Document],
    pred_b: list[Document],
    label_set: LabelSet | None = None,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    rewards: str = DEFAULT_REWARDS,
) -> dict[str, dict[str, float]]:
    """Is system A better than system B on these reports? Per headline metric.

    Both systems are scored on the same bootstrap resamples of the reports. ``difference`` is
    A minus B on all reports; ``ci`` the percentile interval of the resampled differences;
    ``p_value`` the two-sided share of resamples on the other side of zero (doubled, capped at 1).
    """
    return bootstrap_test(Scored.of(gold, pred_a, label_set, rewards), Scored.of(gold, pred_b, label_set, rewards),
                          samples, seed, confidence)


def bootstrap_test(a: Scored, b: Scored, samples: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> dict[str, dict[str, float]]:
    """``paired_bootstrap`` of two prediction sets already scored against the same gold reports."""
    _check_paired(a, b)
    scores = [a.reports, b.reports]
    point = [_point(s) for s in scores]
    sampled = _sampled(scores, samples, seed)
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


SIGNIFICANCE_TESTS = ("bootstrap", "randomization")


def _check_paired(a: Scored, b: Scored) -> None:
    if a.reports.n_reports != b.reports.n_reports or a.pairer.rewards != b.pairer.rewards:
        raise ValueError("a paired test needs both systems scored on the same gold reports with one reward version")


def _headline_rows(scores: ReportScores) -> np.ndarray:
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
    samples: int = 10_000,
    seed: int = 0,
    rewards: str = DEFAULT_REWARDS,
) -> dict[str, dict[str, float]]:
    """A paired approximate randomization test of A against B, per headline metric (as RadEval's
    ``compare_systems`` reports it). Each of ``samples`` shuffles swaps A's and B's graphs of every report
    with probability 1/2 and recomputes the corpus-level difference; ``p_value`` is
    (shuffles with ``|difference| >= |observed|`` + 1) / (``samples`` + 1), two-sided. Seeded."""
    return randomization_test(Scored.of(gold, pred_a, label_set, rewards),
                              Scored.of(gold, pred_b, label_set, rewards), samples, seed)


def randomization_test(a: Scored, b: Scored, samples: int = 10_000, seed: int = 0) -> dict[str, dict[str, float]]:
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
