"""Benchmark of the comparison harness: `llmgraph compare eval/gpt4-mirror.yaml` from scratch, then again
from its cache, side by side in one run; and the span baseline's reports/s against the LLM systems'.

    python eval/bench_compare.py [--experiment eval/gpt4-mirror.yaml] [--csv eval/results/bench_compare.csv]

Targets (issue: comparison harness): a fresh run < 600 s, a cached re-run < 10 s. Exits 1 when a
target is missed. The span baseline's own speed target is measured on more reports by bench_span.py;
here its reports/s is from the 28 sample reports, as the comparison ran them.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def timed_compare(experiment: Path, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "llmgraph", "compare", str(experiment), "-o", str(out)],
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    if done.returncode != 0:
        sys.exit(f"bench_compare: llmgraph compare exited with {done.returncode}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", type=Path, default=HERE / "gpt4-mirror.yaml")
    parser.add_argument("--csv", type=Path, help="Append the measured rows to this CSV.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        fresh, cached = timed_compare(args.experiment, out), timed_compare(args.experiment, out)
        results = pd.read_csv(out / "results.csv")
    speed = results[(results.metric == "reports_per_second") & (results.group == "all")]
    speed = speed.groupby("system").value.mean()
    span = [s for s in speed.index if "span" in s]
    llms = [s for s in speed.index if s not in span]
    rows = [{"measure": "compare fresh run (s)", "value": fresh, "target": "< 600", "ok": fresh < 600},
            {"measure": "compare cached re-run (s)", "value": cached, "target": "< 10", "ok": cached < 10},
            {"measure": "fresh / cached", "value": fresh / cached, "target": "", "ok": True}]
    for name in span:
        rows.append({"measure": f"{name} reports/s", "value": speed[name], "target": "", "ok": True})
        for llm in llms:
            rows.append({"measure": f"{name} / {llm} reports/s", "value": speed[name] / speed[llm], "target": "",
                         "ok": True})
    for llm in llms:
        rows.append({"measure": f"{llm} reports/s", "value": speed[llm], "target": "", "ok": True})
    table = pd.DataFrame(rows).assign(machine=f"{platform.machine()} {os.cpu_count()} cores",
                                      date=date.today().isoformat())
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    if args.csv:
        table.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
    if not table.ok.all():
        sys.exit("bench_compare: a target was missed")


if __name__ == "__main__":
    main()
