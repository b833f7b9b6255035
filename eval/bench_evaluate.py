"""Scale benchmark of scoring: `llmgraph evaluate` and `llmgraph convert` on 50,000 reports vs 5,000.

    python eval/bench_evaluate.py [--small 5000] [--large 50000] [--tree DIR] [--out eval/results]

Gold files are synthetic reports with their exact graphs (`llmgraph.io.synth`); prediction files
are the gold perturbed (entities dropped, relabelled or added, relations dropped) and written as
`llmgraph extract` writes them, with `source_text` and `token_offsets`, so both files are as
large as real ones (about 4 KB per report). Each command is the one a user types, in its own
process, all side by side in one run:

- `llmgraph evaluate --gold G --pred P --json` (1,000 bootstrap samples, the default),
- the same with `--bootstrap 0`,
- `llmgraph convert G -o G.jsonl`.

Wall seconds and peak RSS (the process's own high-water mark, ``ru_maxrss``) per command; the
5,000-report result must equal the in-memory `scoring.evaluate` of the same files, key for key
and float for float. Writes `bench_evaluate_DATE.csv` and `.json` (machine, date, load) and exits
1 when a target is missed: every command on the large files within 30 s, and peak RSS at most
1.2x from the small files to the large ones. `--tree DIR` runs the llmgraph of another source
tree (on PYTHONPATH), e.g. a worktree with a change not installed yet.
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
from measure import measure_llmgraph

from llmgraph.core.document import Document, Entity
from llmgraph.core.labels import RADGRAPH_LABELS
from llmgraph.evaluation.scoring import evaluate
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.synth import synth_documents

SECONDS_TARGET = 30.0
RSS_TARGET = 1.2


def predicted(doc: Document, rng: random.Random) -> Document:
    """A prediction near ``doc``, as `llmgraph extract` writes one: a tenth of the entities dropped,
    a tenth relabelled, up to two spurious one-token entities, relations between kept entities
    mostly kept; the report's text, source text and offsets unchanged, no data source."""
    entities = []
    for entity in doc.entities:
        draw = rng.random()
        if draw < 0.1:
            continue
        entities.append(replace(entity, label=rng.choice(RADGRAPH_LABELS)) if draw < 0.2 else entity)
    tokens = doc.tokens
    for number in range(rng.randint(0, 2)):
        index = rng.randrange(len(tokens))
        entities.append(Entity(f"p{number}", tokens[index], rng.choice(RADGRAPH_LABELS), index, index))
    kept = {entity.id for entity in entities}
    relations = [r for r in doc.relations if r.source in kept and r.target in kept and rng.random() < 0.85]
    return replace(doc, entities=entities, relations=relations, data_source=None, data_split=None)


def write_files(count: int, folder: Path) -> tuple[Path, Path]:
    """Gold and prediction files of ``count`` synthetic reports (the same reports at every size)."""
    gold, pred = folder / f"gold_{count}.json", folder / f"pred_{count}.json"
    write_radgraph(synth_documents(count, seed=7), gold)
    write_radgraph((predicted(doc, random.Random(index)) for index, doc in enumerate(synth_documents(count, seed=7))),
                   pred)
    return gold, pred


def measure(command: list[str], tree: Path | None) -> dict:
    return measure_llmgraph(command, "bench_evaluate", tree, cwd=tempfile.gettempdir())


def commands(gold: Path, pred: Path) -> dict[str, list[str]]:
    evaluate_command = ["evaluate", "--gold", str(gold), "--pred", str(pred), "--json"]
    return {"evaluate": evaluate_command, "evaluate --bootstrap 0": [*evaluate_command, "--bootstrap", "0"],
            "convert": ["convert", str(gold), "-o", str(gold.with_suffix(".out.jsonl"))]}


def check_numbers(gold: Path, pred: Path, printed: str) -> None:
    """The command's JSON equals the in-memory evaluation of the same files, float for float."""
    expected = json.loads(json.dumps(evaluate(read_radgraph(gold), read_radgraph(pred))))
    if json.loads(printed) != expected:
        sys.exit(f"bench_evaluate: llmgraph evaluate on {gold.name} differs from scoring.evaluate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=5000)
    parser.add_argument("--large", type=int, default=50000)
    parser.add_argument("--tree", type=Path, help="Run the llmgraph of this source tree.")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = {count: write_files(count, Path(folder)) for count in (args.small, args.large)}
        for count, (gold, pred) in files.items():
            for name, command in commands(gold, pred).items():
                load = os.getloadavg()[0]
                run = measure(command, args.tree)
                if name == "evaluate" and count == args.small:
                    check_numbers(gold, pred, run["stdout"])
                rows.append({"command": name, "reports": count, "gold MB": gold.stat().st_size / 1e6,
                             "pred MB": pred.stat().st_size / 1e6, "seconds": run["seconds"],
                             "peak RSS MB": run["peak_rss_kib"] / 1024, "load before": load})
    table = pd.DataFrame(rows).assign(machine=f"{platform.machine()} {os.cpu_count()} cores", date=date.today().isoformat())
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    summary, missed = {}, []
    for name, runs in table.groupby("command", sort=False):
        small, large = runs.set_index("reports").loc[args.small], runs.set_index("reports").loc[args.large]
        ratio = large["peak RSS MB"] / small["peak RSS MB"]
        summary[name] = {"seconds": large["seconds"], "seconds_small": small["seconds"], "rss_ratio": ratio,
                         "peak_rss_mb": large["peak RSS MB"], "peak_rss_mb_small": small["peak RSS MB"],
                         "time_ratio": large["seconds"] / small["seconds"]}
        print(f"{name}: {args.large:,} reports in {large['seconds']:.1f} s (target <= {SECONDS_TARGET:.0f} s), "
              f"{large['seconds'] / small['seconds']:.1f}x the time of {args.small:,}; "
              f"peak RSS {ratio:.3f}x (target <= {RSS_TARGET}x)")
        if large["seconds"] > SECONDS_TARGET:
            missed.append(f"{name} took {large['seconds']:.1f} s on {args.large:,} reports (target <= {SECONDS_TARGET:.0f} s)")
        if ratio > RSS_TARGET:
            missed.append(f"{name}: peak RSS grows {ratio:.2f}x from {args.small:,} to {args.large:,} reports "
                          f"(target <= {RSS_TARGET}x)")
    stem = args.out / f"bench_evaluate_{date.today().isoformat()}"
    table.to_csv(stem.with_suffix(".csv"), index=False)
    stem.with_suffix(".json").write_text(json.dumps(
        {"machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_version()}",
         "date": date.today().isoformat(), "small": args.small, "large": args.large,
         "targets": {"seconds": SECONDS_TARGET, "rss_ratio": RSS_TARGET}, "commands": summary, "missed": missed},
        indent=2) + "\n")
    if missed:
        sys.exit("bench_evaluate: " + "; ".join(missed))


if __name__ == "__main__":
    main()
