"""The package's shape: three layers imported one way, no import cycle, short modules, one diagnostics vocabulary."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import odeflow as of

PACKAGE = Path(of.__file__).parent
#: Public alias modules (they only point into studies/ and app/).
ALIASES = {"odeflow.theory", "odeflow.convergence", "odeflow.metrics", "odeflow.persistence", "odeflow.approximation",
           "odeflow.sweep",
           "odeflow.plotting", "odeflow.cli"}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, path.name == "__init__.py"


MODULES = {name: (path, is_pkg) for name, path, is_pkg in _modules()}


def _resolve(module, is_pkg, node):
    """Modules named by an import statement (a name imported from a package's __init__ counts as the
    package itself; a name that is a submodule counts as the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module if is_pkg else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    if node.level == 0:
        base = node.module or ""
    elif node.module:
        base = f"{base}.{node.module}"
    out = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out.append(sub if sub in MODULES else base)
    return out


def _imports(name, top_level_only):
    path, is_pkg = MODULES[name]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(m for m in _resolve(name, is_pkg, node) if m.startswith("odeflow"))
    return found


def _layer(name):
    if name.startswith("odeflow.app") or name in {"odeflow.sweep", "odeflow.plotting", "odeflow.cli", "odeflow.__main__"}:
        return 2
    if name.startswith("odeflow.studies") or name in {"odeflow.theory", "odeflow.convergence", "odeflow.metrics",
                                                      "odeflow.persistence", "odeflow.approximation"}:
        return 1
    return 0


def test_layers_import_one_way():
    bad = []
    for name in MODULES:
        if name == "odeflow":  # the package face loads the upper layers lazily, by name
            continue
        for target in _imports(name, top_level_only=False):
            if target in MODULES and _layer(target) > _layer(name):
                bad.append(f"{name} -> {target}")
    assert not bad, "imports against the layering (engine <- studies <- app): " + ", ".join(bad)


def test_no_import_cycle():
    graph = {name: {t for t in _imports(name, top_level_only=True) if t in MODULES and t != name} for name in MODULES}
    state, stack, cycles = {}, [], []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in graph[u]:
            if state.get(v) == 1:
                cycles.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = 2

    for name in graph:
        if name not in state:
            visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_detector_finds_a_cycle_through_a_package_init():
    """The check above can fail: a submodule taking a name from its package's __init__ counts."""
    node = ast.parse("from . import PotentialSolver").body[0]
    assert _resolve("odeflow.potentials.exact", False, node) == ["odeflow.potentials"]
    assert "odeflow.potentials.exact" in _imports("odeflow.potentials", top_level_only=True)


def test_modules_are_short_and_long_functions_say_why():
    long_modules, long_functions = [], []
    for name, (path, _) in MODULES.items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{name} ({len(text.splitlines())} lines)")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node) or ""
            first = node.body[1] if doc and len(node.body) > 1 else node.body[0]
            code_lines = node.end_lineno - first.lineno + 1
            if code_lines > MAX_FUNCTION_LINES and "Long because" not in doc:
                long_functions.append(f"{name}.{node.name} ({code_lines} lines)")
    assert not long_modules, long_modules
    assert not long_functions, f"functions over {MAX_FUNCTION_LINES} lines without 'Long because' in the docstring: " \
                               f"{long_functions}"


def test_public_paths_are_attributes_and_the_same_modules():
    import odeflow.convergence
    import odeflow.studies.convergence
    import odeflow.studies.theory
    import odeflow.theory

    assert odeflow.theory is odeflow.studies.theory and odeflow.convergence is odeflow.studies.convergence
    for name in ("theory", "convergence", "metrics", "persistence", "datasets", "sweep", "plotting"):
        assert hasattr(of, name), name
    assert callable(of.sweep.run_sweep) and callable(of.plotting.animate) and callable(of.load)


def test_import_odeflow_loads_neither_studies_nor_matplotlib():
    code = ("import sys, odeflow; print(sorted(m for m in sys.modules if m.startswith(('odeflow.studies', "
            "'odeflow.app', 'matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_method_speaks_the_same_diagnostics():
    """The same optimal solve says the same status word, an int iteration count and the common keys."""
    x = np.array([[0.2, 0.3], [0.7, 0.6]])
    results = [
        of.kantorovich(x, [[0.25, 0.5], [0.75, 0.5]], method="exact"),
        of.kantorovich(x[:, :1], [[0.25], [0.75]], method="onedim"),
        of.kantorovich(x, of.UniformBox([0, 0], [1, 1]), method="semidiscrete"),
    ]
    for pot in results:
        info = pot.info
        assert set(of.potentials.COMMON_KEYS) <= set(info), pot.info["method"]
        assert info["status"] == "optimal" and info["success"] is True and pot.success
        assert type(info["iterations"]) is int and isinstance(info["seconds"], float)
        assert info["warm"] == "cold"
        with pytest.raises((TypeError, AttributeError)):
            info["status"] = "changed"  # results are not mutated after construction


def test_solve_info_refuses_unknown_status_and_missing_keys():
    with pytest.raises(ValueError, match="status"):
        of.SolveInfo(method="m", path="p", status="fine", message="", iterations=0, seconds=0.0, warm="cold",
                     support_size=1)
    with pytest.raises(ValueError, match="missing"):
        of.SolveInfo(method="m", status="optimal")
    with pytest.raises(TypeError, match="iterations"):
        of.SolveInfo(method="m", path="p", status="optimal", message="", iterations=None, seconds=0.0,
                     warm="cold", support_size=1)


def test_a_failed_solve_raises_one_exception_type_where_a_number_is_promised():
    box = of.UniformBox([0, 0], [1, 1])
    pot = of.kantorovich(np.random.default_rng(0).random((50, 2)), box, method="semidiscrete", max_iter=1)
    assert not pot.success and pot.info["status"] != "optimal"
    with pytest.raises(of.SolveError, match="stopped short"):
        pot.raise_for_status("test")
