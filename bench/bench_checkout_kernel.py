#!/usr/bin/env python3
"""fix-a-kernel on a checkout of the installed torch's release: the tree's own
aten/src/ATen/native/TriangularOps.cpp built into the installed torch. Prints figures, asserts nothing.

    <python with torch==X.Y.Z> bench/bench_checkout_kernel.py --source CHECKOUT [--runs N]

CHECKOUT is a git checkout of release X.Y.Z (../shared/pytorch-source/fetch --git gives v2.6.0;
a Python with torch==2.6.0: `python3 -m venv v && v/bin/pip install torch==2.6.0 numpy && v/bin/pip
install -e .`). In a worktree of it, with the lab's solution applied:
- cold build: TriangularOps.cpp and lab/RegisterCPU_tril.cpp (torchgen's wrappers for tril),
  link, load probe;
- nothing changed: ninja finds no work;
- kernel edit: one line of TriangularOps.cpp changed, its object rebuilt, link, load probe;
- lab check: the build (nothing changed) and the three check files, each in a fresh process;
- floor, same run: one bare `g++ -c` of TriangularOps.cpp with the same flags, beside each edit
  (the machine is shared: the ratio to it is the figure to compare across runs).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_native import timed  # this folder is the script's sys.path[0]

KERNEL = "aten/src/ATen/native/TriangularOps.cpp"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True, help="a git checkout of the installed torch's release")
    ap.add_argument("--runs", type=int, default=3, help="kernel edits and no-op builds to time (default 3)")
    args = ap.parse_args()
    from torchatlas.contrib.builders import native
    from torchatlas.contrib.builders.native_toolchain import toolchain
    from torchatlas.contrib.loader import load_labs
    from torchatlas.contrib.runner import verify
    from torchatlas.contrib.variants import for_source
    from torchatlas.contrib.workspace import apply_patch_file, check_root, create_workspace, remove_checkout_workspace
    from torchatlas.indexes.sources import installed_version, open_source

    source = open_source(args.source)
    lab, note = for_source(load_labs().labs["fix-a-kernel"], source.info.layout, source.info.version,
                           installed_version())
    if lab.variant != "checkout":
        print(f"bench_checkout_kernel: {note or 'not a checkout'}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-checkout-kernel-") as tmp:
        ws = create_workspace(lab, source, Path(tmp) / "ws", branch=f"torchatlas/bench/{time.time_ns()}")
        try:
            apply_patch_file(ws.root, lab.solution_patch, kind=ws.kind)
            root = check_root(ws)[0]
            print(f"fix-a-kernel on a checkout: torch {installed_version()}, tree {source.info.version}")
            tc = toolchain(native.build_dir(root))
            flags = [*tc.cflags(), *lab.build.extra_cflags, "-I", "."]
            floor_cmd = [shutil.which("g++") or "g++", *flags, "-c", KERNEL, "-o", str(Path(tmp) / "floor.o")]
            floor = lambda: timed(lambda: subprocess.run(floor_cmd, cwd=root, check=True))[1:]  # noqa: E731
            ref = floor()
            res, wall, cpu = timed(lambda: native.build(lab, root))
            assert res.ok, res.diagnostics
            print(f"  cold build             {wall:6.2f} s wall  {cpu:6.2f} s cpu   (2 objects, link, load probe) = "
                  f"{wall / ref[0]:.2f}x the floor")
            print(f"  floor: one g++ -c      {ref[0]:6.2f} s wall  {ref[1]:6.2f} s cpu   ({KERNEL}, same run)")
            noop, edit, refs = [], [], []
            kernel = ws.root / KERNEL
            for i in range(args.runs):
                r, wall, cpu = timed(lambda: native.build(lab, check_root(ws)[0]))
                assert r.ok and r.cached
                noop.append((wall, cpu))
                kernel.write_text(kernel.read_text() + f"// edit {i}\n")
                r, wall, cpu = timed(lambda: native.build(lab, check_root(ws)[0]))
                assert r.ok and not r.cached, r.diagnostics
                edit.append((wall, cpu))
                refs.append(floor())
            med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
            ratios = [e[0] / f[0] for e, f in zip(edit, refs)]
            print(f"  nothing changed        {med(noop, 0):6.2f} s wall  {med(noop, 1):6.2f} s cpu   "
                  f"(median of {len(noop)}, with the overlay sync)")
            print(f"  kernel edit            {med(edit, 0):6.2f} s wall  {med(edit, 1):6.2f} s cpu   "
                  f"(median of {len(edit)}: 1 object, link, load probe)")
            print(f"  floor beside each edit {med(refs, 0):6.2f} s wall  {med(refs, 1):6.2f} s cpu   kernel edit = "
                  f"{statistics.median(ratios):.2f}x floor (each: " + ", ".join(f"{x:.2f}" for x in ratios) + ")")
            verdict, wall, _cpu = timed(lambda: verify(lab, check_root(ws)[0]))
            print(f"  lab check              {wall:6.2f} s wall   ({sum(r.passed for r in verdict.results)}/"
                  f"{len(verdict.results)} passed: build unchanged, 3 check files in fresh processes)")
        finally:
            remove_checkout_workspace(Path(ws.source_root), ws.root, ws.branch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
