"""The package's shape (README, Architecture): folders by axis, imports only downward, no import cycle."""

import subprocess
import sys
from pathlib import Path

import grimp

import llmgraph
from llmgraph.core.registry import Registry
from llmgraph.systems.base import SystemKind
from llmgraph.systems.kinds import SYSTEM_KINDS, runnable_kinds, system_kind

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(llmgraph.__file__).parent
FOLDERS = {"core", "io", "evaluation", "extraction", "training", "systems", "runs", "harness", "viz", "review", "cli"}


def test_the_layers_contract_holds():
    """``lint-imports`` (pyproject.toml's contracts: the layers, and no cycle in any folder) passes."""
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "2 kept, 0 broken" in done.stdout


def test_no_module_imports_itself_back():
    """No cycle among the package's modules, function-local imports included (grimp reads every import
    statement, wherever it stands)."""
    graph = grimp.build_graph("llmgraph")
    assert graph.direct_import_exists(importer="llmgraph.systems.provision", imported="llmgraph.training.span.train")
    modules = set(graph.modules)
    edges = {module: set(graph.find_modules_directly_imported_by(module)) & modules for module in modules}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(edges[module]):
            assert state.get(imported) != 1, " -> ".join(path[path.index(imported):] + [module, imported])
            if imported not in state:
                visit(imported, path + [module])
        state[module] = 2

    for module in sorted(modules):
        if module not in state:
            visit(module, [])


def test_the_package_root_holds_only_its_entry_points_and_the_folders():
    files = {item.name for item in PACKAGE.iterdir() if item.is_file()}
    folders = {item.name for item in PACKAGE.iterdir() if item.is_dir() and item.name != "__pycache__"}
    assert files <= {"__init__.py", "__main__.py", "py.typed"}
    assert folders == FOLDERS


def test_every_kind_of_system_is_a_registered_system_kind():
    """A kind is one module and one registry line; the registry checks what it loads."""
    for name in SYSTEM_KINDS:
        kind = system_kind(name)
        assert isinstance(kind, SystemKind) and kind.name == name and kind.config.type == name
    assert runnable_kinds() == ["llm", "span", "radgraph"]
    wrong = Registry("system type", {"bad": "llmgraph.core.registry:Registry"}, SystemKind)
    try:
        wrong.load("bad")
    except TypeError as error:
        assert "is not a SystemKind" in str(error)
    else:
        raise AssertionError("a registry entry of the wrong type was loaded")


def test_the_public_api_resolves():
    for name in llmgraph.__all__:
        assert getattr(llmgraph, name) is not None, name
