#!/usr/bin/env python3
"""Index and query speed on a source (default: the installed torch). Prints figures, asserts nothing.

    python bench/bench_index.py [SOURCE] [--runs N]

Figures: `torchatlas index` wall and CPU time (whole process tree, cold), without and with the
code index, each run with the code index after a floor measured right before it (bare tree-sitter
parsing of the same files: this VM's speed drifts with its host's load, the ratio does not much);
`torchatlas op` / `dispatch` for one op as whole processes (Python start-up included), against
`python -c pass` as the floor.
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

from bench_code_index import parse_floor  # bench/ is on sys.path when run as a script



def timed(cmd: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", default="installed")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    exe = [sys.executable, "-m", "torchatlas.cli"]
    with tempfile.TemporaryDirectory() as d:
        for label, extra in (("operators and dispatch (--no-code)", ["--no-code"]), ("with the code index", [])):
            times, cpus, floors = [], [], []
            for i in range(args.runs):
                if not extra:
                    # This VM's speed drifts by up to 40-60% with its host's load: a floor measured
                    # right before each run (bare tree-sitter parsing of the same files on all
                    # cores, nothing else) says which state that run met.
                    floors.append(parse_floor(args.source, os.cpu_count() or 1))
                db_i = Path(d) / f"bench-{len(extra)}-{i}.sqlite"  # a fresh file: a cold, full build
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(exe + ["index", args.source, "--db", str(db_i), "--json"] + extra, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append(time.perf_counter() - t)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            size = db_i.stat().st_size / 2**20
            print(f"index {args.source}, {label}: median {statistics.median(times):.2f} s, best {min(times):.2f} s "
                  f"over {args.runs} cold runs ({', '.join(f'{x:.2f}' for x in times)}); "
                  f"CPU median {statistics.median(cpus):.1f} core-s; index file {size:.1f} MB")
        ratios = [t / f for t, f in zip(times, floors)]
        print(f"floor before each run with code, bare tree-sitter parsing of the indexed files on all cores: "
              f"{', '.join(f'{x:.2f}' for x in floors)} s; index / floor: median {statistics.median(ratios):.2f} "
              f"({', '.join(f'{x:.2f}' for x in ratios)})")
        db = str(db_i)
        floor, _ = timed([sys.executable, "-c", "pass"], 5)
        print(f"python start-up floor: {floor * 1000:.0f} ms")
        for q in (["op", "aten::add.Tensor"], ["dispatch", "aten::add.Tensor"], ["dispatch", "torch.mm", "--json"],
                  ["op", "aten::add.Tensr"]):
            cmd = exe + q + ["--source", args.source, "--db", db]
            times = []
            for _ in range(5):
                t = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.append(time.perf_counter() - t)
            print(f"torchatlas {' '.join(q)}: median {statistics.median(times) * 1000:.0f} ms (target < 500 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
