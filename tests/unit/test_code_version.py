"""The fingerprints of the code that decides an index's answers (indexes/code_version.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from torchatlas.indexes import code_version
from torchatlas.indexes.code_version import META_KEYS, PARTS, ROOTS, changed_parts, describe, fingerprint

INDEXES = Path(code_version.__file__).parent


def _relative_imports(rel: str) -> set[str]:
    """The modules of indexes/ that `rel` imports, anywhere in it (inside functions too)."""
    here = (INDEXES / rel).parent
    out = set()
    for node in ast.walk(ast.parse((INDEXES / rel).read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = here
        for _ in range(node.level - 1):
            base = base.parent
        targets = [node.module] if node.module else [a.name for a in node.names]
        for t in targets:
            p = base.joinpath(*t.split("."))
            for cand in (p.with_suffix(".py"), p / "__init__.py"):
                if cand.is_file() and INDEXES in cand.parents:
                    out.add(cand.relative_to(INDEXES).as_posix())
            if node.module:  # `from .cpp import parse`: the submodule, when it is one
                for a in node.names:
                    sub = p / f"{a.name}.py"
                    if sub.is_file():
                        out.add(sub.relative_to(INDEXES).as_posix())
    return out


def _closure(roots: tuple[str, ...]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        rel = todo.pop()
        if rel not in seen:
            seen.add(rel)
            todo.extend(_relative_imports(rel))
    return seen


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_lists_every_module_its_roots_import(part):
    """A module the parser (or a resolver) imports but the list forgets would change answers without
    changing the fingerprint: the index would keep the old ones."""
    missing = _closure(ROOTS[part]) - set(PARTS[part])
    assert not missing, f"add to code_version.PARTS[{part!r}]: {sorted(missing)}"
    assert all((INDEXES / rel).is_file() for rel in PARTS[part])


def test_a_fingerprint_follows_the_bytes_of_its_modules(tmp_path, monkeypatch):
    for rel in {r for names in PARTS.values() for r in names}:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((INDEXES / rel).read_bytes())
    monkeypatch.setattr(code_version, "_HERE", tmp_path)
    fingerprint.cache_clear()
    try:
        same = {p: fingerprint(p) for p in PARTS}
        fingerprint.cache_clear()
        with open(tmp_path / "link_cpp.py", "a") as f:
            f.write("\n# a resolver change\n")
        changed = {p: fingerprint(p) for p in PARTS}
    finally:
        fingerprint.cache_clear()
    assert changed["linker"] != same["linker"]
    assert changed["parser"] == same["parser"] and changed["dispatch"] == same["dispatch"]
    assert all(len(v) == 16 for v in same.values())


def test_changed_parts_names_what_differs_and_skips_what_was_never_built():
    now = {META_KEYS[p]: fingerprint(p) for p in PARTS}
    assert changed_parts(now) == ()
    assert changed_parts({**now, "linker_code": "0" * 16}) == ("linker",)
    assert changed_parts({**now, "parser_code": "x", "dispatch_code": "y"}) == ("parser", "dispatch")
    # an index built with --no-code has no parser or linker to be stale
    assert changed_parts({"dispatch_code": now["dispatch_code"]}) == ()
    assert changed_parts({**now, "linker_code": "x"}, ("parser",)) == ()


def test_describe_reads_as_a_list():
    assert describe(("linker",)) == "reference resolver"
    assert describe(("parser", "linker")) == "parser and reference resolver"
    assert describe(("parser", "linker", "dispatch")) == "parser, reference resolver and dispatch resolver"
