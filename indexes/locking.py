"""One index run per index file at a time: a second `torchatlas index` waits for the first.

An advisory lock (flock) on `<db>.lock`, released by the kernel if the holder dies, so a killed
run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


@contextmanager
def index_lock(db: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    import fcntl
    db.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(db) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def held_elsewhere(db: Path) -> bool:
    """Whether an index run (another open file description) holds `db`'s lock right now; a lock
    file we cannot open counts as held, so nothing acting on the answer deletes what it guards."""
    import fcntl
    lock = f"{db}.lock"
    if not os.path.exists(lock):
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the lock if we took it
    return False
