"""The layers, checked on every import statement of the package, including those inside functions.

    indexes  <-  tours, contrib (+ patches: data)  <-  explorer  <-  torchatlas (the CLI)

A module may import its own layer and the layers below it, never one above, and tours and contrib
(siblings) not each other. Nothing below the explorer imports textual; GitPython only through
contrib's git port; torch never in-process (the live dispatcher, tour snippets and lab checks run
in subprocesses; lab check files under patches/*/checks are lab content, run there).

Two more rules keep the layers honest: no module imports a private name (`_find`, `_noise`) of a
module in another package (a private helper is not an interface; make it public or ask the layer
for it), and no two modules import each other, directly or around a longer loop, even lazily inside
a function (a loop means one of them is really two modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"indexes": "torchatlas.indexes", "tours": "torchatlas.tours", "contrib": "torchatlas.contrib",
           "explorer": "torchatlas.explorer", "patches": "torchatlas.patches", "torchatlas": "torchatlas"}
RANK = {"indexes": 0, "tours": 1, "contrib": 1, "patches": 1, "explorer": 2, "cli": 3}
ADAPTERS = {"git": ("torchatlas.contrib.gitport",), "github": ("torchatlas.contrib.forge.client",)}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "torchatlas":
        return None
    if len(parts) > 1 and parts[1] in ("indexes", "tours", "contrib", "explorer", "patches"):
        return parts[1]
    return "cli"


def _modules():
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder)
            if folder == "patches" and "checks" in rel.parts:
                continue  # lab content: pytest files run in a subprocess with the workspace's torch
            parts = [p for p in rel.with_suffix("").parts if p != "__init__"]
            yield path, ".".join([package, *parts]), path.name == "__init__.py"


def _imports(path: Path, module: str, is_package: bool):
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.lineno, node.module or ""


MODULES = list(_modules())
KNOWN = {m for _, m, _ in MODULES}


def _package(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _module_edges(path: Path, module: str, is_package: bool):
    """(line, module of this package imported, names imported from it): `from . import pipeline`
    is an import of the module `...indexes.pipeline`, not of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package(module, is_package).split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = tuple(a.name for a in node.names)
            targets = [(f"{source}.{n}", ()) if f"{source}.{n}" in KNOWN else (source, (n,)) for n in names]
        else:
            continue
        for target, names in targets:
            while target and target not in KNOWN:
                target = target.rpartition(".")[0]
            if target and target != module:
                yield node.lineno, target, names


EDGES = {(m, is_pkg, path): list(_module_edges(path, m, is_pkg)) for path, m, is_pkg in MODULES}


def test_the_walk_sees_every_layer():
    layers = {_layer(m) for _, m, _ in MODULES}
    assert {"indexes", "tours", "contrib", "explorer", "cli"} <= layers
    assert len(MODULES) > 60


@pytest.mark.parametrize("path, module, is_package", MODULES, ids=[m for _, m, _ in MODULES])
def test_imports_respect_the_layers(path, module, is_package):
    mine = _layer(module)
    bad = []
    for line, target in _imports(path, module, is_package):
        theirs = _layer(target)
        top = target.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {target}"
        if theirs is not None and theirs != mine:
            if RANK[theirs] > RANK[mine]:
                bad.append(f"{where}: {theirs} is above {mine}")
            elif RANK[theirs] == RANK[mine]:
                bad.append(f"{where}: {mine} and {theirs} are siblings and stay independent")
        if top == "textual" and RANK[mine] < RANK["explorer"]:
            bad.append(f"{where}: textual belongs to the explorer")
        if top in ADAPTERS and module not in ADAPTERS[top] and mine != "cli":
            bad.append(f"{where}: {top} is reached through its adapter {ADAPTERS[top][0]}")
        if top == "torch":
            bad.append(f"{where}: torch runs in subprocesses only (importing it costs ~1.5 s and pins a version)")
    assert not bad, "\n".join(bad)


PACKAGES = {m for _, m, is_pkg in MODULES if is_pkg}


def _private_imports(path: Path, module: str, is_package: bool) -> list[str]:
    mine = _package(module, is_package)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return [f"{shown}:{line} imports {name} from {target}"
            for line, target, names in _module_edges(path, module, is_package) for name in names
            if name.startswith("_") and not name.startswith("__") and _package(target, target in PACKAGES) != mine]


def test_private_rule_flags_a_helper_taken_from_another_package(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from torchatlas.indexes.code_queries import _noise, find\n"
                     "    from .data import _private_of_my_own_package\n")
    bad = _private_imports(probe, "torchatlas.explorer.probe", False)
    assert bad == [f"{probe}:2 imports _noise from torchatlas.indexes.code_queries"]


@pytest.mark.parametrize("path, module, is_package", MODULES, ids=[m for _, m, _ in MODULES])
def test_no_private_names_across_packages(path, module, is_package):
    bad = _private_imports(path, module, is_package)
    assert not bad, "private helpers of another package (make them public, or ask that layer):\n" + "\n".join(bad)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# Loops known and owned elsewhere, each to be cut by its owner (then removed from here). Any loop
# not listed fails the test.
KNOWN_LOOPS: set[tuple[str, ...]] = set()


def test_no_import_cycles_even_inside_functions():
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for (module, is_package, path), edges in EDGES.items():
        for line, target, _names in edges:
            if is_package or any(m == target and p for m, p, _ in EDGES):
                continue  # a package and its own modules: __init__ re-exports, not a design loop
            graph.setdefault(module, set()).add(target)
            where.setdefault((module, target), f"{path.relative_to(ROOT)}:{line}")
    loops = [comp for comp in _cycles(graph) if not any(set(comp) <= set(known) for known in KNOWN_LOOPS)]
    lines = []
    for comp in loops:
        lines.append(" <-> ".join(comp) + ": " + "; ".join(
            f"{where[(a, b)]} imports {b}" for a in comp for b in comp if (a, b) in where))
    assert not loops, "import loops:\n" + "\n".join(lines)
