"""Benchmark of comparing predictions made elsewhere: `llmgraph compare` over N synthetic reports with K
`type: predictions` systems (no model runs), from scratch and again from its cache, in one run.

    python eval/bench_predictions.py [--reports 1000] [--systems 5] [--out eval/results]

Each system's file is the exact synthetic gold with about a fifth of the entities dropped and a tenth
relabelled (another seed per system), so scores, bootstrap CIs, the paired tests between every two
systems, per-report rows, viewers and plots all have work to do. Target: the fresh run < 30 s.
Writes eval/results/bench_predictions_DATE.csv; exits 1 when the target is missed (after writing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import measure_llmgraph  # noqa: E402

from llmgraph.io.radgraph_writer import write_radgraph  # noqa: E402
from llmgraph.io.synth import synth_documents  # noqa: E402

BENCH = "bench_predictions"
TARGET_SECONDS = 30.0


def perturbed(docs: list, seed: int) -> list:
    rng = random.Random(seed)
    labels = ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")
    out = []
    for doc in docs:
        kept = [e for e in doc.entities if rng.random() > 0.2]
        kept = [replace(e, label=rng.choice(labels)) if rng.random() < 0.1 else e for e in kept]
        ids = {e.id for e in kept}
        out.append(replace(doc, entities=kept, relations=[r for r in doc.relations
                                                          if r.source in ids and r.target in ids]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--systems", type=int, default=5)
    parser.add_argument("--tree", type=Path, help="Run the llmgraph of this source tree (default: the installed one).")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=f"{BENCH}.") as folder:
        work = Path(folder)
        gold = list(synth_documents(args.reports, seed=7))
        write_radgraph(gold, work / "gold.json")
        systems = []
        for k in range(args.systems):
            write_radgraph(perturbed(gold, k), work / f"p{k}.json")
            systems.append(f"  - {{name: p{k}, type: predictions, path: p{k}.json}}")
        (work / "experiment.yaml").write_text("gold: [{name: synth, path: gold.json}]\nsystems:\n"
                                              + "\n".join(systems) + "\n")
        args_compare = ["compare", str(work / "experiment.yaml"), "-o", str(work / "out")]
        fresh = measure_llmgraph(args_compare, BENCH, args.tree)
        cached = measure_llmgraph(args_compare, BENCH, args.tree)
        results = pd.read_csv(work / "out" / "results.csv")
        per_report = pd.read_csv(work / "out" / "per_report.csv")
    assert set(results.system) == {f"p{k}" for k in range(args.systems)}
    assert len(per_report) == args.reports * args.systems
    machine = f"{platform.machine()} {os.cpu_count()} cores"
    rows = [{"measure": f"compare, {args.reports} reports x {args.systems} prediction files, fresh (s)",
             "value": fresh["seconds"], "target": f"< {TARGET_SECONDS:g}", "ok": fresh["seconds"] < TARGET_SECONDS},
            {"measure": "the same, cached (s)", "value": cached["seconds"], "target": "", "ok": True},
            {"measure": "peak RSS, fresh (MB)", "value": fresh["peak_rss_kib"] / 1024, "target": "", "ok": True}]
    table = pd.DataFrame(rows).assign(machine=machine, date=date.today().isoformat())
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / f"{BENCH}_{date.today().isoformat()}.csv", index=False)
    print(json.dumps({"fresh_stderr_tail": fresh["stderr"][-300:]}))
    if not table.ok.all():
        sys.exit(f"{BENCH}: missed the target (fresh run {fresh['seconds']:.1f} s, target < {TARGET_SECONDS:g} s)")


if __name__ == "__main__":
    main()
