#!/usr/bin/env python3
"""The explorer's speed on an existing index (default: the v2.6.0 tree's, else the installed torch's).
Prints figures, asserts nothing.

    python bench/bench_explorer.py [--db FILE] [--runs N]

Figures
  launch    `torchatlas explore --db FILE` in a real pseudo-terminal (120x40): process start until
            the home screen's banner is on the terminal (Python start-up and the textual import
            included), then ctrl+q; and `explore aten::add.Tensor` until its dispatch table is drawn.
  navigate  in-process, headless, GC tuned as the CLI does: from the request (a link followed, a
            key pressed) until the new view has been painted; the first visit to each kind of view
            and the later ones are reported apart.
  search    keystroke -> ranked results on screen, typing at 8 keys/s and at 30 keys/s.
  sizes     the same walk at 80x24 and 200x60; a mouse click on a search result.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

TARGETS = [("op", "aten::add.Tensor"), ("callable", "torch.add"), ("trace", "torch.add"), ("op", "aten::mm"),
           ("symbol", "at::TensorIterator"), ("file", "aten/src/ATen/native/BinaryOps.cpp"),
           ("symbol", "torch.nn.functional.relu"), ("file", "torch/nn/functional.py"), ("op", "aten::conv2d"),
           ("op", "aten::softmax.int")]
QUERIES = ["add", "torch.add", "TensorIterator", "at::native::add_out", "BinaryOps.cpp", "conv2d",
           "softmax_backward", "ufunc", "zzqx"]


def default_db() -> Path | None:
    for p in (os.environ.get("TORCHATLAS_BENCH_DB"), "/tmp/explorer-v26.sqlite"):
        if p and Path(p).is_file():
            return Path(p)
    from torchatlas.commands import db_path_for
    from torchatlas.indexes.sources import open_source
    p = db_path_for(open_source("installed"), None)
    return p if p.is_file() else None


# -- launch: a real terminal -----------------------------------------------------------------------

def launch_once(db: Path, cols: int = 120, rows: int = 40, name: str | None = None,
                marker: bytes = b"operator overloads") -> float:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    env.pop("EDITOR", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "torchatlas.cli", "explore", "--db", str(db)] + ([name] if name else []),
                            stdin=slave,
                            stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    seen = b""
    ready = None
    while time.perf_counter() - t0 < 30:
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            seen += chunk
            if marker in seen:  # the home banner (or the view asked for) is on the screen
                ready = time.perf_counter() - t0
                break
    os.write(master, b"\x11")  # ctrl+q
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    os.close(master)
    if ready is None:
        raise RuntimeError("the explorer did not show its home screen within 30 s")
    return ready


# -- in-process figures ----------------------------------------------------------------------------

def ms(xs) -> str:
    xs = sorted(xs)
    if not xs:
        return "-"
    p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
    return f"median {statistics.median(xs) * 1000:5.1f} ms, p90 {p90 * 1000:5.1f} ms, max {xs[-1] * 1000:5.1f} ms " \
           f"(n={len(xs)})"


async def walk(db: Path, size: tuple[int, int], rounds: int) -> dict:
    from torchatlas.explorer.app import ExplorerApp, tune_gc
    from torchatlas.explorer.data import Target
    tune_gc()
    app = ExplorerApp(db, live_check=lambda s: (False, "live column off (bench)"), tune_gc=True)
    out: dict = {"first": [], "later": [], "back": [], "follow": [], "mouse": None}
    async with app.run_test(size=size) as pilot:
        await wait_idle(pilot)
        await pilot.pause(0.6)  # the other views are mounted in the background after the first paint
        await wait_idle(pilot)

        async def timed_nav(action) -> float | None:
            n = len(app.timings["nav"])
            await action()
            for _ in range(2000):
                if len(app.timings["nav"]) > n:
                    break
                await asyncio.sleep(0.001)
            else:
                return None
            t = app.timings["nav"][-1]
            await wait_idle(pilot)
            await pilot.pause(0.02)
            return t

        seen = set()
        for r in range(rounds):
            for kind, name in TARGETS:
                target = Target(kind, name, name if kind == "file" else "", 1 if kind == "file" else 0)

                async def go(t=target):
                    app.navigate(t)
                t = await timed_nav(go)
                if t is not None:
                    out["first" if (kind, name) not in seen else "later"].append(t)
                    seen.add((kind, name))
            for _ in range(4):  # back by key
                t = await timed_nav(lambda: pilot.press("backspace"))
                if t is not None:
                    out["back"].append(t)
        # follow links by key: an operator's dispatch row (Meta: a Python kernel) and back
        app.navigate(Target("op", "aten::add.Tensor"))
        await wait_idle(pilot)
        for _ in range(rounds * 2):
            table = app.view.query_one("#dispatch-table")
            table.move_cursor(row=table.get_row_index("Meta"))
            await pilot.pause(0.02)
            t = await timed_nav(lambda: pilot.press("enter"))
            if t is not None:
                out["follow"].append(t)
            await timed_nav(lambda: pilot.press("backspace"))
        # the mouse: click the first search result on the home screen
        app.navigate(Target("home"))
        await wait_idle(pilot)
        app.view.set_query("aten::mm")
        await pilot.pause(0.2)
        await wait_idle(pilot)
        results = app.query_one("#search-results")
        row = next((i for i, it in enumerate(results.items) if it.target == Target("op", "aten::mm")), None)
        if row is not None:
            await pilot.click("#search-results", offset=(10, row))
            await wait_idle(pilot)
            out["mouse"] = type(app.view).__name__ == "OpView" and app.view.model.op == "aten::mm"
    return out


async def search_latency(db: Path, gap: float) -> list[float]:
    from torchatlas.explorer.app import ExplorerApp, tune_gc
    tune_gc()
    app = ExplorerApp(db, live_check=lambda s: (False, "off"), tune_gc=True)
    lat: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_idle(pilot)
        await pilot.pause(0.8)  # the warm-up of the search and the premounted views
        await wait_idle(pilot)
        panel = app.query_one("#home-search")
        for q in QUERIES:
            panel.set_value("")
            await pilot.pause(0.1)
            panel.latencies.clear()
            for ch in q:
                await pilot.press(ch)
                await pilot.pause(gap)
            await pilot.pause(0.3)
            if gap >= 0.1:
                lat.extend(panel.latencies)  # every keystroke got its own results
            elif panel.latencies:
                lat.append(panel.latencies[-1])  # typing fast: the results of the last keystroke
            assert panel.query_shown.strip() == q, (panel.query_shown, q)
    return lat


async def wait_idle(pilot) -> None:
    from textual.worker import WorkerCancelled, WorkerFailed
    for _ in range(2):
        await pilot.pause(0.01)
        for w in list(pilot.app.workers):
            try:
                await w.wait()
            except (WorkerCancelled, WorkerFailed):
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    db = args.db or default_db()
    if db is None or not db.is_file():
        print("no index: build one first (torchatlas index /path/to/pytorch --db /tmp/explorer-v26.sqlite)")
        return 2
    from torchatlas.explorer.data import Atlas
    atlas = Atlas(db)
    src = atlas.source
    c = atlas.counts()
    print(f"index {db} : torch {src.version} ({src.kind}), {c.get('files_parsed')} files, "
          f"{c.get('definitions')} definitions, {c.get('ops')} operator overloads")

    times = [launch_once(db) for _ in range(args.runs)]
    print(f"launch to interactive (real pty, 120x40, whole process): median {statistics.median(times):.2f} s, "
          f"best {min(times):.2f} s over {args.runs} runs")
    times = [launch_once(db, name="aten::add.Tensor", marker=b"REGISTERED IN") for _ in range(args.runs)]
    print(f"launch straight at aten::add.Tensor (dispatch table drawn): median {statistics.median(times):.2f} s, "
          f"best {min(times):.2f} s")

    w = asyncio.run(walk(db, (120, 40), rounds=args.runs))
    print(f"navigate, first visit of a view ........ {ms(w['first'])}")
    print(f"navigate, later visits ................. {ms(w['later'])}")
    print(f"back (backspace) ....................... {ms(w['back'])}")
    print(f"follow a dispatch row (enter) .......... {ms(w['follow'])}")
    slow = asyncio.run(search_latency(db, gap=0.125))
    fast = asyncio.run(search_latency(db, gap=0.033))
    print(f"search, keystroke -> results, 8 keys/s . {ms(slow)}")
    print(f"search, last keystroke -> results, 30/s  {ms(fast)}")
    for size in ((80, 24), (200, 60)):
        s = asyncio.run(walk(db, size, rounds=1))
        print(f"at {size[0]}x{size[1]}: navigate {ms(s['first'] + s['later'])}; mouse click on a search result "
              f"{'opens it' if s['mouse'] else 'FAILED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
