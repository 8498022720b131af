"""Whole-process time of the query commands a learner types (goal of issue 13: under 0.5 s each).

Each command runs as a fresh process (interpreter start, imports, opening the index, the query,
printing), `--repeat` times; the median is printed beside a same-run reference, `python -c pass`
and `python -c "import torchatlas.cli"`, so a reader can tell the machine's load from our cost.

    python bench/bench_queries.py --db INDEX.sqlite
    python bench/bench_queries.py --source /root/.cache/pytorch-src/pytorch-v2.6.0
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
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
]
TREE = [
    ["callees", "at::native::conv2d_symint"],
    ["callers", "at::native::add_out"],
    ["refs", "at::native::mul_kernel"],
    ["find", "computeDispatchTableEntryWithDebug"],
    ["trace", "torch.nn.functional.conv2d"],
    ["path", "aten::add.Tensor", "add_kernel"],
]


def _run(argv: list[str], repeat: int) -> tuple[float, int]:
    times, code = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        code = p.returncode
    return statistics.median(times), code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="an index file (else the default index of --source)")
    ap.add_argument("--source", default="installed")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("torchatlas"))
    where = ["--db", args.db] if args.db else ["--source", args.source]
    tree = args.source != "installed" or (args.db and "installed" not in Path(args.db).name)
    refs = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("import torchatlas.cli", [sys.executable, "-c", "import torchatlas.cli"])]
    for label, argv in refs:
        t, _ = _run(argv, args.repeat)
        print(f"  reference  {t:6.3f} s  {label}")
    worst = 0.0
    for cmd in (TREE if tree else INSTALLED):
        t, code = _run([exe, *cmd, *where], args.repeat)
        worst = max(worst, t)
        flag = "" if t < 0.5 else "  (over 0.5 s)"
        print(f"  {'exit ' + str(code):<9}  {t:6.3f} s  torchatlas {' '.join(cmd)}{flag}")
    print(f"slowest {worst:.3f} s (median of {args.repeat}); the machine's load shows in the references above")
    return 0


if __name__ == "__main__":
    sys.exit(main())
