"""What the error taxonomy costs `llmgraph evaluate`: the same files scored from disk with the taxonomy and
with it switched off, side by side in one run.

    python eval/bench_taxonomy.py [--reports 5000] [--rounds 3] [--out eval/results]

Files as in bench_evaluate (synthetic reports and perturbed predictions, as `extract` writes them); each
round reads both files and evaluates them (``evaluation.scoring.evaluate_files``, no bootstrap), once as
shipped and once with ``add_errors`` replaced by a no-op; the fastest round of each counts. Every run of a
day is kept in ``bench_taxonomy_DATE.json`` (the noise between runs is as large as the cost).
Exits 1 when the taxonomy adds more than TARGET to the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_evaluate import write_files

import llmgraph.evaluation.scores as scores
from llmgraph.evaluation.scoring import evaluate_files

TARGET = 0.15  # at most 15% more wall time with the taxonomy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    shipped = scores.add_errors
    seconds: dict[str, list[float]] = {"with taxonomy": [], "without": []}
    with tempfile.TemporaryDirectory() as folder:
        gold, pred = write_files(args.reports, Path(folder))
        random.seed(0)
        for _ in range(args.rounds):
            for name in seconds:
                scores.add_errors = shipped if name == "with taxonomy" else (lambda counts, gold, pred: None)
                started = time.perf_counter()
                evaluate_files(gold, pred, samples=0)
                seconds[name].append(time.perf_counter() - started)
    scores.add_errors = shipped
    fastest = {name: min(runs) for name, runs in seconds.items()}
    added = fastest["with taxonomy"] / fastest["without"] - 1
    result = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
              "reports": args.reports, "rounds": seconds, "fastest": fastest, "added": added, "target": TARGET}
    print(f"evaluate on {args.reports:,} reports: {fastest['with taxonomy']:.2f} s with the taxonomy, "
          f"{fastest['without']:.2f} s without: +{added:.1%} (target <= {TARGET:.0%})")
    args.out.mkdir(parents=True, exist_ok=True)
    record = args.out / f"bench_taxonomy_{date.today().isoformat()}.json"
    earlier = json.loads(record.read_text()).get("runs", []) if record.exists() else []
    record.write_text(json.dumps({"runs": [*earlier, result]}, indent=2) + "\n")  # every run of the day kept
    if added > TARGET:
        sys.exit(f"bench_taxonomy: the taxonomy adds {added:.1%} to evaluate (target <= {TARGET:.0%})")


if __name__ == "__main__":
    main()
