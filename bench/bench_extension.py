"""Benchmark the extension build mode against a bare `cpp_extension.load` of the same source, in one run.

    python bench/bench_extension.py [--lab cpp-custom-op] [--workdir DIR]

1. bare: a fresh Python process runs `torch.utils.cpp_extension.load(name, [the lab's solution
   source], build_directory=<fresh temp dir>, is_python_module=False)`: import torch, ninja, g++,
   link, load. What a learner would pay doing it by hand.
2. torchatlas cold: a fresh workspace with the solution applied (not timed), then `lab check`'s
   path: the extension builder (its own fresh process, cold build folder) + the lab's checks.
   Promise: within 1.3x of (1).
3. nothing changed: the same workspace built again (the stamp answers), and the whole check again.
   Promise: the rebuild under 2 s.

Run it on a quiet machine: other compiles change every figure. MAX_JOBS is passed through
(a lab has one source, so it rarely matters).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RATIO_PROMISE = 1.3
NOTHING_CHANGED_PROMISE = 2.0

_BARE = r"""
import json, sys, time
t0 = time.monotonic()
from torch.utils import cpp_extension
t1 = time.monotonic()
a = json.loads(sys.argv[1])
cpp_extension.load(name=a["name"], sources=a["sources"], build_directory=a["build_dir"],
                   is_python_module=False, verbose=False)
print(json.dumps({"import": t1 - t0, "load": time.monotonic() - t1}))
"""


def bare_load(name: str, sources: list[Path], build_dir: Path) -> tuple[float, dict]:
    build_dir.mkdir(parents=True)
    args = json.dumps({"name": name, "sources": [str(s) for s in sources], "build_dir": str(build_dir)})
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", _BARE, args], capture_output=True, text=True)
    wall = time.monotonic() - t
    if out.returncode != 0:
        sys.exit(f"bare cpp_extension.load failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", default="cpp-custom-op")
    ap.add_argument("--workdir", help="where the temporary workspaces go (default: a temp dir, removed)")
    args = ap.parse_args(argv)

    from torchatlas.contrib import builders
    from torchatlas.contrib.loader import load_labs
    from torchatlas.contrib.workspace import apply_patch_file, create_workspace
    from torchatlas.indexes.sources import open_source

    lab = next((lab for lab in load_labs(builtin=True).ordered() if lab.id == args.lab), None)
    if lab is None or lab.mode.value != "extension":
        sys.exit(f"no extension lab {args.lab!r}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-extension-", dir=args.workdir))
    try:
        print(f"lab {lab.id}: build {lab.build.name} from {', '.join(lab.build.sources)}; "
              f"python {sys.version.split()[0]}, MAX_JOBS={os.environ.get('MAX_JOBS', '(unset)')}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        t = time.monotonic()
        ws = create_workspace(lab, open_source("installed"), tmp / "ws")
        apply_patch_file(ws.root, lab.solution_patch)
        print(f"workspace with the solution applied: {time.monotonic() - t:.2f} s (not part of the figures)")

        # 1. bare cpp_extension.load of the same source files, cold, in a fresh process
        src_copy = tmp / "bare-src"
        sources = []
        for rel in lab.build.sources:
            dest = src_copy / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ws.root / rel, dest)
            sources.append(dest)
        bare, parts = bare_load(lab.build.name, sources, tmp / "bare-build")
        print(f"bare cpp_extension.load (cold, fresh process): {bare:6.2f} s "
              f"(import torch.utils.cpp_extension {parts['import']:.2f} s, build + load {parts['load']:.2f} s)")

        # 2. torchatlas cold: what `lab check` does (runner.verify: the build, with the check process
        #    started beside it, then the lab's checks)
        from torchatlas.contrib.runner import verify
        t = time.monotonic()
        verdict = verify(lab, ws.root)
        cold = time.monotonic() - t
        build = next(r for r in verdict.results if r.name == "build")
        if not build.passed:
            sys.exit(f"torchatlas build failed: {build.message}")
        checks_only = [v for v in verdict.results if v.name != "build"]
        failed = [v.name for v in checks_only if not v.passed]
        print(f"torchatlas cold build:                         {build.seconds:6.2f} s ({build.seconds / bare:.2f}x bare)")
        print(f"torchatlas checks after it ({len(checks_only)} verdicts{', FAILED: ' + ', '.join(failed) if failed else ''}):"
              f"{'':<{max(1, 7 - len(str(len(checks_only))))}}{cold - build.seconds:6.2f} s")
        ratio = cold / bare
        print(f"torchatlas cold build + check (lab check):     {cold:6.2f} s  ratio {ratio:.2f}x bare "
              f"(promise <= {RATIO_PROMISE}x: {'kept' if ratio <= RATIO_PROMISE else 'NOT kept'})")

        # 3. nothing changed
        t = time.monotonic()
        again = builders.build(lab, ws.root)
        rebuild = time.monotonic() - t
        assert again.ok and again.cached, again.summary
        t = time.monotonic()
        verify(lab, ws.root)
        recheck = time.monotonic() - t
        print(f"nothing changed, rebuild:                      {rebuild:6.3f} s "
              f"(promise < {NOTHING_CHANGED_PROMISE:.0f} s: {'kept' if rebuild < NOTHING_CHANGED_PROMISE else 'NOT kept'})")
        print(f"nothing changed, lab check:                    {recheck:6.2f} s")
        return 0 if ratio <= RATIO_PROMISE and rebuild < NOTHING_CHANGED_PROMISE and not failed else 1
    finally:
        if not args.workdir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
