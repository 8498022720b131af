"""How often a dispatch entry's `defined_at` / `declared_at` is true, checked against the files.

For every (operator, key) entry of an index that gives a location, open the file at that line and
check it independently of how the index found it:

- `defined_at` is true when the kernel's name is written on that line (or the next three: a
  signature may wrap) and a body follows (`{` before any `;`); TORCH_IMPL_FUNC(name) counts;
  a ufunc kernel (ufunc_add_CPU) is defined by its inner loop, `add` in native/ufunc/add.h;
  a Python kernel (torch._meta_registrations.meta_mm) by `def meta_mm`.
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
    base = kernel.rsplit("::", 1)[-1]
    if base.startswith("ufunc_"):
        if field == "declared_at":
            return ["structured_" + base]
        return [base[len("ufunc_"):].rsplit("_", 1)[0]]
    if field == "defined_at" and base.startswith("structured_"):
        return [base[len("structured_"):], base]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="an index file")
    ap.add_argument("--source", help="a source (installed, or a tree path): its default index")
    ap.add_argument("--show", type=int, default=8, help="false locations to print per field")
    args = ap.parse_args()
    from torchatlas.indexes.store import Index
    if args.db:
        db = Path(args.db)
    else:
        from torchatlas.indexes.pipeline import default_db_path
        from torchatlas.indexes.sources import open_source
        db = default_db_path(open_source(args.source or "installed"))
    t0 = time.perf_counter()
    index = Index(db)
    root = Path(index.source.root)
    given: Counter = Counter()
    true: Counter = Counter()
    false_examples: dict[str, list[str]] = {"defined_at": [], "declared_at": []}
    kernels = 0
    cache: dict = {}
    for _op, entries in index.dispatch_all():
        for e in entries:
            if not e.kernel:
                continue
            kernels += 1
            group = "CPU/CUDA" if e.key in ("CPU", "CUDA") else "other keys"
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
