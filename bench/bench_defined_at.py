"""How often a dispatch entry's `defined_at` / `declared_at` is true, checked against the files.

For every (operator, key) entry of an index that gives a location, open the file at that line and
check it independently of how the index found it:

- `defined_at` is true when the kernel's name is written on that line (or the next three: a
  signature may wrap) and a body follows (`{` before any `;`); TORCH_IMPL_FUNC(name) counts;
  a ufunc kernel (ufunc_add_CPU) is defined by its inner loop, `add` in native/ufunc/add.h;
  a Python kernel (torch._meta_registrations.meta_mm) by `def meta_mm`.
  A macro invocation that writes the body (CREATE_UNARY_TORCH_IMPL_INTEGER_NO_OP_FUNC(ceil_out,
  ...), or ..._IMPL_FUNC(eq) for eq_Scalar_out, FOREACH_UNARY_OP(abs) for foreach_tensor_abs_slow)
  counts when an argument is the kernel's name or a `_`-separated part of it.
- `declared_at` is true when that line of `<op>_native.h` declares the kernel's name.

    python bench/bench_defined_at.py --db ~/.cache/torchatlas/installed-....sqlite
    python bench/bench_defined_at.py --source /root/.cache/pytorch-src/pytorch-v2.6.0

Prints the share of true locations per field, for all keys and for CPU/CUDA, and the first
false ones (for a reader to judge). The goal of issue 13: >= 99%.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path


def _names(kernel: str, field: str) -> list[str]:
    """The names the file must show for `kernel` at a location of `field`."""
    if "." in kernel and "::" not in kernel:  # a Python function
        return [kernel.rsplit(".", 1)[-1]]
    parts = kernel.split("::")
    if len(parts) > 1 and parts[-1] in ("meta", "impl") and parts[-2].startswith("structured_"):
        short = parts[-2][len("structured_"):]  # TORCH_META_FUNC(short) / TORCH_META_FUNC2(name, overload)
        return [short, short.rsplit("_", 1)[0]]
    base = parts[-1]
    if base.startswith("ufunc_"):
        if field == "declared_at":
            return ["structured_" + base]
        return [base[len("ufunc_"):].rsplit("_", 1)[0]]
    if field == "defined_at" and base.startswith("structured_"):
        return [base[len("structured_"):], base]
    if field == "declared_at":
        return [base, "structured_" + base]  # a structured kernel is declared as its struct
    return [base]


def check(root: Path, loc: str, kernel: str, field: str, cache: dict) -> tuple[bool, str]:
    path, _, line = loc.rpartition(":")
    if not line.isdigit():
        return False, "no line"
    n = int(line)
    if path not in cache:
        try:
            cache[path] = (root / path).read_text(errors="replace").splitlines()
        except OSError:
            cache[path] = None
    lines = cache[path]
    if lines is None:
        return False, "file missing"
    if not 1 <= n <= len(lines):
        return False, "line out of range"
    head = "\n".join(lines[n - 1:n + 3])
    names = _names(kernel, field)
    macro = re.match(r"\s*[A-Z][A-Z0-9_]*\s*\(([^;{]*)", head)  # its arguments may wrap
    if macro and field == "defined_at" and not path.endswith(".py"):
        # a macro that writes the body: CREATE_UNARY_..._FUNC(ceil_out, ...), ..._FUNC(eq) for eq_Scalar_out
        words = re.findall(r"\w+", macro.group(1))
        if any(x in words or any(re.search(rf"(^|_){re.escape(w)}(_|$)", x) for w in words if len(w) > 1)
               for x in names):
            return True, ""
    if not any(re.search(rf"\b{re.escape(x)}\b", head) for x in names):
        return False, f"{names[0]} not on that line: {lines[n - 1].strip()[:100]}"
    if field == "declared_at":
        return (path.endswith("_native.h"), "" if path.endswith("_native.h") else "not a <op>_native.h")
    if path.endswith(".py"):
        return (re.search(rf"def\s+{re.escape(names[0])}\b", head) is not None, "not a def")
    if re.search(r"TORCH_(IMPL|META)_FUNC2?\s*\(", head):
        return True, ""
    tail = "\n".join(lines[n - 1:n + 30])
    brace, semi = tail.find("{"), tail.find(";")
    if brace >= 0 and (semi < 0 or brace < semi):
        return True, ""
    return False, f"a declaration, not a body: {lines[n - 1].strip()[:100]}"


def _AnyFormat(db: Path):
    """An Index over a file of an older format (dispatch, defs, code_regs are the same in all)."""
    import sqlite3
    from torchatlas.indexes.store import Index, check_index_file
    index = Index.__new__(Index)
    index.path, index.meta = db, check_index_file(db, allow_old_schema=True)
    index._con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    return index


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="an index file")
    ap.add_argument("--source", help="a source (installed, or a tree path): its default index")
    ap.add_argument("--show", type=int, default=8, help="false locations to print per field")
    ap.add_argument("--any-format", action="store_true",
                    help="read an index of another format too (the tables this bench reads did not change)")
    args = ap.parse_args()
    from torchatlas.indexes.store import Index
    if args.db:
        db = Path(args.db)
    else:
        from torchatlas.indexes.pipeline import default_db_path
        from torchatlas.indexes.sources import open_source
        db = default_db_path(open_source(args.source or "installed"))
    t0 = time.perf_counter()
    index = _AnyFormat(db) if args.any_format else Index(db)
    root = Path(index.source.root)
    given: Counter = Counter()
    true: Counter = Counter()
    false_examples: dict[str, list[str]] = {"defined_at": [], "declared_at": []}
    kernels = cpp_kernels = none_given = 0
    unlocated: list[str] = []
    cache: dict = {}
    for _op, entries in index.dispatch_all():
        for e in entries:
            if not e.kernel:
                continue
            kernels += 1
            group = "CPU/CUDA" if e.key in ("CPU", "CUDA") else "other keys"
            if group == "CPU/CUDA" and "." not in e.kernel and not e.kernel.startswith("VariableType::"):
                cpp_kernels += 1
                none_given += not e.defined_at and not e.declared_at
                if not e.defined_at and not e.declared_at and len(unlocated) < args.show:
                    unlocated.append(f"{e.op} {e.key} {e.kernel}")
            for field in ("defined_at", "declared_at"):
                loc = getattr(e, field)
                if not loc:
                    continue
                ok, why = check(root, loc, e.kernel, field, cache)
                for g in (group, "all"):
                    given[(field, g)] += 1
                    true[(field, g)] += ok
                if not ok and len(false_examples[field]) < args.show:
                    false_examples[field].append(f"{e.op} {e.key} {e.kernel} -> {loc}: {why}")
    print(f"index {db} (torch {index.source.version}, {index.source.kind}); {kernels} entries name a kernel; "
          f"{time.perf_counter() - t0:.1f} s")
    for field in ("defined_at", "declared_at"):
        for g in ("all", "CPU/CUDA", "other keys"):
            n = given[(field, g)]
            share = f"{100 * true[(field, g)] / n:.2f}%" if n else "-"
            print(f"  {field:<12} {g:<11} given {n:>6}  true {true[(field, g)]:>6}  {share}")
        for ex in false_examples[field]:
            print(f"    false: {ex}")
    print(f"  CPU/CUDA C++ kernels with neither location: {none_given} of {cpp_kernels}"
          + (f" (e.g. {'; '.join(unlocated[:4])})" if unlocated else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
