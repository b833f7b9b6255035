"""The real ``radgraph`` package's code, loaded without its heavy dependencies.

``import radgraph`` pulls in torch and the model stack; the metric and tokenizer functions
need neither. They are loaded here straight from the installed package's source files
(radgraph 0.1.18, installed with ``--no-deps`` as a test dependency).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType


def package_dir() -> Path:
    spec = importlib.util.find_spec("radgraph")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the radgraph package is not installed: pip install --no-deps radgraph==0.1.18")
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def rewards() -> ModuleType:
    """``radgraph/rewards.py`` as a module."""
    spec = importlib.util.spec_from_file_location("radgraph_rewards", package_dir() / "rewards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The radgraph repository's main branch since its PR #15 (commit b5ab8d0, "Fix case-sensitivity bug in
# simple, partial, and complete reward calculations"): its published diff, as (line before, line after,
# times), applied to the 0.1.18 source it was made on. Every entity's tokens are lower-cased.
MAIN_BRANCH_DIFF = (
    ('candidate.append((entity["tokens"], entity["label"]))',
     'candidate.append((entity["tokens"].lower(), entity["label"]))', 3),
    ('candidate.append((entity["tokens"], entity["label"], True))',
     'candidate.append((entity["tokens"].lower(), entity["label"], True))', 1),
)


@cache
def rewards_main() -> ModuleType:
    """``radgraph/rewards.py`` of the repository's main branch: the 0.1.18 file with PR #15's diff applied."""
    source = (package_dir() / "rewards.py").read_text()
    for before, after, times in MAIN_BRANCH_DIFF:
        assert source.count(before) == times, f"radgraph 0.1.18's rewards.py is not the file PR #15 changed: {before}"
        source = source.replace(before, after)
    module = ModuleType("radgraph_rewards_main")
    exec(compile(source, "radgraph/rewards.py (main branch)", "exec"), module.__dict__)
    return module


@cache
def xl_preprocess():
    """``radgraph.utils.radgraph_xl_preprocess_report``, extracted from its source."""
    tree = ast.parse((package_dir() / "utils.py").read_text())
    function = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == "radgraph_xl_preprocess_report")
    namespace: dict = {}
    exec("import re\nfrom nltk.tokenize import wordpunct_tokenize", namespace)
    exec(compile(ast.Module(body=[function], type_ignores=[]), "radgraph/utils.py", "exec"), namespace)
    return namespace["radgraph_xl_preprocess_report"]
