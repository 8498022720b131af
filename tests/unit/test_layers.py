"""The layers, checked on every import statement of the package, including those inside functions.

    indexes  <-  tours, contrib (+ patches: data)  <-  explorer  <-  torchatlas (the CLI)

A module may import its own layer and the layers below it, never one above, and tours and contrib
(siblings) not each other. Nothing below the explorer imports textual; GitPython only through
contrib's git port; torch never in-process (the live dispatcher, tour snippets and lab checks run
in subprocesses; lab check files under patches/*/checks are lab content, run there).
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
