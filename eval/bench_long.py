"""Benchmark of chunked extraction: chunks (the default) against whole reports, side by side in one run.

    python eval/bench_long.py [--model DIR]... [--out eval/results]

For each model (the embedded one under the few-shot prompt, and every ``--model`` folder, e.g. one written
by ``train-llm``, under its own prompt), ``llmgraph extract`` runs in its own process on the vLLM engine,
per-report grammar, default settings, twice per gold set: with the default ``--chunk-words`` and with
``--chunk-words 0``. On the short sample set (eval/data/sample_gold.json) it checks that chunking costs no
quality (entity and relation F1 of the chunked run not below the whole-report run's 95% bootstrap interval)
and no speed (reports/s at least 0.9x); on the long set (eval/data/long_gold.json) that every report
completes in chunks, and it counts the whole-report answers that were cut off. Writes
eval/results/bench_long_DATE.{json,csv}; exits 1 when a target is missed (after writing).
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

from llmgraph.evaluation.scoring import evaluate_files  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
SETS = {"sample": DATA / "sample_gold.json", "long": DATA / "long_gold.json"}
BENCH = "bench_long"
TARGETS = {"short_reports_per_second_ratio": 0.9, "long_reports_completed_chunked": 1.0}


def _extract(gold: Path, model: str | None, chunked: bool, work: Path, name: str, tree: Path | None) -> dict:
    output = work / f"{name}.json"
    args = ["extract", str(gold), "-o", str(output), "--backend", "vllm", "-q", "--restart"]
    args += ["--model", model] if model else []
    args += [] if chunked else ["--chunk-words", "0"]
    run = measure_llmgraph(args, BENCH, tree)
    manifest = json.loads(output.with_name(output.name + ".manifest.json").read_text())
    scores = evaluate_files(gold, output, samples=1000)
    counts, errors = manifest["counts"], manifest["errors"]
    return {"entity_f1": scores["entity_f1"], "entity_f1_ci": scores["ci"]["entity_f1"],
            "relation_f1": scores["relation_f1"], "relation_f1_ci": scores["ci"]["relation_f1"],
            "reports": counts["reports"], "reports_ok": counts["reports_ok"],
            "reports_cut": sum("cut off" in error for error in errors.values()),
            "chunk_words": manifest["chunk_words"], "chunks": counts.get("chunks", 0),
            "retries_for_length": counts["retries_for_length"],
            "completion_tokens_per_report": counts["completion_tokens"] / max(1, counts["reports"]),
            "reports_per_second": manifest["reports_per_second"], "wall_seconds": run["seconds"]}


def _checks(rows: list[dict]) -> dict[str, object]:
    """The targets, per model: what missed (key -> value). Chunking costs no quality when the chunked run's
    F1 is not below the whole-report run's 95% interval (above it is better, and is recorded as such)."""
    missed: dict[str, object] = {}
    for label in dict.fromkeys(row["model"] for row in rows):
        by = {(row["gold"], row["mode"]): row for row in rows if row["model"] == label}
        chunked_short, whole_short = by["sample", "chunked"], by["sample", "whole"]
        ratio = chunked_short["reports_per_second"] / whole_short["reports_per_second"]
        long_chunked = by["long", "chunked"]
        completed = long_chunked["reports_ok"] / long_chunked["reports"]
        checks = [("short_reports_per_second_ratio", ratio, ratio >= 0.9),
                  ("long_reports_completed_chunked", completed, completed == 1.0)]
        for metric in ("entity_f1", "relation_f1"):
            low, high = whole_short[f"{metric}_ci"]
            value = chunked_short[metric]
            where = "below" if value < low else "above" if value > high else "inside"
            checks.append((f"short_{metric}_against_whole_ci", where, where != "below"))
        for key, value, ok in checks:
            chunked_short[key] = value
            if not ok:
                missed[f"{label}: {key}"] = value
    return missed


def _record(rows: list[dict], out: Path, day: str, machine: str, platform_name: str) -> dict:
    missed = _checks(rows)
    record = {"date": day, "machine": machine, "platform": platform_name, "targets": TARGETS, "rows": rows,
              "missed": missed}
    table = pd.DataFrame(rows)
    columns = ["model", "gold", "mode", "entity_f1", "relation_f1", "reports", "reports_ok", "reports_cut", "chunks",
               "retries_for_length", "completion_tokens_per_report", "reports_per_second"]
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:,.3f}"))
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{BENCH}_{day}"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    table.assign(machine=machine, date=day).to_csv(stem.with_suffix(".csv"), index=False)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="Also run this model folder (repeatable).")
    parser.add_argument("--skip-embedded", action="store_true", help="Only the --model folders.")
    parser.add_argument("--work", type=Path, help="Keep the predictions here (default: a temp folder).")
    parser.add_argument("--tree", type=Path, help="Run the llmgraph of this source tree (default: the installed one).")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--recheck", type=Path, metavar="JSON",
                        help="Run nothing: derive the checks again from the rows of an earlier record, and rewrite it.")
    args = parser.parse_args()
    if args.recheck:
        earlier = json.loads(args.recheck.read_text())
        record = _record(earlier["rows"], args.recheck.parent, earlier["date"], earlier["machine"], earlier["platform"])
    else:
        work = args.work or Path(tempfile.mkdtemp(prefix=f"{BENCH}."))
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        for model in ([] if args.skip_embedded else [None]) + args.model:
            label = "embedded few-shot" if model is None else Path(model).name
            for gold_name, gold in SETS.items():
                for chunked in (True, False):
                    name = f"{label.replace(' ', '-')}.{gold_name}.{'chunked' if chunked else 'whole'}"
                    rows.append({"model": label, "gold": gold_name, "mode": "chunked" if chunked else "whole",
                                 **_extract(gold, model, chunked, work, name, args.tree)})
                    print(json.dumps(rows[-1]), flush=True)
        record = _record(rows, args.out, date.today().isoformat(), f"{platform.machine()} {os.cpu_count()} cores",
                         platform.platform())
    if record["missed"]:
        sys.exit(f"{BENCH}: missed {', '.join(f'{key} ({value})' for key, value in record['missed'].items())}")


if __name__ == "__main__":
    main()
