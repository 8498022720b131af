"""Benchmark the bulk C++ parser (torchatlas.indexes.cpp_parser) on a PyTorch source tree.

    python bench/bench_cpp_parse.py /path/to/pytorch --jobs 2

Parses every C++/CUDA file (.h .hpp .cpp .cc .cu .cuh) under aten/ c10/ torch/csrc/ with a
multiprocessing pool (each worker reads its files and pickles the FileFacts back, as the real
indexer does), prints files, MB, wall seconds, MB/s (total and per worker), fact counts, and the
wall time of universal-ctags on the same directories for comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import get_context

DEFAULT_DIRS = ("aten", "c10", "torch/csrc")


def _suffixes():
    from torchatlas.indexes.cpp_parser import CPP_SUFFIXES

    return CPP_SUFFIXES


def collect(root: str, dirs) -> list[tuple[str, int]]:
    suffixes = _suffixes()
    out = []
    for d in dirs:
        base = os.path.join(root, d)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for fn in filenames:
                if fn.endswith(suffixes):
                    full = os.path.join(dirpath, fn)
                    out.append((os.path.relpath(full, root), os.path.getsize(full)))
    out.sort(key=lambda t: -t[1])  # biggest first: better load balance
    return out


_ROOT = ""
_COUNTS_ONLY = False
_RAW = False


def _init(root: str, counts_only: bool, raw: bool = False) -> None:
    global _ROOT, _COUNTS_ONLY, _RAW
    _ROOT = root
    _COUNTS_ONLY = counts_only
    _RAW = raw
    from torchatlas.indexes.cpp.treesitter import _ts

    _ts()  # build parser and query once per worker, outside the timed work


def _work(rel: str):
    from torchatlas.indexes.cpp_parser import parse_cpp

    with open(os.path.join(_ROOT, rel), "rb") as f:
        data = f.read()
    if _RAW:  # tree-sitter alone, for reference
        from torchatlas.indexes.cpp.treesitter import _ts

        parser = _ts()[0]
        t0 = time.process_time()
        parser.parse(data)
        return rel, len(data), time.process_time() - t0, (0, 0, 0, 0, 0)
    t0 = time.process_time()  # CPU time: other load on the machine does not inflate it
    facts = parse_cpp(rel, data)
    dt = time.process_time() - t0
    if _COUNTS_ONLY:
        return rel, len(data), dt, (len(facts.definitions), len(facts.registrations), len(facts.references),
                                    len(facts.includes), facts.parse_errors)
    return rel, len(data), dt, facts


def _counts(x):
    if isinstance(x, tuple):
        return x
    return (len(x.definitions), len(x.registrations), len(x.references), len(x.includes), x.parse_errors)


def run_ctags(root: str, dirs) -> float | None:
    ctags = shutil.which("ctags") or "/usr/bin/ctags"
    if not os.path.exists(ctags):
        return None
    # `-f /dev/null` makes universal-ctags 5.9 abort ("failed to truncate the tag file") before
    # parsing anything, so the tags go to stdout and stdout to /dev/null instead.
    cmd = [ctags, "-R", "--languages=C++", "--langmap=C++:+.cu.cuh", "-f", "-", *dirs]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t0


def _run(root: str, rels: list[str], jobs: int, counts_only: bool, raw: bool):
    t0 = time.perf_counter()
    if jobs <= 1:
        _init(root, counts_only, raw)
        t0 = time.perf_counter()
        results = [_work(r) for r in rels]
    else:
        ctx = get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(jobs, initializer=_init, initargs=(root, counts_only, raw)) as pool:
            results = list(pool.imap_unordered(_work, rels, chunksize=8))
    return results, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("root", help="PyTorch source tree")
    ap.add_argument("--jobs", "-j", type=int, default=2, help="worker processes (1: in-process, no pool)")
    ap.add_argument("--dirs", nargs="*", default=list(DEFAULT_DIRS), help="subdirectories to parse")
    ap.add_argument("--limit", type=int, default=0, help="parse only the first N files (by path)")
    ap.add_argument("--counts-only", action="store_true", help="workers return counts, not FileFacts")
    ap.add_argument("--no-ctags", action="store_true", help="skip the ctags comparison")
    ap.add_argument("--slowest", type=int, default=5, help="print the N slowest files")
    ap.add_argument("--raw", action="store_true",
                    help="also time a pass of bare tree-sitter parsing of the same files, for reference")
    args = ap.parse_args(argv)

    root = os.path.abspath(args.root)
    files = collect(root, args.dirs)
    if args.limit:
        files = sorted(files)[: args.limit]
        files.sort(key=lambda t: -t[1])
    total_bytes = sum(s for _, s in files)
    rels = [r for r, _ in files]

    results, wall = _run(root, rels, args.jobs, args.counts_only, False)
    raw = _run(root, rels, args.jobs, True, True) if args.raw else None

    n_def = n_reg = n_ref = n_inc = n_err = 0
    files_with_errors = 0
    cpu = 0.0
    for _, _, dt, x in results:
        d, g, r, i, e = _counts(x)
        n_def += d
        n_reg += g
        n_ref += r
        n_inc += i
        n_err += e
        files_with_errors += e > 0
        cpu += dt
    mb = total_bytes / 1e6
    jobs = max(1, args.jobs)
    print(f"tree          {root} ({' '.join(args.dirs)})")
    print(f"files         {len(files)}")
    print(f"MB            {mb:.1f}")
    print(f"jobs          {jobs}")
    print(f"wall s        {wall:.2f}")
    print(f"MB/s          {mb / wall:.2f} total, {mb / wall / jobs:.2f} per worker (wall)")
    print(f"parse_cpp     {cpu:.2f} s CPU summed over workers = {mb / cpu:.2f} MB/s per core")
    if raw is not None:
        raw_cpu = sum(t[2] for t in raw[0])
        print(f"tree-sitter   {raw_cpu:.2f} s CPU for bare parsing of the same files = {mb / raw_cpu:.2f} MB/s per core"
              f" (wall {raw[1]:.2f} s); parse_cpp reaches {raw_cpu / cpu:.0%} of it")
    print(f"definitions   {n_def}")
    print(f"registrations {n_reg}")
    print(f"references    {n_ref}")
    print(f"includes      {n_inc}")
    print(f"parse errors  {n_err} (ERROR nodes) in {files_with_errors} files")
    if args.slowest:
        for rel, size, dt, _ in sorted(results, key=lambda t: -t[2])[: args.slowest]:
            print(f"  slow: {dt:6.3f} s  {size / 1e3:8.0f} KB  {rel}")
    if not args.no_ctags:
        ct = run_ctags(root, args.dirs)
        if ct is None:
            print("ctags         not found")
        else:
            print(f"ctags         {ct:.2f} s (ctags -R --languages=C++ --langmap=C++:+.cu.cuh, 1 process);"
                  f" ratio wall/ctags = {wall / ct:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
