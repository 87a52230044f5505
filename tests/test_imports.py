"""The package's import structure: no cycles among rlcredit modules, and light entry points.

The graph is built from the source (every ``import`` statement, also those inside functions, except under
``if TYPE_CHECKING:``), so a cycle hidden by a function-local import is found too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import rlcredit

PACKAGE_DIR = Path(rlcredit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The rlcredit modules that ``module`` imports (the submodule for ``from pkg import submodule``, else the
    package whose ``__init__`` runs)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in modules and m != module}


def import_graph() -> dict[str, set[str]]:
    """Every rlcredit module -> the rlcredit modules it imports."""
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    modules = set(files)
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", modules)
        for name, path in files.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := dfs(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)) is not None:
            return cycle
    return None


def test_find_cycle_finds_a_hand_built_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_graph_sees_function_local_imports(tmp_path):
    tree = ast.parse("def f():\n    from rlcredit.b import x\nif TYPE_CHECKING:\n    import rlcredit.c\n")
    assert _imports(tree, "rlcredit.a", False, {"rlcredit.a", "rlcredit.b", "rlcredit.c"}) == {"rlcredit.b"}


def test_rlcredit_modules_import_no_cycle():
    graph = import_graph()
    assert "rlcredit.trainers.loop" in graph and "rlcredit.cli" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_nothing_below_the_cli_imports_it():
    graph = import_graph()
    importers = sorted(
        m
        for m, deps in graph.items()
        if not m.startswith("rlcredit.cli")
        and any(d == "rlcredit.cli" or d.startswith("rlcredit.cli.") for d in deps)
    )
    assert importers == []


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in ('torch', 'numba', 'wandb', 'matplotlib') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["envs"], ["train", "--help"], ["run", "--help"]],
    ids=["help", "envs", "train-help", "run-help"],
)
def test_cli_entry_points_import_no_heavy_dependency(argv):
    code = (
        "import contextlib, io\nfrom rlcredit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass"
    )
    assert _loaded_after(code) == []


def test_importing_credit_loads_no_search_planner():
    """Exact credit needs the exact solvers, not MCTS, the env-acting planners or POWER."""
    code = "import rlcredit.credit\nimport sys\n"
    code += "print([m for m in sys.modules if m.startswith('rlcredit.planning.')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(ast.literal_eval(out.strip()))
    assert loaded.isdisjoint(
        {"rlcredit.planning.mcts", "rlcredit.planning.planner", "rlcredit.planning.power"}
    )


def test_planning_names_stay_the_functions_after_their_modules_load():
    code = (
        "from rlcredit.planning.mcts import MCTSTree\nfrom rlcredit.planning.power import PowerResult\n"
        "import rlcredit.planning as p\nfrom rlcredit.planning import mcts, power\n"
        "print(callable(mcts) and callable(power) and p.mcts is mcts and not hasattr(mcts, '__path__'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_train_is_the_public_function_of_the_package():
    import rlcredit.trainers.loop
    from rlcredit import train

    assert train is rlcredit.train is rlcredit.trainers.loop.train
    assert callable(train) and train.__name__ == "train"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = rlcredit.nope  # type: ignore[attr-defined]
