"""What each system of a comparison did, from its manifests: a markdown table per gold set.

    python eval/manifest_counts.py OUTDIR

For every ``OUTDIR/systems/SYSTEM/SET.manifest.json`` of an ``llmgraph compare`` output folder: reports that
failed (an answer that did not parse, was cut off, or a chunk that failed), the entities generated, kept and
dropped (ungrounded, repeated), relations kept and dropped, generated tokens and reports/s. With a grammar
ablation these are the columns beside F1 in results.md: what each constraint let through.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

COLUMNS = {"reports": "reports", "reports_failed": "failed", "entities_generated": "entities generated",
           "entities_kept": "kept", "entities_dropped_ungrounded": "dropped ungrounded",
           "entities_dropped_duplicate": "dropped repeated", "relations_kept": "relations kept",
           "relations_dropped": "relations dropped", "completion_tokens": "generated tokens"}


def rows(out_dir: Path) -> pd.DataFrame:
    found = []
    for manifest_file in sorted((out_dir / "systems").glob("*/*.manifest.json")):
        manifest = json.loads(manifest_file.read_text())
        counts = manifest.get("counts", {})
        failed = manifest.get("errors", {})
        reasons = sorted({reason.split(":")[0].split(" (")[0] for reason in failed.values()})
        found.append({"system": manifest.get("system", manifest_file.parent.name),
                      "gold_set": manifest.get("gold_set", manifest_file.name.split(".")[0]),
                      **{title: counts.get(key, 0) for key, title in COLUMNS.items()},
                      "reports/s": round(manifest["reports_per_second"], 3) if manifest.get("reports_per_second")
                      else None,
                      "why failed": "; ".join(reasons)})
    return pd.DataFrame(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    frame = rows(parser.parse_args().out_dir)
    for gold_set, part in frame.groupby("gold_set", sort=False):
        print(f"### Gold set `{gold_set}`\n")
        print(part.drop(columns="gold_set").to_markdown(index=False) + "\n")


if __name__ == "__main__":
    main()
