"""Which graphs to trust: the calibration of llmgraph's confidence scores, and what they cost.

    python eval/bench_confidence.py --llm-model DIR [--span-model DIR] [--out eval/results/NAME]
                                    [--repeats 2] [--keep DIR]

For a fine-tuned LLM (a ``train-llm`` folder, run on the vLLM engine, loaded once) and optionally a span
baseline, on the sample and the long gold: each system's graphs are scored against the gold and its
confidence measured as ``compare`` does (``llmgraph.evaluation.calibration``): entity and relation average
precision against chance (the share of predictions that are right), expected calibration error, and
the errors per report of the 25% of the reports each review signal puts first (``REVIEW_SIGNALS``) against
all. The LLM runs on one engine with greedy decoding (the same graphs each time): ``--confidence none``
(the baseline wall time), ``allowed`` (vLLM's own log-probabilities, after the grammar's mask) and
``raw`` (the model's own, one extra prefill per answer), in turn, ``--repeats`` rounds; the wall-time
ratios to ``none`` compare each estimator's fastest round, measured side by side in this run.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from llmgraph.core.resources import resource
from llmgraph.evaluation.calibration import (
    DEFAULT_REVIEW_SIGNAL,
    REVIEW_SIGNALS,
    calibration_summary,
    review_gain,
    review_order,
    scored_items,
)
from llmgraph.evaluation.items import document_items
from llmgraph.evaluation.scoring import evaluate
from llmgraph.evaluation.taxonomy import report_errors
from llmgraph.extraction.backends import Decoding, create_backend
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.extractor import Extractor
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

GOLD = {"sample": "eval/data/sample_gold.json", "long": "eval/data/long_gold.json"}
ESTIMATORS = ("none", "allowed", "raw")


def paired_errors(gold, predicted) -> tuple[list, dict[str, int]]:
    """Each gold report with its prediction (an empty graph when missing), and each report's errors (false
    positives and negatives, the error taxonomy's count)."""
    by_id = {doc.id: doc for doc in predicted}
    pairs = [(doc, by_id.get(doc.id, replace(doc, entities=[], relations=[]))) for doc in gold]
    return pairs, {g.id: sum(report_errors(document_items(g), document_items(p)).values()) for g, p in pairs}


def measures(gold, predicted) -> dict:
    """Micro-F1, calibration and review gain of one system's graphs on one gold set."""
    pairs, errors = paired_errors(gold, predicted)
    summary = calibration_summary(scored_items(pairs))
    scored = any(summary[kind]["scored"] for kind in summary)
    gains = {signal: review_gain(review_order((p for _, p in pairs), signal), errors) if scored else None
             for signal in REVIEW_SIGNALS}  # no scores: no order
    gain = gains[DEFAULT_REVIEW_SIGNAL]
    scores = evaluate(gold, predicted, samples=0)
    row = {"entity_f1": scores["entity_f1"], "relation_f1": scores["relation_f1"],
           "review_gain": gain["ratio"] if gain else None,
           "review_errors_per_report": gain["errors_per_report"] if gain else None,
           "random_errors_per_report": gain["random_errors_per_report"] if gain else None}
    row |= {f"review_gain_{signal}": g["ratio"] if g else None for signal, g in gains.items()}
    for kind in ("entity", "relation"):
        for key in ("scored", "positive_rate", "average_precision", "ece"):
            row[f"{kind}_{key}"] = summary[kind][key]
    return row


def run_llm(model: str, gold_sets: dict, repeats: int, keep: Path | None, estimators: tuple[str, ...] = ESTIMATORS
            ) -> list[dict]:
    """Each estimator on each gold set, ``repeats`` rounds in turn (none, allowed, raw, none, ...) so the
    wall-time ratios see the same load; the graphs are the same every round (greedy)."""
    backend = create_backend("vllm", model, Decoding())
    rows = []
    try:
        for repeat, estimator in ((r, e) for r in range(repeats) for e in estimators):
            view = copy.copy(backend)
            view.decoding, view.close = Decoding(confidence=estimator), lambda: None
            config = ExtractionConfig(backend="vllm", model=model, decoding=view.decoding)
            extractor = Extractor(config, [], view)
            for name, gold in gold_sets.items():
                docs = [replace(doc, entities=[], relations=[]) for doc in gold]
                started = time.perf_counter()
                run = extractor.run(docs)
                wall = time.perf_counter() - started
                if keep and repeat == 0:
                    write_radgraph(list(run), keep / f"llm-{estimator}-{name}.json")
                row = {"system": "fine-tuned LLM", "estimator": estimator, "gold_set": name, "repeat": repeat,
                       "wall_seconds": wall, "reports_failed": len(run.errors), **measures(gold, list(run))}
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        backend.close()
    return rows


def run_span(model: str, gold_sets: dict, keep: Path | None) -> list[dict]:
    from llmgraph.training.span.predict import SpanPredictor

    predictor = SpanPredictor.load(model)
    rows = []
    for name, gold in gold_sets.items():
        started = time.perf_counter()
        predicted = predictor.predict([replace(doc, entities=[], relations=[]) for doc in gold])
        if keep:
            write_radgraph(predicted, keep / f"span-{name}.json")
        row = {"system": "span baseline", "estimator": "tagger x classifier", "gold_set": name, "repeat": 0,
               "wall_seconds": time.perf_counter() - started, "reports_failed": 0, **measures(gold, predicted)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-model", required=True)
    parser.add_argument("--span-model")
    parser.add_argument("--out", default="eval/results/bench_confidence")
    parser.add_argument("--repeats", type=int, default=2, help="Rounds of the three LLM runs (the fastest counts).")
    parser.add_argument("--keep", type=Path, help="Folder to write each system's graphs to (first round).")
    parser.add_argument("--estimators", default=",".join(ESTIMATORS),
                        help="The LLM runs, comma-separated (none,allowed: the cost of the default alone).")
    parser.add_argument("--gold-sets", default=",".join(GOLD), help="Which gold sets, comma-separated.")
    args = parser.parse_args()
    estimators = tuple(args.estimators.split(","))
    if not set(estimators) <= set(ESTIMATORS) or "none" not in estimators:
        parser.error(f"--estimators: a subset of {', '.join(ESTIMATORS)} with none (the baseline)")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    gold_sets = {name: read_radgraph(resource(GOLD[name])) for name in args.gold_sets.split(",")}
    rows = run_llm(args.llm_model, gold_sets, args.repeats, args.keep, estimators)
    if args.span_model:
        rows += run_span(args.span_model, gold_sets, args.keep)
    frame = pd.DataFrame(rows)
    for name in gold_sets:  # the cost of each estimator against none: the fastest round of each, in this run
        fastest = frame[frame.gold_set == name].groupby("estimator").wall_seconds.min()
        if "none" in fastest:
            chosen = (frame.gold_set == name) & frame.estimator.isin(ESTIMATORS)
            frame.loc[chosen, "wall_vs_none"] = frame.loc[chosen, "estimator"].map(fastest / fastest["none"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out.with_suffix(".csv"), index=False)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
            "llm_model": args.llm_model, "span_model": args.span_model, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(frame.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
