"""The review loop end to end, with the sample gold standing in for the reviewer: README's worked example.

    python eval/review_loop.py [--span-model DIR] [--n 10] [--work out/review-loop] [--out eval/results/NAME.md]

1. A span baseline trained on 400 synthetic reports (``--span-model``, or trained here) extracts the
   sample gold's 28 reports, with scores.
2. ``llmgraph review export --to brat -n N`` picks the N reports worth a review (``--select
   expected-errors``, the default).
3. The "reviewer" corrects them: each exported ``.ann`` is replaced by the gold graph of its report, as a
   person's corrections would replace the pre-annotations (written by ``llmgraph.io.brat.to_brat``).
4. ``llmgraph review import`` reads the folder back as gold; ``llmgraph agreement`` says how far the
   reviewed graphs are from the system's (what the review changed).
5. A second span model is trained on the same synthetic reports plus the N reviewed ones.
6. ``llmgraph compare`` scores both models on the sample gold's other reports (held out of the review),
   with bootstrap intervals and the paired test: does the review pay for itself?

Every step is the command a user types (``llmgraph ...`` in a subprocess); the commands and the numbers go
to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

from llmgraph.core.resources import sample_gold_path
from llmgraph.io.brat import to_brat
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

LLMGRAPH = [sys.executable, "-m", "llmgraph"]


def run(log: list[str], *args: str) -> str:
    """One llmgraph command, logged; its stdout."""
    log.append("llmgraph " + " ".join(args))
    started = time.perf_counter()
    done = subprocess.run([*LLMGRAPH, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"review_loop: llmgraph {' '.join(args)} failed: {done.stderr.strip()}")
    log.append(f"  ({time.perf_counter() - started:.0f} s) {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}")
    return done.stdout


def scores(log: list[str], gold: Path, pred: Path) -> dict:
    result = json.loads(run(log, "evaluate", "--gold", str(gold), "--pred", str(pred), "--bootstrap", "0", "--json"))
    return {key: result[key] for key in ("entity_f1", "relation_f1")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--span-model", type=Path, help="A span model trained on --synthetic (default: train one).")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--synthetic", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--work", type=Path, default=Path("out/review-loop"))
    parser.add_argument("--out", type=Path, default=Path("eval/results") / f"review_loop_{date.today().isoformat()}.md")
    args = parser.parse_args()
    work, log = args.work, []
    work.mkdir(parents=True, exist_ok=True)
    synthetic = work / "synthetic.json"
    run(log, "synth", "-n", str(args.synthetic), "--seed", "0", "-o", str(synthetic))
    model_a = args.span_model
    if model_a is None:
        model_a = work / "span-synthetic"
        run(log, "train-span", "--train", str(synthetic), "-o", str(model_a), "--epochs", str(args.epochs))
    pred = work / "span-synthetic.json"
    run(log, "extract", str(sample_gold_path()), "--type", "span", "--model", str(model_a), "-o", str(pred))
    folder = work / "review"
    run(log, "review", "export", str(pred), "-o", str(folder), "--to", "brat", "-n", str(args.n))
    manifest = json.loads((folder / "review.json").read_text())
    gold = {doc.id: doc for doc in read_radgraph(sample_gold_path())}
    for entry in manifest["reports"]:  # the reviewer's corrections: the gold graph of each picked report
        (folder / f"{entry['file']}.ann").write_text(to_brat(gold[entry["id"]])[1], encoding="utf-8")
    reviewed = work / "reviewed.json"
    run(log, "review", "import", str(folder), "-o", str(reviewed))
    changed = scores(log, reviewed, pred)  # the system's graphs against the reviewed ones
    run(log, "agreement", str(reviewed), str(pred))
    combined = work / "synthetic+reviewed.json"
    write_radgraph([*read_radgraph(synthetic), *read_radgraph(reviewed)], combined)
    model_b = work / "span-synthetic+reviewed"
    run(log, "train-span", "--train", str(combined), "-o", str(model_b), "--epochs", str(args.epochs))
    picked = {entry["id"] for entry in manifest["reports"]}
    held_out = work / "held-out.json"
    write_radgraph([doc for doc in gold.values() if doc.id not in picked], held_out)
    experiment = work / "review-loop.yaml"  # both span models on the held-out reports, with the paired test
    experiment.write_text(yaml.safe_dump({
        "name": "review-loop", "gold": [{"name": "held-out", "path": str(held_out.resolve())}],
        "bootstrap": {"samples": 1000, "seed": 0},
        "systems": [{"name": "span-synthetic", "type": "span", "model": str(model_a.resolve())},
                    {"name": "span-synthetic+reviewed", "type": "span", "model": str(model_b.resolve())}]}))
    compared = work / "compare"
    run(log, "compare", str(experiment), "-o", str(compared))
    results = pd.read_csv(compared / "results.csv")
    results = results[results.group == "all"].set_index(["system", "metric"])
    test = pd.read_csv(compared / "significance.csv").set_index("metric")

    def cell(system: str, metric: str) -> str:
        row = results.loc[(system, metric)]
        return f"{row.value:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"

    before = {metric: cell("span-synthetic", metric) for metric in ("entity_f1", "relation_f1")}
    after = {metric: cell("span-synthetic+reviewed", metric) for metric in ("entity_f1", "relation_f1")}
    p_values = {metric: float(test.loc[metric, "p_value"]) for metric in ("entity_f1", "relation_f1")}
    lines = [f"# Review loop, {date.today().isoformat()} ({platform.machine()}, {platform.processor() or 'cpu'})", "",
             f"Span baseline on {args.synthetic} synthetic reports; {args.n} of the sample gold's {len(gold)} reports "
             "reviewed (the gold standing in for the reviewer); scored on the other "
             f"{len(gold) - len(picked)}.", "",
             "| | entity F1 [95% CI] | relation F1 [95% CI] |", "|---|---|---|",
             f"| system's graphs vs the reviewed ones (the {args.n} reviewed reports) | {changed['entity_f1']:.3f} | "
             f"{changed['relation_f1']:.3f} |",
             f"| held out: trained on synthetic reports | {before['entity_f1']} | {before['relation_f1']} |",
             f"| held out: synthetic + {args.n} reviewed | {after['entity_f1']} | {after['relation_f1']} |",
             f"| paired bootstrap p (llmgraph compare) | {p_values['entity_f1']:.3f} | {p_values['relation_f1']:.3f} |",
             "", "Why each report was picked:", "",
             *[f"- {entry['id']}: {entry['why']}" for entry in manifest["reports"]], "", "Commands:", "", "```",
             *log, "```", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
