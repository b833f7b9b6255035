"""One command in its own process, measured: its peak RSS and wall seconds (shared by the benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Runs the command and prints its peak RSS (KiB on Linux), wall seconds, stdout and stderr's tail as JSON.
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.exit(done.stderr[-2000:])
print(json.dumps({"peak_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "seconds": time.perf_counter() - started, "stdout": done.stdout, "stderr": done.stderr[-400:]}))
"""


def measure_llmgraph(args: list[str], bench: str, tree: Path | None = None, cwd: str | None = None) -> dict:
    """``llmgraph ARGS`` in a fresh process: ``peak_rss_kib``, ``seconds``, ``stdout``, ``stderr``.
    ``tree``: run the llmgraph of that source tree (on PYTHONPATH). A failure ends the benchmark ``bench``."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    done = subprocess.run([sys.executable, "-c", _MEASURE, sys.executable, "-m", "llmgraph", *args],
                          capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode:
        sys.exit(f"{bench}: llmgraph {args[0]} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)
