"""`lab watch`: re-check a lab each time one of its files is saved (rustlings' watch mode).

Polls the modification times of the workspace's learner files (the lab's `edits` and everything
under `lab/`) twice a second: no inotify dependency, and editors that replace files on save are
seen the same way. On a terminal, `h` shows the next hint, `c` re-checks now, `q` quits. A lab that
already passed is not re-checked on start; a change re-checks it.
"""

from __future__ import annotations

import os
import select
import sys
import time
from pathlib import Path


def _snapshot(root: Path, edits: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    paths = [root / e for e in edits]
    lab_dir = root / "lab"
    if lab_dir.is_dir():
        paths += [p for p in lab_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for p in paths:
        try:
            st = p.stat()
            out[str(p)] = st.st_mtime_ns + st.st_size
        except OSError:
            out[str(p)] = -1
    return out


class _Keys:
    """Single key presses from a terminal, without waiting for Enter; nothing when not a terminal."""

    def __init__(self):
        self.tty = sys.stdin.isatty()
        self._old = None

    def __enter__(self):
        if self.tty:
            import termios
            import tty
            self._old = termios.tcgetattr(sys.stdin)
            tty.setcbreak(sys.stdin.fileno())
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            import termios
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, self._old)

    def read(self, timeout: float) -> str:
        if not self.tty:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
        return os.read(sys.stdin.fileno(), 1).decode(errors="ignore") if ready else ""


def watch(lab, ws, check, interval: float = 0.5, max_seconds: float | None = None) -> int:
    """Run `check()` (which prints its verdict) now and after every save, until `q` or Ctrl-C."""
    from .progress import LabsProgress
    progress = LabsProgress()
    print(f"watching {lab.id} in {ws.root} — save a file to re-check · h hint · c check now · q quit")
    state = _snapshot(ws.root, lab.edits)
    passed = progress.get(lab.id).done
    if passed:
        print(f"lab {lab.id} already passed; edit a file to check it again")
    else:
        passed = check().passed
    deadline = time.monotonic() + max_seconds if max_seconds else None
    try:
        with _Keys() as keys:
            while deadline is None or time.monotonic() < deadline:
                key = keys.read(interval)
                if key in ("q", "\x04"):
                    break
                if key == "h":
                    _next_hint(lab)
                    continue
                now = _snapshot(ws.root, lab.edits)
                if key == "c" or now != state:
                    state = now
                    print("\n" + "-" * 78)
                    passed = check().passed
                    print(f"watching {lab.id} — h hint · c check · q quit")
    except KeyboardInterrupt:
        pass
    return 0 if passed else 1


def _next_hint(lab) -> None:
    from .progress import LabsProgress
    progress = LabsProgress()
    p = progress.get(lab.id)
    n = len(lab.hints) if p.done else min(p.hints_shown + 1, len(lab.hints))
    p.hints_shown = max(p.hints_shown, n)
    progress.save()
    print(f"\nhint {n}/{len(lab.hints)}: {lab.hints[n - 1]}\n")
