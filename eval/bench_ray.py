"""Benchmark of ``--engine ray``: the span baseline on synthetic reports, Ray against one process, side by side.

    python eval/bench_ray.py [--reports 10000] [--model DIR] [--out eval/results]

Three runs of ``llmgraph extract --type span``, each in its own process, over the same reports: one
local process (torch on all cores), Ray with 1 replica of 1 core, and Ray with ``cores`` replicas of 1
core each (the same cores as the local run). Checks that both Ray outputs equal the local output
(same documents, same ids, each once), and records the overhead of Ray at equal cores (wall time of
the Ray run with every core / the local run; target <= 1.3x) and the replica scaling (1 replica /
all replicas). Without ``--model`` a span model is trained first on 100 other synthetic reports (its
quality does not matter here; its speed does not depend on it). Writes eval/results/bench_ray_DATE.
{json,csv}; exits 1 when a target is missed (after writing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure_llmgraph  # noqa: E402

from llmgraph.io.radgraph_reader import read_radgraph  # noqa: E402
from llmgraph.runs.runlog import partial_path  # noqa: E402

BENCH = "bench_ray"
TARGETS = {"ray_overhead_at_equal_cores": 1.3}


def _run(name: str, reports: Path, model: Path, work: Path, extra: list[str]) -> dict:
    output = work / f"{name}.json"
    run = measure_llmgraph(["extract", str(reports), "-o", str(output), "--type", "span", "--model", str(model),
                            "-q", "--restart", *extra], BENCH)
    manifest = json.loads(output.with_name(output.name + ".manifest.json").read_text())
    ids = [json.loads(line)["id"] for line in partial_path(output).read_text().splitlines()]
    return {"run": name, "args": " ".join(extra), "wall_seconds": run["seconds"],
            "reports": manifest["reports_written"], "reports_per_second_wall": manifest["reports_written"] / run["seconds"],
            "duplicated_ids": len(ids) - len(set(ids)), "output": str(output)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--model", type=Path, help="A train-span folder (default: train one on 100 reports).")
    parser.add_argument("--work", type=Path, help="Keep the files here (default: a temp folder).")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix=f"{BENCH}."))
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    reports = work / "reports.jsonl"
    measure_llmgraph(["synth", "-n", str(args.reports), "-o", str(reports), "--seed", "21"], BENCH)
    model = args.model
    if model is None:
        train = work / "train.json"
        measure_llmgraph(["synth", "-n", "100", "-o", str(train), "--seed", "22"], BENCH)
        model = work / "span-model"
        measure_llmgraph(["train-span", "--train", str(train), "-o", str(model), "--epochs", "1"], BENCH)
    runs = [("local", []), ("ray-1-replica", ["--engine", "ray", "--replicas", "1"]),
            (f"ray-{cores}-replicas", ["--engine", "ray", "--replicas", str(cores)])]
    rows = []
    for name, extra in runs:
        rows.append(_run(name, reports, model, work, extra))
        print(json.dumps(rows[-1]), flush=True)
    local = read_radgraph(rows[0]["output"])
    for row in rows:
        row["identical_to_local"] = read_radgraph(row["output"]) == local
    overhead = rows[2]["wall_seconds"] / rows[0]["wall_seconds"]
    scaling = rows[1]["wall_seconds"] / rows[2]["wall_seconds"]
    missed = {}
    if overhead > TARGETS["ray_overhead_at_equal_cores"]:
        missed["ray_overhead_at_equal_cores"] = overhead
    for row in rows:
        if not row["identical_to_local"] or row["duplicated_ids"] or row["reports"] != args.reports:
            missed[f"{row['run']}: same output as local"] = False
    record = {"date": date.today().isoformat(), "machine": f"{platform.machine()} {cores} cores",
              "platform": platform.platform(), "reports": args.reports, "targets": TARGETS, "rows": rows,
              "ray_overhead_at_equal_cores": overhead, f"speedup_{cores}_replicas_over_1": scaling, "missed": missed}
    table = pd.DataFrame(rows).drop(columns="output")
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    print(f"Ray overhead at equal cores: {overhead:.2f}x; {cores} replicas over 1: {scaling:.2f}x")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{BENCH}_{record['date']}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    table.assign(machine=record["machine"], date=record["date"]).to_csv(stem.with_suffix(".csv"), index=False)
    if missed:
        sys.exit(f"{BENCH}: missed {', '.join(f'{key} ({value})' for key, value in missed.items())}")


if __name__ == "__main__":
    main()
