"""Benchmark the bulk Python parser on a PyTorch source tree.

    python bench/bench_py_parse.py /root/.cache/pytorch-src/pytorch-v2.6.0 --jobs 2

Parses every .py file under torch/ torchgen/ tools/ with a multiprocessing pool (facts are
pickled back to the parent, as the indexer does), then times
`ctags -R --languages=Python -f /dev/null` on the same directories for comparison.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

DIRS = ("torch", "torchgen", "tools")


def _files(root: str, dirs) -> list[str]:
    out = []
    for d in dirs:
        top = os.path.join(root, d)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.endswith(".py"):
                    out.append(os.path.relpath(os.path.join(dirpath, fn), root))
    return out


_ROOT = ""


def _init(root: str) -> None:
    global _ROOT
    _ROOT = root
    from torchatlas.indexes.py_parser import parse_python  # noqa: F401  (warm the import)


def _work(rel: str):
    from torchatlas.indexes.py_parser import parse_python

    with open(os.path.join(_ROOT, rel), "rb") as fh:
        data = fh.read()
    t0 = time.process_time()
    facts = parse_python(rel, data)
    return len(data), time.process_time() - t0, facts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tree", help="root of a PyTorch source tree")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2; never more than 2 here)")
    ap.add_argument("--dirs", nargs="+", default=list(DIRS), help="subdirectories to parse")
    ap.add_argument("--no-ctags", action="store_true", help="skip the ctags comparison")
    args = ap.parse_args(argv)

    files = _files(args.tree, args.dirs)
    if not files:
        print(f"no .py files under {args.tree} {args.dirs}", file=sys.stderr)
        return 1
    jobs = max(1, args.jobs)

    t0 = time.perf_counter()
    counts = collections.Counter()
    reg_kinds = collections.Counter()
    nbytes = 0
    cpu = 0.0
    err_files = []
    if jobs == 1:
        _init(args.tree)
        results = map(_work, files)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_init, initargs=(args.tree,))
        results = pool.imap_unordered(_work, files, chunksize=8)
    for size, secs, facts in results:
        nbytes += size
        cpu += secs
        counts["definitions"] += len(facts.definitions)
        counts["includes"] += len(facts.includes)
        counts["references"] += len(facts.references)
        counts["registrations"] += len(facts.registrations)
        counts["parse_errors"] += facts.parse_errors
        for r in facts.registrations:
            reg_kinds[r.kind] += 1
        if facts.parse_errors:
            err_files.append((facts.path, facts.parse_errors))
    if pool is not None:
        pool.close()
        pool.join()
    wall = time.perf_counter() - t0
    mb = nbytes / 1e6

    print(f"tree        {args.tree}  dirs: {' '.join(args.dirs)}")
    print(f"files       {len(files)}")
    print(f"MB          {mb:.1f}")
    print(f"jobs        {jobs}")
    print(f"wall s      {wall:.2f}   (incl. pool start, reading files, pickling facts back)")
    print(f"MB/s        {mb / wall:.1f} wall   {mb / cpu:.1f} per core (parse_python CPU time {cpu:.2f} s)")
    print("facts       " + "  ".join(f"{k}={v}" for k, v in counts.items() if k != "parse_errors"))
    print("reg kinds   " + "  ".join(f"{k}={v}" for k, v in reg_kinds.most_common()))
    print(f"parse errs  {counts['parse_errors']} in {len(err_files)} files"
          + (": " + ", ".join(f"{p}({n})" for p, n in err_files[:5]) if err_files else ""))

    if not args.no_ctags:
        ctags = shutil.which("ctags") or "/usr/bin/ctags"
        if os.path.exists(ctags):
            t0 = time.perf_counter()
            subprocess.run([ctags, "-R", "--languages=Python", "-f", "/dev/null", *args.dirs],
                           cwd=args.tree, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ct = time.perf_counter() - t0
            print(f"ctags s     {ct:.2f}   ({mb / ct:.1f} MB/s, 1 core)   parser/ctags wall ratio {wall / ct:.2f}")
        else:
            print("ctags       not found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
