"""The layers of mc import one way only, and no module imports itself in
a cycle.  A layer may import its own modules and the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MC = Path(__file__).resolve().parent.parent / "mc"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("mc.project", "mc.atomic_write", "mc.text", "mc.text_files"),
    ("mc.engine",),
    ("mc.trace.events",),
    ("mc.kernel",),
    ("mc.dsl",),
    ("mc.models",),
    ("mc.spec",),
    ("mc.trace",),
    ("mc.check",),
    ("mc.testing", "mc.cli", "mc.__main__", "mc"),
)
"""From the bottom: helpers, the engine, the event types of a trace, the
kernel world, the DSL, the shipped models, the locking rules, the
counterexample format and its renderings, checking, and the command line."""


def layer_of(module: str) -> int:
    best, found = -1, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, found = len(prefix), index
    assert found >= 0, f"{module} belongs to no layer"
    return found


def modules(root: Path = MC) -> dict[str, Path]:
    """Every module under ``root`` (the models through the mc/models link)."""
    found = {}
    for path in sorted(root.rglob("*.py")) + sorted((root / "models").glob("*.py")):
        parts = ("mc", *path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return {name for name in found if name in known}


def wrong_way_imports(known: dict[str, Path]) -> list[str]:
    problems = []
    for name, path in known.items():
        for target in sorted(imports(path, known)):
            if name.startswith(target + ".") or target == name:
                continue
            if layer_of(target) > layer_of(name):
                problems.append(f"{name} imports {target}, a layer above it")
    return problems


def cycles(known: dict[str, Path]) -> list[list[str]]:
    edges = {
        name: {t for t in imports(path, known) if t != name and not name.startswith(t + ".")}
        for name, path in known.items()
    }
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(edges[name]):
            if state.get(target) == 1:
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)
    return found


def test_every_import_points_down_the_layers() -> None:
    assert wrong_way_imports(modules()) == []


def test_no_import_cycles() -> None:
    assert cycles(modules()) == []


def test_a_planted_wrong_way_import_is_found(tmp_path: Path) -> None:
    """The kernel world importing the counterexample file format (as it
    once did for its event types) is reported, and so is the cycle it
    closes when the format imports the kernel."""
    (tmp_path / "kernel").mkdir()
    (tmp_path / "trace").mkdir()
    (tmp_path / "kernel" / "steps.py").write_text("from mc.trace.format import Event\n")
    (tmp_path / "trace" / "format.py").write_text("import mc.kernel.steps\n")
    known = modules(tmp_path)
    assert wrong_way_imports(known) == ["mc.kernel.steps imports mc.trace.format, a layer above it"]
    assert cycles(known) == [["mc.kernel.steps", "mc.trace.format", "mc.kernel.steps"]]


@pytest.mark.parametrize(
    ("module", "layer"),
    [("mc.trace.events", 2), ("mc.trace.format", 7), ("mc.models.dirops", 5), ("mc", 9)],
)
def test_the_longest_prefix_decides_the_layer(module: str, layer: int) -> None:
    assert layer_of(module) == layer
