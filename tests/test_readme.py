"""README's examples run as written: its Python session for real (the default backend and model),
and its `llmgraph merge` glob over real shard outputs (tests/test_hardening.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.slow
def test_the_python_session_runs_as_written(tmp_path):
    blocks = python_blocks()
    assert blocks, "README shows a Python session"
    (tmp_path / "eval" / "data").mkdir(parents=True)
    (tmp_path / "eval" / "data" / "sample_gold.json").write_bytes((ROOT / "eval/data/sample_gold.json").read_bytes())
    (tmp_path / "out").mkdir()
    script = tmp_path / "session.py"
    script.write_text('if __name__ == "__main__":\n' + "".join(f"    {line}\n" for block in blocks
                                                            for line in block.splitlines()))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env=os.environ | {"HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"entity F1 \d\.\d{3}, relation F1 \d\.\d{3}", done.stdout)
    assert (tmp_path / "out" / "api-example.html").stat().st_size > 1000
