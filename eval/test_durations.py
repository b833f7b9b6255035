"""The test suite's time, grouped by what each test waits on: ``python eval/test_durations.py junit.xml``.

Run the suite with ``--junitxml=junit.xml`` (``make test`` passes ``PYTEST_ARGS``); this prints the total,
the slowest tests and the seconds per kind of wait (a test counts once, under what dominates it: see
``WAITS``). Recorded runs are in ``eval/results/test_durations_*.txt``.
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from collections import defaultdict

# What a test mostly waits on, by a pattern of its id (first match wins); everything else is "real work"
# (reading, scoring, checking in this process).
WAITS = [
    ("server start (vllm serve)", r"test_vllm(_server)?\.py::test_(openai|a_server|requests_spread|server_not)"),
    ("engine start (vLLM offline engine)", r"test_vllm\.py|lora_adapter_runs_in_vllm|vllm_engine_runs_in_a_ray|test_readme"),
    ("model training", r"test_finetune\.py::test_a_tiny_real|test_span\.py|training|train_span|sigterm"),
    ("Ray start-up", r"test_ray\.py"),
    ("model generations (transformers, in this process)", r"test_extract\.py|test_compare\.py|chunked_loss"),
    ("subprocess start-up (CLI in a real process)", r"test_resume\.py|ctrl_c|test_batch_files|test_metrics\.py"
                                                    r"|test_reports\.py::.*cli|test_experiment\.py::test_compare"),
]


def wait_of(test_id: str) -> str:
    return next((name for name, pattern in WAITS if re.search(pattern, test_id)), "real work (in this process)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit", help="pytest --junitxml file")
    parser.add_argument("--slowest", type=int, default=40)
    args = parser.parse_args()
    tests = []
    for case in ET.parse(args.junit).getroot().iter("testcase"):
        test_id = f"{case.get('classname').replace('.', '/')}.py::{case.get('name')}"
        tests.append((float(case.get("time") or 0), test_id))
    tests.sort(reverse=True)
    total = sum(seconds for seconds, _ in tests)
    print(f"{len(tests)} tests, {total:.0f} s of test time (setup + call + teardown, summed over workers)\n")
    print(f"slowest {args.slowest}:")
    for seconds, test_id in tests[:args.slowest]:
        print(f"{seconds:8.1f} s  {test_id}  [{wait_of(test_id)}]")
    groups: dict[str, list[float]] = defaultdict(list)
    for seconds, test_id in tests:
        groups[wait_of(test_id)].append(seconds)
    print("\nby what the test waits on:")
    for name, times in sorted(groups.items(), key=lambda item: -sum(item[1])):
        print(f"{sum(times):8.1f} s  {100 * sum(times) / total:5.1f}%  {len(times):4d} tests  {name}")


if __name__ == "__main__":
    main()
