"""Whole-process time of the query commands a learner types (goal of issue 13: under 0.5 s each).

Each command runs as a fresh process (interpreter start, imports, opening the index, the query,
printing), `--repeat` times; the median is printed beside a same-run reference, `python -c pass`
and `python -c "import torchatlas.cli"`, so a reader can tell the machine's load from our cost.

    python bench/bench_queries.py --db INDEX.sqlite
    python bench/bench_queries.py --source /root/.cache/pytorch-src/pytorch-v2.6.0
    python bench/bench_queries.py --baseline OTHER_TORCHATLAS   # two versions in the same run

With --baseline, each command is also timed with another torchatlas executable (e.g. a wrapper
that runs a snapshot of an older checkout), the two taking turns, so a before/after comparison
meets the same machine load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSTALLED = [
    ["op", "aten::add.Tensor"],
    ["dispatch", "aten::mm", "--why"],
    ["find", "layer_norm"],
    ["find", "layer_nrom"],
    ["refs", "torch.nn.functional.layer_norm"],
    ["callers", "torch.nn.functional.layer_norm"],
    ["callees", "torch.nn.modules.normalization.LayerNorm.forward"],
    ["callees", "torch.nn.modules.module.Module.train"],
    ["trace", "torch.nn.functional.conv2d"],
    ["trace", "torch.add"],
    # much-used names, and misses that answer "did you mean" (fuzzy over every name)
    ["refs", "torch.cat"],
    ["callers", "torch.nn.functional.relu"],
    ["find", "zzqqxx"],
    ["callers", "torch.nn.functional.layer_nrom"],
    ["op", "aten::add.Tensr"],
    ["path", "torch.add", "add_kernel"],
    ["callers", "aten::add"],  # every overload: its Python entry points' calls and at::add's
    ["callers", "layer_norm_cpu"],  # a kernel: the dispatcher
    ["find", "torch.nn.Linear.parameters"],  # a public name, then the class's bases (C3)
    ["callers", "torch.optim.Adam.zero_grad"],  # the same, then its callers
    ["find", "torch.Tensor.add"],  # the bound callable, then its stub on TensorBase
    ["trace", "torch.nn.Linear"],  # Python code: forward's calls to F.linear, then the usual walk
    ["trace", "torch.nn.Module"],  # Python code that reaches no binding: the whole walk of its calls
]
TREE = [
    ["callees", "at::native::conv2d_symint"],
    ["callers", "at::native::add_out"],
    ["refs", "at::native::mul_kernel"],
    ["find", "computeDispatchTableEntryWithDebug"],
    ["trace", "torch.nn.functional.conv2d"],
    ["path", "aten::add.Tensor", "add_kernel"],  # no path (a ufunc kernel): every hop within 12 steps explored
    ["path", "aten::mul.Tensor", "cpu_kernel_vec"],
    ["path", "torch.nn.functional.conv2d", "slow_conv2d_forward_cpu"],  # 11 hops, 5 of them calls_op/dispatch
    ["path", "at::native::conv2d_symint", "zzqqxx"],  # no path: the widest walk (3,500 nodes)
    ["callers", "aten::add.Tensor"],  # torch.add's calls (candidates) and at::add's
    ["callers", "at::native::mul_out"],  # the dispatcher, for three operators
    ["refs", "TORCH_CHECK"],
    ["callers", "c10::irange"],
    ["find", "computeDispatchTableEntryWithDebg"],
    ["callers", "at::native::ad_out"],
    ["find", "zzqqxx"],
    ["find", "torch.add"],  # the bound callable: a checkout has no generated stub
]


# Compiled bytecode as an installed torchatlas has it: this machine sets PYTHONDONTWRITEBYTECODE=1,
# which makes every process compile every module from source (~0.6 s of the first figures taken
# here). The .pyc files go to a scratch folder, never into the working tree; one warm-up run each.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "torchatlas-bench-pycache")


def _run(argv: list[str], repeat: int, other: list[str] | None = None) -> tuple[tuple[float, float, int], ...]:
    """(median wall seconds, median CPU seconds of the process, exit code) of `argv`, and of `other`
    when given (run in turns with `argv`). On a shared machine the CPU time is the steadier figure:
    it leaves out the time spent waiting for a core."""
    runs = [argv] + ([other] if other else [])
    times: list[list[float]] = [[] for _ in runs]
    cpu: list[list[float]] = [[] for _ in runs]
    codes = [0] * len(runs)
    for one in runs:
        subprocess.run(one, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)  # warm-up: writes .pyc
    for _ in range(repeat):
        for i, one in enumerate(runs):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            p = subprocess.run(one, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
            times[i].append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[i].append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
            codes[i] = p.returncode
    return tuple((statistics.median(t), statistics.median(c), code) for t, c, code in zip(times, cpu, codes))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="an index file (else the default index of --source)")
    ap.add_argument("--source", default="installed")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--exe", help="the torchatlas executable to time (default: the one beside this Python)")
    ap.add_argument("--baseline", help="another torchatlas executable, timed in turns with this one")
    args = ap.parse_args()
    exe = args.exe or str(Path(sys.executable).with_name("torchatlas"))
    where = ["--db", args.db] if args.db else ["--source", args.source]
    if args.db:
        from torchatlas.indexes.store import Index
        index = Index(Path(args.db))
        tree = index.source.layout != "package"
        index.close()
    else:
        tree = args.source != "installed"
    refs = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("import torchatlas.cli", [sys.executable, "-c", "import torchatlas.cli"])]
    print(f"  {'':<9}  {'wall':>7}  {'cpu':>7}")
    for label, argv in refs:
        (t, c, _), = _run(argv, args.repeat)
        print(f"  reference  {t:6.3f}s  {c:6.3f}s  {label}")
    if args.baseline:
        print(f"  baseline ({args.baseline}) in brackets: [wall cpu exit]")
    worst = worst_cpu = 0.0
    for cmd in (TREE if tree else INSTALLED):
        (t, c, code), *base = _run([exe, *cmd, *where], args.repeat,
                                   [args.baseline, *cmd, *where] if args.baseline else None)
        worst, worst_cpu = max(worst, t), max(worst_cpu, c)
        flag = "" if t < 0.5 else "  (over 0.5 s)"
        was = "".join(f"  [{bt:6.3f}s {bc:6.3f}s exit {bcode}]" for bt, bc, bcode in base)
        print(f"  {'exit ' + str(code):<9}  {t:6.3f}s  {c:6.3f}s{was}  torchatlas {' '.join(cmd)}{flag}")
    print(f"slowest {worst:.3f} s wall, {worst_cpu:.3f} s CPU (medians of {args.repeat}); the machine's load "
          "shows in the references above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
