"""How fast this machine is right now, printed beside the figures.

Why: on a shared VM the same work can take 40% longer from one minute to the next, and the
second core may run at a fraction of the first's speed (its host sibling is busy) without any of
it showing as steal time. A fixed CPU-bound loop, timed alone and then on every core at once,
says which state the machine was in, so figures from different runs can be compared; ratios
measured within one run (torchatlas vs ctags) are less affected.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import time


def cpu_loop_seconds(_: object = None) -> float:
    """CPU time of a fixed mix of C (sha1) and interpreter work: ~0.36 s on one core here."""
    t = time.process_time()
    h = hashlib.sha1()
    block = b"a" * 1_000_000
    for _ in range(300):
        h.update(block)
    total = 0
    for i in range(3_000_000):
        total += i
    return time.process_time() - t


def speed_note() -> str:
    one = min(cpu_loop_seconds() for _ in range(2))
    cores = os.cpu_count() or 1
    with mp.get_context("fork").Pool(cores) as pool:
        t = time.perf_counter()
        pool.map(cpu_loop_seconds, range(cores), chunksize=1)
        together = time.perf_counter() - t
    return (f"machine speed: a fixed CPU loop takes {one:.2f} s on one core, {together:.2f} s wall on all {cores} "
            f"at once (equal when every core is free and full-speed; 0.36 s when this VM is quiet)")
