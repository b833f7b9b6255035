"""Where a command may write, checked before any work starts: never over one of its inputs, with a
suffix that says what the file holds, into a folder that exists or can be made and is writable."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from llmgraph.core.defaults import RADGRAPH_SUFFIXES
from llmgraph.core.errors import InputError


def _same_file(first: Path, second: Path) -> bool:
    if first.resolve() == second.resolve():
        return True
    try:
        return first.exists() and second.exists() and os.path.samefile(first, second)
    except OSError:
        return False


def _nearest_existing(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def check_output(output: Path, inputs: Iterable[Path | None] = (), suffixes: tuple[str, ...] = RADGRAPH_SUFFIXES,
                 folder: bool = False) -> None:
    """Refuse an output that is one of ``inputs``, has another suffix than ``suffixes`` (a file
    output), is a folder where a file is written (or a file where a folder is), or lies where
    nothing can be written."""
    for source in inputs:
        if source is not None and _same_file(output, source):
            raise InputError(f"is also an input of this command ({source}): write the output elsewhere", output)
    if folder:
        if output.exists() and not output.is_dir():
            raise InputError("is a file, not a folder", output)
    else:
        if output.is_dir():
            raise InputError("is a folder: give a file name", output)
        if suffixes and output.suffix.lower() not in suffixes:
            raise InputError(f"unknown output type {output.suffix or '(none)'!r} (expected {' or '.join(suffixes)})",
                             output)
    ancestor = output if folder and output.is_dir() else _nearest_existing(output)
    if not ancestor.is_dir():
        raise InputError(f"cannot write here: {ancestor} is a file, not a folder", output)
    try:  # a probe, not os.access: root passes os.access on read-only file systems
        tempfile.TemporaryFile(dir=ancestor).close()
    except OSError as error:
        raise InputError(f"cannot write in {ancestor} ({error.strerror or error})", output) from None


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it: as written (a link placed there) or by the real paths
    (a link to there)."""
    written, root = Path(os.path.abspath(path)), Path(os.path.abspath(folder))
    return written.is_relative_to(root) or path.resolve().is_relative_to(folder.resolve()) or _same_file(path, folder)


def refuse_inputs_under(written: Iterable[Path], inputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse, before any work, an input (``(what, path)``) that is, or lies under, a path the command
    writes or may delete (a file or a folder): one line naming both."""
    written = list(written)
    for what, source in inputs:
        for target in written:
            if _inside(Path(source), target):
                raise InputError(f"{what} {source} lies where this command writes ({target}): move it, or "
                                 "write the output elsewhere", target)


def paths_in(value: Any) -> Iterator[Path]:
    """Every string in a (nested) settings value that names an existing file or folder."""
    if isinstance(value, dict):
        for item in value.values():
            yield from paths_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from paths_in(item)
    elif isinstance(value, (str, Path)) and str(value):
        try:
            if Path(value).expanduser().exists():
                yield Path(value).expanduser()
        except (OSError, ValueError):  # a model id or a name too long for a path
            return


def check_model_output(out_dir: Path, card: str, inputs: Iterable[tuple[str, Path | str | None]] = (),
                       force: bool | None = None) -> None:
    """Where a training writes its model folder (``card``: the record file every such folder has).

    Never a folder that holds one of the training's ``inputs`` (training data, prompt, base model,
    encoder): the model would be written over it, or ``--force`` would delete it. An existing folder
    is written over (``force`` None: ``train-span``) or replaced (``force`` True: ``train-llm --force``)
    only when it is empty or a model folder of that kind; ``force`` False refuses any existing folder."""
    out_dir = Path(out_dir)
    for what, source in inputs:
        if source is not None and _inside(Path(source).expanduser(), out_dir):
            where = f"is the {what}" if _same_file(Path(source).expanduser(), out_dir) else f"holds the {what} {source}"
            raise InputError(f"{where}: training would write over it; give another output folder", out_dir)
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError("the output exists and is not a folder", out_dir)
    if force is False:
        raise InputError("the output folder exists: give another one, or --force to replace it", out_dir)
    if not (out_dir / card).exists() and any(out_dir.iterdir()):
        action = "--force replaces" if force else "training writes into"
        raise InputError(f"is not a model folder (no {card}) and holds other files: {action} only an empty "
                         "folder or a model folder; give another one", out_dir)
