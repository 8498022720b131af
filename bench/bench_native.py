#!/usr/bin/env python3
"""The native build mode's promises, measured on lab fix-a-kernel's solution. Prints figures, asserts nothing.

    python bench/bench_native.py [--runs N] [--native-op | --only-native-op]   (MAX_JOBS=N sets ninja's -j, as for PyTorch;
    TORCHATLAS_NATIVE_PCH=0 builds without precompiled headers, for the before/after comparison)

Figures, each wall and CPU time of the build's child processes (this machine is shared: CPU time
drifts less than wall time):
- toolchain probe: asking the installed torch for its include dirs, ABI and C++ standard (once per
  workspace, cached in the build folder);
- cold build: 4 objects (the structured impl + registration, the kernel x DEFAULT/AVX2/AVX512),
  link, load probe;
- nothing changed: ninja finds no work, the stamp is reused (promise: under 2 s);
- kernel edit: one line of lab/cpu/BinaryOpsKernel.cpp changed, its three objects rebuilt (promise:
  1-4 s on 2 idle cores at -j2);
- floor, same run: one bare g++ -c of the kernel file with the same flags (DEFAULT), measured
  before the cold build and right after each kernel edit; the machine is shared, so the ratio
  to this floor is the figure to compare across runs (without PCH a kernel edit is about three
  floors over the number of jobs, plus link and load probe).

--native-op also measures lab native-op (a new aten::logcosh): cold with an empty PCH cache (the
first native lab ever: torchgen on the workspace's YAML, the pristine generation taken from the
user cache, the kernel's PCHs and the one of torchgen's slices, 6 objects: the lab's two files, the
kernel x3, torchgen's slices as two units), cold in a second workspace (the PCHs cached: a
learner's usual first build), nothing changed, a kernel edit, a derivatives.yaml edit (the
autograd half of torchgen, then the autograd unit) and a native_functions.yaml edit (the functional
loses a tag: both halves of torchgen, the units they changed); each beside a bare torchgen of the
same YAML in the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "patches" / "fix-a-kernel"
KERNEL = "lab/cpu/BinaryOpsKernel.cpp"


class _Lab:
    path = "lab.yaml"

    def __init__(self, lab_id="fix-a-kernel", name="lab_logaddexp", sources=("lab/BinaryOps.cpp",),
                 kernel=KERNEL):
        from torchatlas.contrib.model import BuildSpec

        self.id = lab_id
        self.build = BuildSpec(name=name, sources=sources, per_capability=(kernel,))


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
    ap.add_argument("--native-op", action="store_true", help="also lab native-op (torchgen + a new operator)")
    ap.add_argument("--only-native-op", action="store_true", help="lab native-op alone")
    args = ap.parse_args()
    if args.only_native_op:
        bench_native_op()
        return 0
    from torchatlas.contrib.builders import native, native_ninja
    from torchatlas.contrib.builders.native_toolchain import toolchain

    from torchatlas.contrib.builders import native_pch

    lab = _Lab()
    with tempfile.TemporaryDirectory(prefix="bench-native-") as tmp, \
            tempfile.TemporaryDirectory(prefix="bench-pch-") as pch_cache:
        native_pch.cache_root = lambda: Path(pch_cache)  # an empty PCH cache: the first lab ever
        ws = Path(tmp) / "ws"
        ws2 = Path(tmp) / "ws2"
        for w in (ws, ws2):
            w.mkdir()
            for patch in ("starter.patch", "solution.patch"):
                subprocess.run(["git", "apply", str(LAB / patch)], cwd=w, check=True)
        print(f"native build mode, lab fix-a-kernel; ninja -j{native_ninja.jobs()}")
        tc, wall, cpu = timed(lambda: toolchain(native.build_dir(ws)))
        print(f"  toolchain probe        {wall:6.2f} s wall  {cpu:6.2f} s cpu   (torch {tc.version}, -std={tc.cxx_std})")
        res, wall, cpu = timed(lambda: native.build(lab, ws))
        assert res.ok, res.diagnostics
        cold = (wall, cpu)
        pch = "PCH per capability" if os.environ.get("TORCHATLAS_NATIVE_PCH", "1") != "0" else "no PCH"
        print(f"  cold build             {wall:6.2f} s wall  {cpu:6.2f} s cpu   (4 objects, {pch}, link, load probe;"
              " PCH cache empty)")
        res2, wall2, cpu2 = timed(lambda: native.build(lab, ws2))
        assert res2.ok, res2.diagnostics
        cold2 = (wall2, cpu2)
        print(f"  cold build, 2nd ws     {wall2:6.2f} s wall  {cpu2:6.2f} s cpu   (another workspace: the PCHs are cached)")
        cflags = [*tc.cflags(), "-I", ".", "-DCPU_CAPABILITY=DEFAULT", "-DCPU_CAPABILITY_DEFAULT"]
        out = ws / "floor.o"
        cmd = [shutil.which("g++") or "g++", *cflags, "-c", KERNEL, "-o", str(out)]
        floor = lambda: timed(lambda: subprocess.run(cmd, cwd=ws, check=True))[1:]  # noqa: E731
        ref_cold = floor()
        print(f"  floor: one g++ -c      {ref_cold[0]:6.2f} s wall  {ref_cold[1]:6.2f} s cpu   "
              f"({shlex.quote(KERNEL)}, DEFAULT, same run)   cold = {cold[0] / ref_cold[0]:.2f}x floor, "
              f"2nd workspace {cold2[0] / ref_cold[0]:.2f}x")
        noop, edit, refs = [], [], []
        kernel = ws / KERNEL
        for i in range(args.runs):
            r, wall, cpu = timed(lambda: native.build(lab, ws))
            assert r.ok and r.cached
            noop.append((wall, cpu))
            kernel.write_text(kernel.read_text() + f"// edit {i}\n")
            r, wall, cpu = timed(lambda: native.build(lab, ws))
            assert r.ok and not r.cached
            edit.append((wall, cpu))
            refs.append(floor())  # beside each edit: the load changes by the minute
        med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
        print(f"  nothing changed        {med(noop, 0):6.2f} s wall  {med(noop, 1):6.2f} s cpu   (median of {len(noop)})")
        ratios = [e[0] / f[0] for e, f in zip(edit, refs)]
        print(f"  kernel edit            {med(edit, 0):6.2f} s wall  {med(edit, 1):6.2f} s cpu   "
              f"(median of {len(edit)}; 3 objects, link, load probe)")
        print(f"  floor beside each edit {med(refs, 0):6.2f} s wall  {med(refs, 1):6.2f} s cpu   "
              f"kernel edit = {statistics.median(ratios):.2f}x floor (each: "
              + ", ".join(f"{x:.2f}" for x in ratios) + ")")
    if args.native_op:
        bench_native_op()
    return 0


def bench_native_op() -> None:
    """Lab native-op in a workspace holding a copy of the installed torchgen/ (what `lab start`
    copies), the starter and the solution applied."""
    import importlib.util

    from torchatlas.contrib.builders import native, native_pch

    lab = _Lab("native-op", "lab_logcosh", ("lab/UnaryOps.cpp",), "lab/cpu/UnaryOpsKernel.cpp")
    tg = Path(importlib.util.find_spec("torch").submodule_search_locations[0]).parent / "torchgen"
    with tempfile.TemporaryDirectory(prefix="bench-native-op-") as tmp, \
            tempfile.TemporaryDirectory(prefix="bench-pch-") as pch_cache:
        cache_root = native_pch.cache_root
        native_pch.cache_root = lambda: Path(pch_cache)  # an empty PCH cache: the first native lab ever
        ws, ws2 = Path(tmp) / "ws", Path(tmp) / "ws2"
        for w in (ws, ws2):
            shutil.copytree(tg, w / "torchgen", ignore=shutil.ignore_patterns("__pycache__"))
            for patch in ("starter.patch", "solution.patch"):
                subprocess.run(["git", "apply", str(ROOT / "patches" / "native-op" / patch)], cwd=w, check=True)
        print(f"lab native-op (aten::logcosh); ninja -j{native_ninja_jobs()}")
        step = partial(_measured, native.build, lab)
        r = step(ws, "cold build, PCH cache empty", "torchgen and every object",
                 reference=("bare torchgen (ATen + autograd) on the same YAML", lambda: _bare_torchgen(ws)))
        print(f"    {r.summary}")
        step(ws2, "cold build, 2nd ws", "the PCHs cached",
             reference=("bare torchgen (ATen + autograd)", lambda: _bare_torchgen(ws2)))
        step(ws, "nothing changed", cached=True)
        k = ws / "lab/cpu/UnaryOpsKernel.cpp"
        k.write_text(k.read_text() + "// edit\n")
        step(ws, "kernel edit")
        d = ws / "torchgen/packaged/autograd/derivatives.yaml"
        d.write_text(d.read_text().replace("self: grad * self.tanh()", "self: self.tanh() * grad"))
        step(ws, "derivatives.yaml edit", "autograd torchgen + its objects",
             reference=("bare torchgen autograd half", lambda: _bare_torchgen(ws, aten=False)))
        # the learner's other YAML: the functional logcosh loses its `tags: pointwise` (the schema
        # registration and the generated code of both overloads change: ATen and autograd torchgen)
        y = ws / "torchgen/packaged/ATen/native/native_functions.yaml"
        text = y.read_text()
        entry = "- func: logcosh(Tensor self) -> Tensor\n  structured_delegate: logcosh.out\n  variants: function\n"
        assert entry + "  tags: pointwise\n" in text, "the native-op solution's YAML entry changed: update the bench"
        y.write_text(text.replace(entry + "  tags: pointwise\n", entry))
        step(ws, "native_functions.yaml edit", "torchgen + the objects it changed",
             reference=("bare torchgen (ATen + autograd)", lambda: _bare_torchgen(ws)))
        native_pch.cache_root = cache_root


def _measured(build, lab, ws: Path, label: str, note: str = "", cached: bool = False, reference=None):
    """One build of `lab` in `ws`: wall and CPU, where its time went (_Profile), and, with
    `reference` (what, a function timing it), that reference measured right after, same run, and
    the ratio. `cached`: the build must be a no-op."""
    prof = _Profile()
    r, wall, cpu = timed(lambda: build(lab, ws, progress=prof))
    assert r.ok and (r.cached or not cached), r.diagnostics
    print(f"  {label:<26} {wall:6.2f} s wall  {cpu:6.2f} s cpu" + (f"   ({note})" if note else ""))
    prof.show()
    if reference is not None:
        what, timing = reference
        ref = timing()
        print(f"  reference: {what}, same run: {ref:6.2f} s wall   {label} = {wall / ref:.2f}x")
    return r


class _Profile:
    """Where a build's time goes. ninja writes `[i/n] X` (piped, not a terminal) when X ends, so the
    time since the previous line is X's own; the builder's own lines (torchgen, precompiling...)
    are written when their step starts, so their step's time is on the line after them."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.marks: list[tuple[float, str]] = []

    def __call__(self, msg: str) -> None:
        self.marks.append((time.perf_counter(), msg))

    def show(self) -> None:
        prev = self.t0
        for t, msg in self.marks + [(time.perf_counter(), "(end: load probe)")]:
            if t - prev >= 0.5:
                print(f"      {t - prev:6.2f} s  until: {msg[:100]}")
            prev = t


def native_ninja_jobs() -> int:
    from torchatlas.contrib.builders import native_ninja

    return native_ninja.jobs()


def _bare_torchgen(ws: Path, aten: bool = True) -> float:
    """torchgen alone on the workspace's YAML into a scratch folder (the same call the builder makes)."""
    from torchatlas.contrib.builders import codegen

    with tempfile.TemporaryDirectory(prefix="bench-tg-", dir=ws) as tmp:
        t0 = time.perf_counter()
        codegen.run_torchgen(ws / "torchgen", Path(tmp) / "out", aten=aten, autograd=True, workspace=ws)
        return time.perf_counter() - t0

if __name__ == "__main__":
    sys.exit(main())
