"""Benchmark of the span baseline's prediction speed (target: >= 50 reports/s on two CPU cores).

    python eval/bench_span.py [--model DIR] [-n 280] [--csv eval/results/bench_span.csv]

Without --model, trains a small model on synthetic reports first (about a minute). Measures
reports/s on the sample gold set repeated to N (280) reports and on 1,000 synthetic reports, at
batch sizes 16, 32 and 64, and at 64 against encoder calls of one whole length bucket each (faster,
but a report's graph then depends on its batch), side by side in one run. Exits 1 when the
default (batch 64, fixed rows per call) is below the target on either input.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from llmgraph.core.resources import sample_gold_path
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.synth import synth_documents
from llmgraph.training.span.predict import SpanPredictor
from llmgraph.training.span.train import train_span

TARGET = 50.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="A folder written by llmgraph train-span.")
    parser.add_argument("-n", "--reports", type=int, default=280, help="Sample gold reports, repeated to this many.")
    parser.add_argument("--csv", type=Path, help="Append the measured rows to this CSV.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or Path(folder) / "model"
        if args.model is None:
            train_span(list(synth_documents(200, seed=1)), list(synth_documents(40, seed=2)), model, epochs=2,
                       progress=False)
        predictor = SpanPredictor.load(model)
        gold = read_radgraph(sample_gold_path())
        inputs = {f"sample gold to {args.reports}": (gold * -(-args.reports // len(gold)))[:args.reports],
                  "synthetic 1000": list(synth_documents(1000, seed=9))}
        rows = []
        for name, docs in inputs.items():
            for batch_size, calls in ((16, "fixed"), (32, "fixed"), (64, "fixed"), (64, "one per length bucket")):
                started = time.perf_counter()
                predictor.predict(docs, batch_size=batch_size, rows=0 if calls != "fixed" else None)
                seconds = time.perf_counter() - started
                words = sum(len(doc.tokens) for doc in docs) / len(docs)
                rows.append({"reports": name, "mean words": round(words), "batch size": batch_size,
                             "encoder calls": calls, "reports/s": len(docs) / seconds,
                             "dtype": str(predictor.dtype).replace("torch.", "")})
    table = pd.DataFrame(rows).assign(machine=f"{platform.machine()} {os.cpu_count()} cores",
                                      date=date.today().isoformat())
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    if args.csv:
        table.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
    default = table[(table["batch size"] == 64) & (table["encoder calls"] == "fixed")]  # what llmgraph uses
    for name in inputs:
        mine = table[table.reports == name].set_index("encoder calls")["reports/s"]
        print(f"{name}: fixed rows per encoder call (batch-independent graphs) / one call per length bucket: "
              f"{mine['fixed'].iloc[-1] / mine['one per length bucket']:.2f}x")
    if (default["reports/s"] < TARGET).any():
        sys.exit(f"bench_span: below the target of {TARGET:.0f} reports/s at the default batch size")


if __name__ == "__main__":
    main()
