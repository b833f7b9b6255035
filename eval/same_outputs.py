"""Did a change leave llmgraph's outputs as they were? Compares two output folders of the same commands run
before and after it: ``compare``'s tables (timing rows aside) and ``extract``'s graphs and manifest counts.

    python eval/same_outputs.py BEFORE AFTER [--runs span_extract llm_extract]

Each folder holds ``cmp/`` (an ``llmgraph compare`` output folder) and ``RUN.json`` with its manifest for
every extract run named. Prints one line per file and ends with ALL IDENTICAL (exit 0) or DIFFERENCES (1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

TIMING = {"wall_seconds", "model_load_seconds", "training_seconds", "reports_per_second"}  # results.csv rows
TABLES = ("results.csv", "per_report.csv", "significance.csv")
FILES = ("diffs.jsonl", "failures.json")


def same_table(before: Path, after: Path) -> tuple[bool, int]:
    old, new = pd.read_csv(before), pd.read_csv(after)
    if "metric" in old.columns:
        old, new = old[~old.metric.isin(TIMING)], new[~new.metric.isin(TIMING)]
    return old.reset_index(drop=True).equals(new.reset_index(drop=True)), len(old)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--runs", nargs="*", default=["span_extract", "llm_extract"])
    args = parser.parse_args()
    ok = True
    for name in TABLES:
        same, rows = same_table(args.before / "cmp" / name, args.after / "cmp" / name)
        ok &= same
        print(f"{name}: {rows} rows (timing rows aside), identical: {same}")
    for name in FILES:
        same = (args.before / "cmp" / name).read_bytes() == (args.after / "cmp" / name).read_bytes()
        ok &= same
        print(f"{name}: identical: {same}")
    for run in args.runs:
        graphs = (args.before / f"{run}.json").read_bytes() == (args.after / f"{run}.json").read_bytes()
        counts = [json.loads((folder / f"{run}.json.manifest.json").read_text())["counts"]
                  for folder in (args.before, args.after)]
        ok &= graphs and counts[0] == counts[1]
        print(f"{run}.json: {len(json.loads((args.before / f'{run}.json').read_text()))} graphs identical: {graphs}; "
              f"manifest counts identical: {counts[0] == counts[1]}")
    print("ALL IDENTICAL" if ok else "DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
