#!/usr/bin/env python3
"""The native build mode's promises, measured on lab fix-a-kernel's solution. Prints figures, asserts nothing.

    python bench/bench_native.py [--runs N]      (MAX_JOBS=N sets ninja's -j, as for PyTorch)

Figures, each wall and CPU time of the build's child processes (this machine is shared: CPU time
drifts less than wall time):
- toolchain probe: asking the installed torch for its include dirs, ABI and C++ standard (once per
  workspace, cached in the build folder);
- cold build: 4 objects (the structured impl + registration, the kernel x DEFAULT/AVX2/AVX512),
  link, load probe;
- nothing changed: ninja finds no work, the stamp is reused (promise: under 2 s);
- kernel edit: one line of lab/cpu/BinaryOpsKernel.cpp changed, its three objects rebuilt (promise:
  1-4 s on 2 idle cores at -j2);
- floor, same run: one bare g++ -c of the kernel file with the same flags (a kernel edit costs about
  three of these over the number of jobs, plus link and load probe).
"""

from __future__ import annotations

import argparse
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "patches" / "fix-a-kernel"
KERNEL = "lab/cpu/BinaryOpsKernel.cpp"


class _Lab:
    id = "fix-a-kernel"
    path = "lab.yaml"

    def __init__(self):
        from torchatlas.contrib.model import BuildSpec

        self.build = BuildSpec(name="lab_logaddexp", sources=("lab/BinaryOps.cpp",), per_capability=(KERNEL,))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(fn):
    c0, t0 = _children_cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, _children_cpu() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=2, help="kernel edits and no-op builds to time (default 2)")
    args = ap.parse_args()
    from torchatlas.contrib.builders import native, native_ninja
    from torchatlas.contrib.builders.native_toolchain import toolchain

    lab = _Lab()
    with tempfile.TemporaryDirectory(prefix="bench-native-") as tmp:
        ws = Path(tmp)
        for patch in ("starter.patch", "solution.patch"):
            subprocess.run(["git", "apply", str(LAB / patch)], cwd=ws, check=True)
        print(f"native build mode, lab fix-a-kernel; ninja -j{native_ninja.jobs()}")
        tc, wall, cpu = timed(lambda: toolchain(native.build_dir(ws)))
        print(f"  toolchain probe        {wall:6.2f} s wall  {cpu:6.2f} s cpu   (torch {tc.version}, -std={tc.cxx_std})")
        res, wall, cpu = timed(lambda: native.build(lab, ws))
        assert res.ok, res.diagnostics
        print(f"  cold build             {wall:6.2f} s wall  {cpu:6.2f} s cpu   (4 objects, link, load probe)")
        noop, edit = [], []
        kernel = ws / KERNEL
        for i in range(args.runs):
            r, wall, cpu = timed(lambda: native.build(lab, ws))
            assert r.ok and r.cached
            noop.append((wall, cpu))
            kernel.write_text(kernel.read_text() + f"// edit {i}\n")
            r, wall, cpu = timed(lambda: native.build(lab, ws))
            assert r.ok and not r.cached
            edit.append((wall, cpu))
        med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
        print(f"  nothing changed        {med(noop, 0):6.2f} s wall  {med(noop, 1):6.2f} s cpu   (median of {len(noop)})")
        print(f"  kernel edit            {med(edit, 0):6.2f} s wall  {med(edit, 1):6.2f} s cpu   "
              f"(median of {len(edit)}; 3 objects, link, load probe)")
        cflags = [*tc.cflags(), "-I", ".", "-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"]
        out = ws / "floor.o"
        cmd = [shutil.which("g++") or "g++", *cflags, "-c", KERNEL, "-o", str(out)]
        _, wall, cpu = timed(lambda: subprocess.run(cmd, cwd=ws, check=True))
        print(f"  floor: one g++ -c      {wall:6.2f} s wall  {cpu:6.2f} s cpu   ({shlex.quote(KERNEL)}, DEFAULT)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
