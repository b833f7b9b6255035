"""Writing a model folder atomically, for every trainer (``train-llm``, ``train-span``).

A training writes its folder under a hidden name beside the output (``.NAME.partial.XXXX``) and renames
it into place only once it is complete, replacing an old folder only then: an interrupted training
never leaves anything that looks like a model, nor a half-overwritten one. Unfinished folders that
earlier trainings into the same output left (kill -9, a lost node) are removed after a success.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def stderr_log(message: str) -> None:
    """The log of a training that was given none: a line on stderr."""
    print(f"llmgraph: {message}", file=sys.stderr)


@contextmanager
def published_folder(out_dir: Path, log: Callable[[str], None] = stderr_log) -> Iterator[Path]:
    """A new, empty staging folder to write the model folder into. When the block ends, the staging folder
    becomes ``out_dir`` (an old ``out_dir`` is replaced only then), and unfinished folders of earlier
    trainings into ``out_dir`` are removed, said through ``log``; when the block raises anything
    (an error, Ctrl-C, SIGTERM as ``SystemExit``), the staging folder is removed and ``out_dir`` is left
    as it was."""
    target = Path(os.path.abspath(out_dir))  # "." and ".." have a name and a parent to stage beside
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial."))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the model folder is a normal one
        yield staging
        _publish(staging, target)
        _remove_unfinished(target, Path(out_dir), log)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _publish(staging: Path, out_dir: Path) -> None:
    """Rename the finished folder into place, replacing an old one only now."""
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old."))
        out_dir.rename(old / out_dir.name)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(out_dir)


def _remove_unfinished(target: Path, out_dir: Path, log: Callable[[str], None]) -> None:
    """Remove the staging folders that trainings into ``target`` (``out_dir`` as given) which were killed
    left behind."""
    stale = sorted(target.parent.glob(f".{target.name}.partial.*"))
    if stale:
        log(f"removing {len(stale)} unfinished folder(s) of earlier trainings into {out_dir}: "
            f"{', '.join(path.name for path in stale)}")
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)


def _umask() -> int:
    """The process's file-mode creation mask (reading it means setting it: it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
