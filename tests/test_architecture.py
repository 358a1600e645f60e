"""The layout holds: imports run one way (no cycle), `gpu/` never imports `optimizer/`,
Pyomo stays inside `mip/`, modules stay small, and the README's Python example runs as
written."""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"wattfolio": ROOT / "optimizer", "wattfolio.gpu": ROOT / "gpu"}
# the layers of DESIGN.md, top to bottom: a module may import its own layer's siblings
# only where no cycle results, and any layer below it
LAYERS = ["cli", ("run", "analysis", "report", "api"), "mip", "planning", "instance"]
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if pkg == "wattfolio" and parts[:1] == ["gpu"]:
                continue
            out[".".join([pkg, *parts])] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, level: int, target: str | None) -> str:
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    if level:
        base = base[:len(base) - (level - 1)]
        return ".".join(base + ([target] if target else []))
    return target or ""


def _imports(name: str) -> set[str]:
    """Every module of ours that `name` imports, at top level or inside a function."""
    tree = ast.parse(MODULES[name].read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = _resolve(name, node.level, node.module)
            for alias in node.names:
                full = f"{mod}.{alias.name}"
                out.add(full if full in MODULES else mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in MODULES and m != name}


def _external(name: str) -> set[str]:
    tree = ast.parse(MODULES[name].read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_gpu_never_imports_the_planner():
    for m, deps in GRAPH.items():
        if m.startswith("wattfolio.gpu"):
            bad = [d for d in deps if not d.startswith("wattfolio.gpu")]
            assert not bad, f"{m} imports {bad}"
            assert not {"optimizer", "wattfolio", "pyomo"} & _external(m), m


def test_pyomo_only_in_the_mip_layer():
    for m in MODULES:
        if "pyomo" in _external(m):
            assert m.startswith("wattfolio.mip"), f"{m} imports pyomo"


def _layer(m: str) -> int | None:
    parts = m.split(".")
    if len(parts) < 2 or parts[1] == "gpu":
        return None
    for i, layer in enumerate(LAYERS):
        if parts[1] in (layer if isinstance(layer, tuple) else (layer,)):
            return i
    return None


def test_layers_import_downward():
    for m, deps in GRAPH.items():
        lm = _layer(m)
        if lm is None:
            continue
        for d in deps:
            ld = _layer(d)
            assert ld is None or ld >= lm, f"{m} (layer {LAYERS[lm]}) imports {d} (layer {LAYERS[ld]})"


def test_modules_stay_small():
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_readme_python_example_runs_as_written(monkeypatch):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"From Python:\s*```python\n(.*?)```", text, re.S)
    assert block, "README has no 'From Python:' example"
    code = block.group(1)
    assert "import wattfolio" in code
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102
    result = namespace["result"]
    assert len(result.samples) == 2000
    assert result.stats["cvar_usd"] <= result.stats["expected_npv_usd"]
