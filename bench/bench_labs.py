#!/usr/bin/env python3
"""What a learner waits for in the python mode, with same-run references. Prints figures, asserts nothing.

    python bench/bench_labs.py [--runs N] [--dev LAB ...]

Figures
  start     `create_workspace` on the installed torch (copy of the .py files with their bytecode,
            symlinks to the rest, git commits pristine + starter); reference: a bare `cp -r` of the
            same torch package's .py files in the same run.
  import    `import torch` from a workspace (PYTHONPATH=workspace) vs from site-packages.
  check     `lab check` of a python lab's starter (all check files in one pytest process); the
            reference is the same pytest run on a bare `python -c "import torch"`.
  dev       `lab dev check` of the labs named with --dev (each stage's time): what the suite pays.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _t(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _fmt(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--lab", default="autograd-function", help="the python lab for start/check")
    ap.add_argument("--dev", nargs="*", default=[], metavar="LAB")
    args = ap.parse_args()

    from torchatlas.contrib.checks import run_checks
    from torchatlas.contrib.devcheck import dev_check
    from torchatlas.contrib.loader import load_labs
    from torchatlas.contrib.workspace import create_workspace
    from torchatlas.indexes.sources import open_source

    lab = load_labs().labs[args.lab]
    source = open_source("installed")
    site = Path(source.info.root)
    tmp = Path(tempfile.mkdtemp(prefix="bench-labs-"))
    try:
        starts, copies, ws = [], [], None
        for i in range(args.runs):
            def copy_py(dst=tmp / f"cp{i}"):
                shutil.copytree(site / "torch", dst, ignore=lambda d, names: [
                    n for n in names if not n.endswith(".py") and not os.path.isdir(os.path.join(d, n))])
            copies.append(_t(copy_py))
            dest = tmp / f"ws{i}"
            starts.append(_t(lambda: create_workspace(lab, source, dest)))
            ws = dest
        size = subprocess.run(["du", "-sm", str(ws)], capture_output=True, text=True).stdout.split()[0]
        print(f"start      workspace: {_fmt(starts)}; {size} MB on disk")
        print(f"           reference, bare copy of torch's .py files: {_fmt(copies)}")

        env_ws = {**os.environ, "PYTHONPATH": str(ws)}
        imp = [_t(lambda: subprocess.run([sys.executable, "-c", "import torch"], env=env_ws, check=True))
               for _ in range(args.runs)]
        ref = [_t(lambda: subprocess.run([sys.executable, "-c", "import torch"], check=True)) for _ in range(args.runs)]
        print(f"import     from the workspace: {_fmt(imp)}; from site-packages: {_fmt(ref)}")

        checks = [_t(lambda: run_checks(lab, ws)) for _ in range(args.runs)]
        print(f"check      `lab check {lab.id}` (starter, {len(lab.checks)} check files): {_fmt(checks)} "
              f"(reference: one `import torch` {statistics.median(ref):.2f} s)")

        for lab_id in args.dev:
            d = load_labs().labs[lab_id]
            r = dev_check(d, source, workdir=tmp)
            stages = ", ".join(f"{s.name.split(' (')[0]} {s.verdict.seconds:.1f}s" for s in r.stages if s.verdict)
            print(f"dev        {lab_id}: {'honest' if r.ok else 'NOT honest'} in {r.seconds:.1f} s ({stages})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
