"""Memory benchmark of a batch run: peak RSS of `llmgraph extract` on 10,000 reports vs 1,000.

    python eval/bench_memory.py [--model DIR] [--small 1000] [--large 10000] [--csv FILE]

Both runs are the very command a user types (plain reports in a .jsonl file, the span baseline
as the fast backend, output as RadGraph JSON), each in its own process, side by side in one run.
Peak RSS is the process's own high-water mark (``ru_maxrss``). The input is streamed, the
partial file holds the finished reports, and the output is assembled from it, so memory should
not grow with the input: exits 1 when the large run peaks above 1.2x the small one.
Without --model, a small span model is trained on synthetic reports first (about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd
from measure import measure_llmgraph

from llmgraph.io.synth import synth_documents
from llmgraph.training.span.train import train_span

TARGET = 1.2


def write_reports(count: int, path: Path) -> None:
    """``count`` synthetic plain reports, one JSON object per line (what a user's export looks like)."""
    with path.open("w", encoding="utf-8") as file:
        for doc in synth_documents(count, seed=7):
            file.write(json.dumps({"id": doc.id, "report": doc.source_text, "modality": doc.modality}) + "\n")


def measure(reports: Path, model: Path, output: Path) -> dict:
    return measure_llmgraph(["extract", str(reports), "-o", str(output), "--type", "span", "--model", str(model),
                             "--quiet"], "bench_memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="A folder written by llmgraph train-span.")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--csv", type=Path, help="Append the measured rows to this CSV.")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model = args.model or folder / "model"
        if args.model is None:
            train_span(list(synth_documents(200, seed=1)), list(synth_documents(40, seed=2)), model, epochs=2,
                       progress=False)
        for count in (args.small, args.large):
            reports = folder / f"reports_{count}.jsonl"
            write_reports(count, reports)
            output = folder / f"graphs_{count}.json"
            started = time.perf_counter()
            run = measure(reports, model, output)
            assert len(json.loads(output.read_text())) == count, f"{output} lacks reports: {run['stderr']}"
            rows.append({"reports": count, "input MB": reports.stat().st_size / 1e6,
                         "output MB": output.stat().st_size / 1e6, "peak RSS MB": run["peak_rss_kib"] / 1024,
                         "seconds": time.perf_counter() - started, "reports/s": count / run["seconds"]})
    table = pd.DataFrame(rows).assign(machine=f"{platform.machine()} {os.cpu_count()} cores",
                                      date=date.today().isoformat())
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    small, large = table["peak RSS MB"].iloc[0], table["peak RSS MB"].iloc[1]
    ratio = large / small
    growth = (large - small) / ((args.large - args.small) / 1000)
    print(f"\npeak RSS {args.large:,} / {args.small:,} reports: {ratio:.3f}x (target <= {TARGET}x); "
          f"{growth:.1f} MB more per 1,000 reports")
    if args.csv:
        table.assign(ratio=ratio).to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
    if ratio > TARGET:
        sys.exit(f"bench_memory: peak RSS grows {ratio:.2f}x from {args.small:,} to {args.large:,} reports "
                 f"(target <= {TARGET}x)")


if __name__ == "__main__":
    main()
