"""Definition coverage of the bulk C++ parser against universal-ctags (issue 13: >= 99.5%).

    python bench/bench_cpp_defs.py /path/to/pytorch [--dirs aten c10 torch/csrc] [--jobs 1] [--top 15]
    python bench/bench_cpp_defs.py /path/to/pytorch --parser-file /tmp/old_cpp_parser.py   # before

The oracle: every function *definition* (kind f) universal-ctags finds under the directories
(`ctags -R --languages=C++ --langmap=C++:+.cu.cuh --kinds-C++=f`), as (file, name, line). A ctags
function counts as found when `parse_cpp` gives a definition of kind function/method with the same
unqualified name (blanks removed, so `operator ==` is `operator==`; a macro block `TEST(Suite, Name) {` is `TEST`)
in the same file within two lines; a definition written with a macro (`TORCH_IMPL_FUNC(x) (...) {`,
`CREATE_BINARY_META_FUNC(...)` expanded at its call site) also answers to the macro's name, which
is what ctags calls it. A ctags "function" named by a macro (all capitals: `TORCH_LIBRARY_IMPL(aten,
CPU, m) {`, `C10_LAUNCH_BOUNDS_1(128) void kernel(`) counts as found when a definition or a
registration of ours starts within two lines. Lambdas (ctags' `__anon...` functions) are left out. ctags is an independent engine (its own C++ tokenizer, no tree-sitter); it skips `#if 0`
branches, so nothing under them is asked for.

Prints coverage, the wall time of ctags and of parse_cpp in the same run (the machine is shared:
timings are noisy, compare them with each other, not across runs), and the missed functions
grouped by a likely cause:
  swallowed      inside a definition of ours whose body spans the miss (tree-sitter did not close
                 a function: the rest of the file became its body)
  error-region   the file has ERROR nodes and the miss is in no definition of ours
  line-off       same name in the file, more than two lines away
  macro-name     the name is all capitals (a macro call ctags took for a definition)
  other          none of the above (clean parse)
with the files holding most misses, so a regression points at its cause.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from multiprocessing import get_context

DEFAULT_DIRS = ("aten", "c10", "torch/csrc")
_SLACK = 2
# Names universal-ctags 5.9 gives to things that are not functions: `__launch_bounds__(..)` of a
# CUDA kernel read as the function's name.
_CTAGS_ARTIFACTS = frozenset(("__launch_bounds__", "__attribute__", "__declspec"))


def ctags_functions(root: str, dirs) -> tuple[dict, float]:
    """{file: [(name, line)]} of ctags' function definitions, and ctags' wall seconds."""
    ctags = shutil.which("ctags")
    if ctags is None:
        raise SystemExit("universal-ctags not found: apt-get install -y universal-ctags")
    cmd = [ctags, "-R", "--languages=C++", "--langmap=C++:+.cu.cuh", "--kinds-C++=f", "--fields=+n",
           "--output-format=json", "-f", "-", *dirs]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=root, capture_output=True, check=False).stdout
    wall = time.perf_counter() - t0
    funcs: dict = defaultdict(list)
    for raw in out.splitlines():
        try:
            tag = json.loads(raw)
        except ValueError:
            continue
        if tag.get("_type") != "tag" or tag.get("kind") != "function":
            continue
        name = "".join(tag["name"].split())
        if name.startswith("__anon") or name in _CTAGS_ARTIFACTS:
            continue  # a lambda (ctags names each one), or a keyword ctags took for a name
        funcs[tag["path"]].append((name, tag["line"]))
    return funcs, wall


def _name_of(name: str) -> str:
    """Our name as ctags spells it: blanks removed; a macro block `TEST(Suite, Name)` is `TEST`."""
    name = "".join(name.split())
    if "(" in name and not name.startswith("operator"):
        name = name.split("(", 1)[0]
    return name


_MACRO_CALL_RE = re.compile(r"([A-Z][A-Z0-9_]*)\s*\(")


def _parser(parser_file: str):
    """parse_cpp of the package, or of another version of the parser (a file, e.g. the pre-split
    cpp_parser.py from git) for a before/after figure."""
    if not parser_file:
        from torchatlas.indexes.cpp import parse_cpp

        return parse_cpp
    import importlib
    import importlib.util

    importlib.import_module("torchatlas.indexes")  # the file's relative imports resolve in this package

    spec = importlib.util.spec_from_file_location("torchatlas.indexes._bench_parser", parser_file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.parse_cpp


_PARSE = None


def _parse_one(args):
    global _PARSE
    root, rel, parser_file = args
    if _PARSE is None:
        _PARSE = _parser(parser_file)
    with open(os.path.join(root, rel), "rb") as f:
        facts = _PARSE(rel, f.read())
    defs = []
    for d in facts.definitions:
        if d.kind not in ("function", "method"):
            continue
        defs.append((_name_of(d.name), d.line, d.end_line, d.kind))
        m = _MACRO_CALL_RE.match(d.signature)
        if m:  # `TORCH_IMPL_FUNC(add_out) (...)` is `structured_add_out::impl`; ctags names it by the macro
            defs.append((m.group(1), d.line, d.end_line, d.kind))
    for r in facts.registrations:  # `TORCH_LIBRARY_IMPL(aten, CPU, m) {`: ctags' "function" TORCH_LIBRARY_IMPL
        defs.append((r.kind, r.line, r.line, "registration"))
    return rel, defs, facts.parse_errors


def parse_all(root: str, rels: list, jobs: int, parser_file: str = "") -> tuple[dict, float]:
    t0 = time.perf_counter()
    work = [(root, r, parser_file) for r in rels]
    if jobs <= 1:
        results = [_parse_one(w) for w in work]
    else:
        with get_context("fork").Pool(jobs) as pool:
            results = pool.map(_parse_one, work, chunksize=8)
    return {r: (d, e) for r, d, e in results}, time.perf_counter() - t0


def _is_macro(name: str) -> bool:
    return name.isupper() and ("_" in name or len(name) > 3)


def classify(name: str, line: int, defs: list, errors: int) -> str:
    if _is_macro(name):
        return "macro-name"
    if any(n == name for n, _, _, _ in defs):
        return "line-off"
    if any(s < line <= e and k in ("function", "method") for _, s, e, k in defs):
        return "swallowed"
    if errors:
        return "error-region"
    return "other"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--dirs", nargs="+", default=list(DEFAULT_DIRS))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--top", type=int, default=12, help="files and examples listed per cause")
    ap.add_argument("--parser-file", default="",
                    help="measure another version of the parser: a .py file defining parse_cpp (e.g. "
                         "`git show e19ac74:indexes/cpp_parser.py > /tmp/old.py`), for a before/after figure")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)

    funcs, ctags_wall = ctags_functions(root, args.dirs)
    ours, parse_wall = parse_all(root, sorted(funcs), args.jobs, args.parser_file)

    total = found = 0
    missed: list = []
    for rel, tags in funcs.items():
        defs, errors = ours.get(rel, ([], 0))
        by_name = defaultdict(list)
        for n, s, _, _ in defs:
            by_name[n].append(s)
        lines = sorted(s for _, s, _, _ in defs)
        for name, line in tags:
            total += 1
            if any(abs(s - line) <= _SLACK for s in by_name.get(name, ())):
                found += 1
            elif _is_macro(name) and any(abs(s - line) <= _SLACK for s in lines):
                found += 1  # a macro call ctags names the function by (`C10_LAUNCH_BOUNDS_1(128) void k(`)
            else:
                missed.append((classify(name, line, defs, errors), rel, name, line))
    coverage = found / total if total else 1.0
    causes = Counter(c for c, _, _, _ in missed)
    if args.json:
        print(json.dumps({"ctags_functions": total, "found": found, "coverage": coverage,
                          "missed_by_cause": dict(causes), "ctags_wall_s": ctags_wall,
                          "parse_wall_s": parse_wall, "jobs": args.jobs}, indent=2))
        return 0
    print(f"ctags functions   {total} in {len(funcs)} files of {' '.join(args.dirs)}")
    print(f"found (±{_SLACK} lines) {found}  coverage {100 * coverage:.2f}%  (goal >= 99.5%)")
    print(f"ctags wall        {ctags_wall:.1f} s (1 process)   parse_cpp wall {parse_wall:.1f} s "
          f"({args.jobs} process{'es' if args.jobs > 1 else ''}); same run, shared machine: noisy")
    for cause, n in causes.most_common():
        print(f"\n{cause}: {n}")
        files = Counter(rel for c, rel, _, _ in missed if c == cause)
        for rel, k in files.most_common(args.top):
            ex = [f"{nm}:{ln}" for c, r, nm, ln in missed if c == cause and r == rel][:3]
            print(f"  {k:5d}  {rel}  e.g. {', '.join(ex)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
