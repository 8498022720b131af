#!/usr/bin/env python3
"""How often torchatlas's Python call resolution agrees with an independent engine (jedi's goto).

    python bench/bench_calls_py.py [SOURCE] [--db DB] [-n 300] [--seed 13] [--budget 900]

SOURCE is "installed" (the default) or a PyTorch checkout. A sample of N functions and methods
of torch's own Python (files under torch/, not the torch/_C stubs; seeded; drawn file by file, up to --per-file
functions each, because jedi's cost is per file) is drawn from the index; for every call site
in them, jedi's `goto(follow_imports=True)` names the definition the call reaches, and that is
compared with the link step's answer (`code_queries.callees`: status and target):

  precision  of the calls torchatlas marks `resolved`, where jedi resolves too: the share where
             jedi reaches the same definition (same qualname; for a C binding, jedi's stub of the
             same name in torch/_C/*.pyi; for a builtin, the builtin).
  recall     of the calls jedi resolves to a definition inside torch (one the index holds, or a
             torch/_C stub), the share torchatlas resolves to the same one.

jedi's answer on a stub in torch/_C (also a compiled torch._C member, which jedi calls builtin)
counts as a C binding; one on a local variable or an instance attribute (`x = C(...)`,
`self.x = ...`, which the index records to type receivers) is "local": not in the recall's base,
as before the index held them, and agreeing only with the same local.

    --misses N        list N misses and N disagreements, and count the misses by the call's shape
    --jedi-cache F    keep jedi's answers in F: a re-run after a change of the link step takes
                      seconds (same source, same seed)

The same figures for the query-time lookup by bare name that the index had before the link step
(`code_queries.definition_of`) are printed beside them, and jedi's time as the same-run
reference. Goals (issue 13): precision >= 95%, recall >= 85%. Needs `pip install torchatlas[bench]`
(jedi). Prints figures, asserts nothing. The sample is read from the index with SQL (a bench,
not a layer of the tool).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import sys
import sysconfig
import time
from pathlib import Path


def _column(text: str, name: str) -> int | None:
    """The column of the called name's last component on its line (a call site first)."""
    last = name.rsplit(".", 1)[-1]
    if not re.fullmatch(r"[A-Za-z_]\w*", last):
        return None
    best = None
    for m in re.finditer(r"(?<![\w])" + re.escape(last) + r"(?![\w])", text):
        if best is None:
            best = m.start()
        if re.match(r"\s*\(", text[m.end():]):
            return m.start()
    return best


class Oracle:
    """jedi over one source root, with the index's definitions to name what it reaches."""

    def __init__(self, root: Path, layout: str, con: sqlite3.Connection, cache: Path | None = None):
        import jedi
        self.jedi = jedi
        # jedi's answers do not depend on torchatlas: a cache file makes a re-run after a change of
        # the link step take seconds (key: path, line, name; value: jedi's raw answer or None)
        self.cache_path = cache
        self.cache: dict[str, list | None] = {}
        if cache is not None and cache.exists():
            self.cache = json.loads(cache.read_text())
        self.root = root
        if layout == "checkout":  # the tree itself, not the installed torch, plus the standard library
            paths = [str(root)] + sorted({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")})
            paths.append(str(Path(sysconfig.get_paths()["stdlib"]) / "lib-dynload"))
            self.project = jedi.Project(path=root, sys_path=paths, smart_sys_path=False)
        else:
            self.project = jedi.Project(path=root)
        self.con = con
        self.scripts: dict[str, object] = {}
        self.seconds = 0.0

    def target(self, path: str, line: int, name: str) -> tuple[str, str] | None:
        """(kind, name) of what jedi reaches: ("def", qualname) | ("binding", name) |
        ("builtin", builtins.x) | ("local", ...) | ("outside", module.x); None when it does not know."""
        key = f"{path}:{line}:{name}"
        if key in self.cache:
            raw = self.cache[key]
        else:
            raw = self.cache[key] = self._ask(path, line, name)
        if raw is None:
            return None
        kind, rel, d_line, d_name = raw
        if kind != "def":
            return kind, rel
        rows = self.con.execute("SELECT d.qualname, d.kind, d.signature FROM defs d JOIN files f ON f.id = d.file_id "
                                "WHERE f.path = ? AND d.line = ? AND d.name = ?", (rel, d_line, d_name)).fetchall()
        if rows:
            qual, kind, sig = rows[0]
            if kind == "variable" and self._local(rel, qual, sig or ""):
                return "local", qual  # a function's local or an instance attribute: not in the recall's base
            return "def", qual
        return "local", f"{rel}:{d_line}:{d_name}"

    def _local(self, rel: str, qual: str, sig: str) -> bool:
        """A variable bound inside a function (`x = C(...)` in a body, `self.x = ...` in a method): the
        index holds these to type receivers; a call jedi sends to one is kept out of the recall's base
        (as when the index did not hold them), so figures stay comparable across index versions."""
        if sig.startswith("self."):
            return True
        parent = qual.rpartition(".")[0]
        return self.con.execute("SELECT 1 FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ? AND "
                                "d.qualname = ? AND d.kind IN ('function', 'method') LIMIT 1",
                                (rel, parent)).fetchone() is not None

    def save(self) -> None:
        if self.cache_path is not None:
            self.cache_path.write_text(json.dumps(self.cache))

    def _ask(self, path: str, line: int, name: str) -> list | None:
        """jedi's raw answer: [kind, name or path, line, name] (kind "def" still to be named by the index)."""
        text_lines = self._lines(path)
        if line - 1 >= len(text_lines):
            return None
        col = _column(text_lines[line - 1], name)
        if col is None:
            return None
        t = time.perf_counter()
        try:
            script = self.scripts.get(path)
            if script is None:
                script = self.scripts[path] = self.jedi.Script(path=str(self.root / path), project=self.project)
            found = script.goto(line, col, follow_imports=True)
        except Exception:  # noqa: BLE001 - jedi's own failures: no answer
            found = []
        finally:
            self.seconds += time.perf_counter() - t
        if not found:
            return None
        d = found[0]
        mp = d.module_path
        if d.module_name == "builtins" or (d.in_builtin_module() and mp is None):
            return ["builtin", "builtins." + d.name, 0, ""]
        if mp is None:
            return None
        try:
            rel = Path(mp).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return ["outside", f"{d.module_name}.{d.name}", 0, ""]
        if rel.startswith("torch/_C/") and rel.endswith(".pyi"):  # a stub (jedi calls a compiled one builtin)
            return ["binding", d.name, 0, ""]
        if d.in_builtin_module():
            return ["builtin", "builtins." + d.name, 0, ""]
        return ["def", rel, d.line, d.name]

    def _lines(self, path: str) -> list[str]:
        key = "lines:" + path
        if key not in self.scripts:
            self.scripts[key] = (self.root / path).read_text(errors="replace").splitlines()
        return self.scripts[key]


def _shape(name: str) -> str:
    """The shape of a called name, to count misses by class: self.m, self.a.m, super().m, x.m, ..."""
    head, _, rest = name.partition(".")
    if name.startswith("super()."):
        return "super().m"
    if "(" in name or "[" in name:
        return "expression receiver"
    if not rest:
        return "bare name"
    if head in ("self", "cls"):
        return f"{head}.m" if "." not in rest else f"{head}.attr.m"
    return "name.m" if "." not in rest else "name.attr.m"


def _agrees(status: str, target: str | None, oracle: tuple[str, str]) -> bool:
    kind, name = oracle
    if target is None:
        return False
    if kind == "def":
        return target == name
    if kind == "binding":  # torch.add / torch._C._nn.linear / torch.Tensor.add vs the stub's `add`
        return status == "resolved" and target.rsplit(".", 1)[-1] == name and "." in target
    if kind in ("builtin", "local"):
        return target == name
    return False


def _old_answer(index, cq, con, name: str) -> str | None:
    """The pre-link answer: definition_of's location, named by the definition there."""
    loc = cq.definition_of(index, name)
    if not loc:
        return None
    path, line = loc.rsplit(":", 1)
    row = con.execute("SELECT d.qualname FROM defs d JOIN files f ON f.id = d.file_id WHERE f.path = ? AND d.line = ? "
                      "LIMIT 1", (path, int(line))).fetchone()
    return row[0] if row else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", default="installed")
    ap.add_argument("--db", help="an index of SOURCE (default: the cache's, built or updated first)")
    ap.add_argument("-n", type=int, default=300, help="functions to sample")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--per-file", type=int, default=15, help="functions per sampled file")
    ap.add_argument("--budget", type=float, default=900, help="stop asking jedi after this many seconds")
    ap.add_argument("--misses", type=int, default=15, metavar="N",
                    help="list up to N misses and N disagreements (and count the misses by the shape of the call)")
    ap.add_argument("--jedi-cache", type=Path, metavar="FILE",
                    help="keep jedi's answers in FILE (JSON) and reuse them: a re-run after a change of the link step "
                         "asks jedi only about calls it has not seen (the index must be of the same source)")
    args = ap.parse_args()
    try:
        import jedi  # noqa: F401
    except ImportError:
        print("jedi is not installed: pip install 'torchatlas[bench]'", file=sys.stderr)
        return 2
    from torchatlas.indexes import code_queries as cq
    from torchatlas.indexes.pipeline import build_index, default_db_path
    from torchatlas.indexes.sources import open_source
    from torchatlas.indexes.store import Index
    source = open_source(args.source)
    db = Path(args.db) if args.db else default_db_path(source)
    if not args.db:
        build_index(source, db)
    index = Index(db)
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    meta_counts = con.execute("SELECT value FROM meta WHERE key = 'counts'").fetchone()
    funcs = con.execute("SELECT d.qualname, f.path FROM defs d JOIN files f ON f.id = d.file_id WHERE f.lang = 'python' "
                        "AND f.path LIKE 'torch/%' AND f.path NOT LIKE '%.pyi' AND d.kind IN ('function', 'method') "
                        "ORDER BY d.qualname, f.path"
                        ).fetchall()
    # jedi spends seconds per file inferring torch's imports, then milliseconds per call: the sample
    # is drawn as files (seeded), then up to --per-file functions of each, until N functions
    rng = random.Random(args.seed)
    by_path: dict[str, list[str]] = {}
    for qual, path in funcs:
        by_path.setdefault(path, []).append(qual)
    sample: list[tuple[str, str]] = []
    for path in rng.sample(sorted(by_path), len(by_path)):
        if len(sample) >= args.n:
            break
        quals = by_path[path]
        sample += [(q, path) for q in rng.sample(quals, min(args.per_file, len(quals), args.n - len(sample)))]
    oracle = Oracle(Path(source.root), source.layout, con, args.jedi_cache)
    new = {"resolved": 0, "agree": 0, "jedi_in_torch": 0, "found": 0}
    old = {"resolved": 0, "agree": 0, "found": 0}
    statuses: dict[str, int] = {}
    disagreements: list[str] = []
    misses: list[str] = []
    shapes: dict[str, int] = {}
    calls = done = 0
    t0 = time.perf_counter()
    for qual, path in sample:
        if oracle.seconds > args.budget:
            break
        done += 1
        seen = set()
        for ref, _where in cq.callees(index, qual):
            if ref.kind != "call" or not ref.location.startswith(path + ":"):
                continue
            key = (ref.name, ref.location)
            if key in seen:
                continue
            seen.add(key)
            calls += 1
            statuses[ref.status] = statuses.get(ref.status, 0) + 1
            line = int(ref.location.rsplit(":", 1)[1])
            jedi_answer = oracle.target(path, line, ref.name)
            target = ref.targets[0] if ref.targets else None
            old_target = _old_answer(index, cq, con, ref.name)
            if jedi_answer is None:
                continue
            if ref.status == "resolved":
                new["resolved"] += 1
                if _agrees(ref.status, target, jedi_answer):
                    new["agree"] += 1
                elif len(disagreements) < args.misses:
                    disagreements.append(f"{ref.location} {ref.name}: torchatlas {target}, jedi {jedi_answer}")
            if old_target is not None:
                old["resolved"] += 1
                old["agree"] += _agrees("resolved", old_target, jedi_answer)
            if jedi_answer[0] in ("def", "binding"):
                new["jedi_in_torch"] += 1
                if ref.status == "resolved" and _agrees(ref.status, target, jedi_answer):
                    new["found"] += 1
                else:
                    shape = _shape(ref.name)
                    shapes[shape] = shapes.get(shape, 0) + 1
                    if len(misses) < args.misses:
                        misses.append(f"{ref.location} {ref.name}: torchatlas {ref.status} {target}, jedi {jedi_answer}"
                                      f"  [{shape}]")
                if old_target is not None and _agrees("resolved", old_target, jedi_answer):
                    old["found"] += 1
    wall = time.perf_counter() - t0
    oracle.save()

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}% ({a}/{b})" if b else "n/a"
    print(f"source: {source.display()}  index: {db}")
    print(f"sample: {done} of {len(funcs)} torch functions in {len({p for _q, p in sample[:done]})} files "
          f"(seed {args.seed}), {calls} call sites; statuses {statuses}")
    print(f"link step (whole index): {meta_counts[0] if meta_counts else '?'}"[:400])
    print(f"jedi: {oracle.seconds:.1f} s for the sample (the same-run reference); bench wall {wall:.1f} s")
    print(f"after  (link step):        precision {pct(new['agree'], new['resolved'])}   "
          f"recall {pct(new['found'], new['jedi_in_torch'])}")
    print(f"before (lookup by name):   precision {pct(old['agree'], old['resolved'])}   "
          f"recall {pct(old['found'], new['jedi_in_torch'])}")
    if shapes:
        print("misses by the shape of the call: " + ", ".join(f"{k} {v}" for k, v in
                                                          sorted(shapes.items(), key=lambda kv: -kv[1])))
    if disagreements:
        print(f"disagreements (first {args.misses}):")
        for d in disagreements:
            print("  " + d)
    if misses:
        print(f"jedi resolves, torchatlas does not agree (first {args.misses}):")
        for m in misses:
            print("  " + m)
    return 0


if __name__ == "__main__":
    sys.exit(main())
