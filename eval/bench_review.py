"""Does `review export --select lowest-score` pick the reports worth reviewing? Errors per picked report
against `--select random`, on graphs a system wrote for a gold set.

    python eval/bench_review.py --gold G --pred P [--pred P2 ...] [--share 0.25] [--draws 1000] [--out eval/results/NAME]

For each prediction file (a system's graphs with scores) the reports are picked as `review export` picks
them (``llmgraph.review.select``): ``share`` of the reports (at least one) by ``--select expected-errors``
(the default) and ``--select lowest-score``, and by ``draws`` seeded ``--select random`` draws of as many.
A report's errors are its false positives and negatives (the error taxonomy's count). Printed and
written: errors per picked report, the mean over the random draws, their ratio, the share of random
draws that found at least as many, and errors per 100 tokens read (what a reviewer's time finds: the
expected-errors picks are longer reports). Exits 1 when a selection finds less than TARGET times the
random draws' errors per report on any file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from bench_confidence import paired_errors

from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.review.select import Selection, select

TARGET = 1.5
SCORED_SELECTIONS = ("expected-errors", "lowest-score")  # the default of review export first


def report_errors_and_tokens(gold_path: Path, pred_path: Path) -> tuple[dict[str, int], dict[str, int], list]:
    """Each report's errors (false positives and negatives) and tokens, and the predicted documents."""
    gold = read_radgraph(gold_path)
    pairs, errors = paired_errors(gold, read_radgraph(pred_path))
    return errors, {g.id: len(g.tokens) for g in gold}, [p for _, p in pairs]


def rows_for(gold_path: Path, pred_path: Path, share: float, draws: int) -> list[dict]:
    errors, tokens, docs = report_errors_and_tokens(gold_path, pred_path)
    count = max(1, round(share * len(docs)))

    def found(picks: list) -> tuple[float, float]:  # errors per report, errors per 100 tokens read
        ids = [pick.id for pick in picks]
        return (float(np.mean([errors[i] for i in ids])), 100 * sum(errors[i] for i in ids) / sum(tokens[i] for i in ids))

    randoms = np.array([found(select(docs, Selection("random", count, seed=seed))) for seed in range(draws)])
    rows = []
    for how in SCORED_SELECTIONS:
        per_report, per_token = found(select(docs, Selection(how, count)))
        rows.append({"gold": gold_path.name, "predictions": str(pred_path), "reports": len(docs), "picked": count,
                     "select": how, "errors_per_picked_report": per_report,
                     "random_errors_per_report": float(randoms[:, 0].mean()),
                     "ratio": per_report / randoms[:, 0].mean() if randoms[:, 0].mean() else None,
                     "random_draws_as_good": float(np.mean(randoms[:, 0] >= per_report)),
                     "errors_per_100_tokens": per_token, "random_errors_per_100_tokens": float(randoms[:, 1].mean())})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, required=True, action="append")
    parser.add_argument("--pred", type=Path, required=True, action="append", help="One per --gold, in order.")
    parser.add_argument("--share", type=float, default=0.25)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("eval/results") / f"bench_review_{date.today().isoformat()}")
    args = parser.parse_args()
    if len(args.gold) != len(args.pred):
        sys.exit("bench_review: give one --pred per --gold")
    rows = [row for gold, pred in zip(args.gold, args.pred) for row in rows_for(gold, pred, args.share, args.draws)]
    frame = pd.DataFrame(rows)
    print(frame.drop(columns=["predictions"]).to_markdown(index=False, floatfmt=".3f"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"date": date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cores",
         "share": args.share, "draws": args.draws, "target": TARGET, "rows": rows}, indent=2) + "\n")
    missed = frame[frame.ratio < TARGET]
    if len(missed):
        sys.exit("bench_review: " + "; ".join(f"--select {row.select} finds {row.ratio:.2f}x the errors per report of "
                                              f"random draws on {row.predictions} (target {TARGET}x)"
                                              for row in missed.itertuples()))


if __name__ == "__main__":
    main()
