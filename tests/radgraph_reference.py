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
