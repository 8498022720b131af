"""C++ resolution rules for the link step (see indexes/link.py for the contract of `resolve`).

Today's rules are name-based, as the query-time lookup was, with one difference: a name that
several definitions share is answered with all of them as candidates (ranked), never one guess.

* `std::...` is the standard library: external.
* An exact qualname match among C++ definitions (functions, methods, classes, structs, macros):
  resolved.
* Else the definitions with the same base name: one distinct qualname -> resolved; several ->
  candidates, library before tests, ATen first, then by path; none -> unresolved.

A C++ name never resolves to Python.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from .link import CANDIDATE, EXTERNAL, MAX_CANDIDATES, RESOLVED, UNRESOLVED, Link, RefRow, World

_KINDS = ("function", "method", "class", "struct", "macro")


def _noise(path: str) -> int:
    base = path.rsplit("/", 1)[-1]
    if "/test" in path or path.startswith("test") or base.startswith("test_") or "_test." in base:
        return 2
    if "/testing/" in path or "/_vendor/" in path:
        return 1
    return 0


def _definitions(world: World) -> tuple[set[str], dict[str, list[str]]]:
    """(every C++ qualname, base name -> distinct qualnames ranked best first)."""
    quals: set[str] = set()
    by_name: dict[str, dict[str, tuple]] = {}
    for name, qual, path, line in world.con.execute(
            "SELECT d.name, d.qualname, f.path, d.line FROM defs d JOIN files f ON f.id = d.file_id "
            f"WHERE f.lang = 'cpp' AND d.kind IN {_KINDS}"):
        quals.add(qual)
        rank = (_noise(path), "/ATen/" not in path, path, line)
        best = by_name.setdefault(name, {})
        if qual not in best or rank < best[qual]:
            best[qual] = rank
    ranked = {n: sorted(qs, key=qs.__getitem__) for n, qs in by_name.items()}
    return quals, ranked


def _answer(name: str, quals: set[str], by_name: dict[str, list[str]]) -> tuple[str, tuple, tuple]:
    if name.startswith(("std::", "::std::")):
        return EXTERNAL, (name.lstrip(":"),), ("the C++ standard library",)
    if name in quals:
        return RESOLVED, (name,), ("exact qualified name",)
    base = name.rsplit("::", 1)[-1].rsplit(".", 1)[-1]
    found = by_name.get(base, ())
    if not found:
        return UNRESOLVED, (), (f"no C++ definition named {base}",)
    if len(found) == 1:
        return RESOLVED, (found[0],), (f"the only C++ definition named {base}",)
    shown = found[:MAX_CANDIDATES]
    why = [f"same name ({len(found)} definitions)"] * len(shown)
    if len(found) > len(shown):
        why[-1] += f", +{len(found) - len(shown)} more"
    return CANDIDATE, tuple(shown), tuple(why)


def resolve(refs: Iterator[RefRow], world: World) -> Iterable[Link]:
    """One Link per C++ reference (the contract is in indexes/link.py)."""
    quals, by_name = world.cached("cpp.defs", _definitions)
    memo: dict[str, tuple] = {}
    for r in refs:
        ans = memo.get(r.name)
        if ans is None:
            ans = memo[r.name] = _answer(r.name, quals, by_name)
        yield Link(r.ref_id, *ans)
