#!/usr/bin/env python3
"""Index and query speed on a source (default: the installed torch). Prints figures, asserts nothing.

    python bench/bench_index.py [SOURCE] [--runs N]
    python bench/bench_index.py [SOURCE] --link [--runs N]
    python bench/bench_index.py --link-step DB [--jobs N] [--runs N]


Figures: `torchatlas index` wall and CPU time (whole process tree, cold), without and with the
code index, each run with the code index after a floor measured right before it (bare tree-sitter
parsing of the same files: this VM's speed drifts with its host's load, the ratio does not much);
`torchatlas op` / `dispatch` for one op as whole processes (Python start-up included), against
`python -c pass` as the floor.

`--link-step DB` measures the link step alone, in this process and its link processes: on a copy of
DB (an index built with TORCHATLAS_LINK=off), `link_all(jobs)` and the links' indexes its commit
would make, CPU-s (self and children) and wall per run. Far less noisy than pairs of whole builds
when another job loads the machine; run it under two checkouts, interleaved, for an A/B
(PYTHONPATH=<a copy's package dir> selects the code).

`--link` measures what the link step (indexes/link.py) adds to a cold build instead (issue 13:
"the cold index may not get slower by more than 10%"): pairs of cold builds with the code index,
one without the link step (TORCHATLAS_LINK=off, an index for this measurement only) and one with
it, the order alternating between pairs so the VM's drift falls on both; wall and CPU (the whole
process tree), the overhead per pair, and the build's own link_seconds.
"""

from __future__ import annotations

import argparse
import json
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


def _cold_build(exe: list[str], source: str, db: Path, link: bool) -> tuple[float, float, dict]:
    """(wall s, CPU s of the process tree, the build's counts) of one cold `torchatlas index`."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHATLAS_LINK"}
    if not link:
        env["TORCHATLAS_LINK"] = "off"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(exe + ["index", source, "--db", str(db), "--json"], check=True, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    counts = json.loads(out).get("counts", {})
    if link == bool(counts.get("links_skipped")):
        raise SystemExit(f"bench_index: the build {'with' if link else 'without'} the link step did not "
                         f"{'link' if link else 'skip it'} (counts: {counts}); is TORCHATLAS_LINK honoured?")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, counts


def link_overhead(source: str, runs: int) -> int:
    """Pairs of cold builds without and with the link step; prints the overhead of the step."""
    exe = [sys.executable, "-m", "torchatlas.cli"]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(runs):
            order = (False, True) if i % 2 == 0 else (True, False)
            pair = {}
            for link in order:
                db = Path(d) / f"link-{int(link)}-{i}.sqlite"
                pair[link] = _cold_build(exe, source, db, link)
                db.unlink()
            (w0, c0, _), (w1, c1, counts) = pair[False], pair[True]
            rows.append((w0, w1, c0, c1, counts.get("link_seconds", 0.0), counts.get("code_indexes_seconds", 0.0)))
            print(f"pair {i + 1} ({'without first' if order[0] is False else 'with first'}): "
                  f"without {w0:.2f} s wall / {c0:.1f} s CPU, with {w1:.2f} s / {c1:.1f} s: "
                  f"+{(w1 / w0 - 1) * 100:.0f}% wall, +{(c1 / c0 - 1) * 100:.0f}% CPU; link_seconds "
                  f"{counts.get('link_seconds')} (+ code_indexes_seconds {counts.get('code_indexes_seconds')}, "
                  "made at commit without the step)", flush=True)
    med = statistics.median
    w0, w1, c0, c1, ls, _ci = (med(col) for col in zip(*rows))
    print(f"index {source}: median of {runs} pairs: without the link step {w0:.2f} s wall, {c0:.1f} s CPU; "
          f"with it {w1:.2f} s, {c1:.1f} s; overhead median +{med([b / a - 1 for a, b, *_ in rows]) * 100:.1f}% "
          f"wall, +{med([r[3] / r[2] - 1 for r in rows]) * 100:.1f}% CPU (goal: at most +10%); "
          f"link_seconds median {ls:.2f} s")
    return 0


def link_step(db: str, jobs: int, runs: int) -> int:
    """CPU-s and wall of link_all + the links' indexes on copies of `db` (built without the step)."""
    import shutil
    import sqlite3

    from torchatlas.indexes import link, store

    def cpu() -> float:
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime
    cpus, walls = [], []
    with tempfile.TemporaryDirectory() as d:
        for i in range(runs):
            copy = Path(d) / "link-step.sqlite"
            shutil.copy(db, copy)
            w = store._Rows.__new__(store._Rows)  # the row writers, on a plain connection (as IndexWriter's)
            w.con = sqlite3.connect(copy)
            w.con.execute("PRAGMA journal_mode=OFF")
            w.con.execute("PRAGMA synchronous=OFF")
            for (name,) in w.con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                         "AND tbl_name IN ('links', 'answers', 'whys')").fetchall():
                w.con.execute(f"DROP INDEX {name}")  # made again below, over the new rows, as at commit
            w.con.commit()
            c0, t0 = cpu(), time.perf_counter()
            counts = link.link_all(w, jobs)
            for statement in store._INDEXES.splitlines():
                if any(f" ON {t}(" in statement for t in ("links", "answers", "whys")):
                    w.con.execute(statement)
            w.con.commit()
            cpus.append(cpu() - c0)
            walls.append(time.perf_counter() - t0)
            w.con.close()
            store.remove_scratch(copy)
            if counts.get("skipped"):
                raise SystemExit("bench_index: TORCHATLAS_LINK=off is set here: unset it for --link-step")
            print(f"run {i + 1}: {cpus[-1]:.2f} CPU-s, {walls[-1]:.2f} s wall (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    print(f"link step on {db}, {jobs} process(es): median {statistics.median(cpus):.2f} CPU-s, "
          f"{statistics.median(walls):.2f} s wall over {runs} runs")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", nargs="?", default="installed")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--link", action="store_true", help="the link step's overhead on a cold build (pairs of builds)")
    ap.add_argument("--link-step", metavar="DB", help="the link step alone on copies of DB (built without it)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="link processes for --link-step")
    args = ap.parse_args()
    if args.link_step:
        return link_step(args.link_step, args.jobs, args.runs)
    if args.link:
        return link_overhead(args.source, args.runs)
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
