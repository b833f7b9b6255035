"""What a comparison derives from its outcomes: the paired tests between systems, and the rows per report
(``diffs.jsonl``, ``per_report.csv``) with the error classes behind them (``errors.csv``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from llmgraph.core.defaults import RANDOMIZATION_SHUFFLES
from llmgraph.core.document import Document, keep_scored
from llmgraph.evaluation.diff import document_diff
from llmgraph.evaluation.items import document_items
from llmgraph.evaluation.significance import bootstrap_test, randomization_test
from llmgraph.evaluation.taxonomy import ERRORS, report_errors
from llmgraph.harness.comparison import Outcome
from llmgraph.harness.experiment import Experiment
from llmgraph.io.radgraph_reader import read_radgraph


def significance_rows(experiment: Experiment, gold: dict[str, list[Document]], outcomes: list[Outcome]
                      ) -> list[dict[str, Any]]:
    """The experiment's paired test (bootstrap, or approximate randomization with
    ``RANDOMIZATION_SHUFFLES`` shuffles) between every two systems that ran on a gold set."""
    rows = []
    randomization = experiment.significance == "randomization"
    for name in gold:
        done = [o for o in outcomes if o.gold_set == name and o.scored is not None]
        for i, first in enumerate(done):
            for second in done[i + 1:]:
                if randomization:
                    tests = randomization_test(first.scored, second.scored, RANDOMIZATION_SHUFFLES,
                                               experiment.bootstrap["seed"])
                else:
                    tests = bootstrap_test(first.scored, second.scored, **experiment.bootstrap)
                for metric, test in tests.items():
                    rows.append({"gold_set": name, "system_a": first.system, "system_b": second.system,
                                 "metric": metric, "test": experiment.significance, **test})
    return rows


ERROR_COLUMNS = tuple(f"{kind}_{error.replace(' ', '_')}" for kind, errors in ERRORS.items() for error in errors)


def _error_columns(errors: Counter) -> dict[str, int]:
    """A report's errors per class (false positives and false negatives together), as per_report.csv has them."""
    columns = dict.fromkeys(ERROR_COLUMNS, 0)
    for key, number in errors.items():
        columns[f"{key.kind}_{key.error.replace(' ', '_')}"] += number
    return columns


def error_rows(outcome: Outcome, totals: Counter) -> list[dict[str, Any]]:
    """``errors.csv`` rows of one system on one gold set: false positives and negatives per (modality,
    kind, class, label or relation type)."""
    rows: dict[tuple, dict[str, Any]] = {}
    for (modality, key), number in sorted(totals.items(), key=str):
        where = (modality, key.kind, key.error, key.bucket)
        row = rows.setdefault(where, {"system": outcome.system, "gold_set": outcome.gold_set,
                                      "reference": outcome.reference, "modality": modality, "kind": key.kind,
                                      "error": key.error, "label": key.bucket, "fp": 0, "fn": 0})
        row[key.side] += number
    return list(rows.values())


def paired_predictions(gold: list[Document], outcome: Outcome) -> list[tuple[Document, Document]]:
    """Each gold report and its prediction (an empty graph when missing), in the label set of its scores."""
    label_set = outcome.scored.label_set if outcome.scored else None
    predicted = {doc.id: doc for doc in read_radgraph(outcome.predictions)}
    pairs = []
    for doc in gold:
        pred = predicted.get(doc.id, replace(doc, entities=[], relations=[]))
        if label_set is not None:
            doc, pred = doc.with_labels(label_set), pred.with_labels(label_set)
        pairs.append((doc, pred))
    return pairs


Pairs = dict[tuple[str, str], list[tuple[Document, Document]]]  # (system, gold set) -> its paired_predictions


def paired_outcomes(gold: dict[str, list[Document]], outcomes: list[Outcome]) -> Pairs:
    """Every scored outcome's ``paired_predictions``, its predictions file read once for all the rows."""
    return {(o.system, o.gold_set): paired_predictions(gold[o.gold_set], o)
            for o in outcomes if o.scored is not None and o.predictions is not None}


def per_report_rows(experiment: Experiment, pairs: Pairs, outcomes: list[Outcome]
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Per report of every system, in the label set its scores use: the errors (``diffs.jsonl``), the
    scores (``per_report.csv``: precision, recall and F1 of entities and relations, the three rewards, the
    errors per class, with the report's modality and length in tokens), and the error classes summed per
    system, gold set, modality and label (``errors.csv``)."""
    diffs, scores, errors = [], [], []
    for outcome in outcomes:
        if outcome.scored is None:
            continue
        totals: Counter = Counter()
        min_score = outcome.scored.pairer.min_score
        for (doc, pred), report in zip(pairs[(outcome.system, outcome.gold_set)], outcome.scored.per_report()):
            if min_score is not None:  # as it was scored
                pred = keep_scored(pred, min_score)[0]
            error = outcome.manifest.get("errors", {}).get(doc.id)
            classified = report_errors(document_items(doc), document_items(pred))
            totals.update({(doc.modality, key): number for key, number in classified.items()})
            where = {"system": outcome.system, "gold_set": outcome.gold_set}
            diffs.append({**where, **document_diff(doc, pred), **({"error": error} if error else {})})
            scores.append({**where, "reference": outcome.reference, "id": doc.id, "modality": doc.modality,
                           "tokens": len(doc.tokens), "gold_entities": len(doc.entities),
                           "gold_relations": len(doc.relations),
                           **report, **_error_columns(classified),
                           "rewards": experiment.rewards, "error": error})
        errors += error_rows(outcome, totals)
    return diffs, scores, errors


def report_error_counts(per_report: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, int]]:
    """(system, gold set) -> report id -> its errors (false positives + negatives of every class)."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for row in per_report:
        counts.setdefault((row["system"], row["gold_set"]), {})[row["id"]] = sum(row[column] for column in ERROR_COLUMNS)
    return counts
