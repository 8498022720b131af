"""The dispatch stage of a full build, run in its own process while the code stage parses.

Why: on a 2-core laptop the dispatch stage (the tree's torchgen reading the YAML, the
registration scans, resolving every operator under every key, building the graph and writing
~300k rows) is 4-6 s of single-threaded work. Run after parsing, it leaves a core idle for that
long; run in a thread, it fights the parent's own work for the GIL. In a process of its own it
fills the gaps the parse workers leave, and it writes its tables into a scratch SQLite file that
the parent copies into the new index with `INSERT ... SELECT` (C speed, ~0.2 s) at the end.

Failure and Ctrl-C: the process ignores SIGINT and runs in its own process group, so the parent
alone decides; on any exit path the parent kills the group (the torchgen subprocess included) and
deletes the scratch file. An exception inside the stage comes back to the parent and is raised
there, KeyboardInterrupt as KeyboardInterrupt.
"""

from __future__ import annotations

import gc
import os
import signal
import traceback
from pathlib import Path
from typing import Callable

from .errors import cannot_write, is_write_failure
from .model import Problem
from .sources import Source
from .store import DISPATCH_TABLES, remove_scratch

# (source, keys, scratch file) -> (counts, problems): the whole dispatch stage, its rows written into
# the scratch file. pipeline.py passes its own (this module never imports the pipeline: no loop).
StageWork = Callable[[Source, tuple, Path], tuple]


class DispatchStageFailed(RuntimeError):
    """The dispatch stage raised in its process; the message carries its traceback."""


def _stage_main(work: StageWork, source: Source, keys: tuple[str, ...], scratch: str, conn) -> None:
    """In the child: the whole dispatch stage, its rows into `scratch`, (counts, problems) to `conn`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()  # short-lived, and what it builds lives until written (see gc_pause.py)
    if hasattr(os, "setpgrp"):
        try:
            os.setpgrp()  # the parent can kill this process and the torchgen subprocess in one go
        except OSError:
            pass
    try:
        counts, problems = work(source, keys, Path(scratch))
        conn.send(("ok", counts, problems))
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        if is_write_failure(e):  # the disk, not a bug: the parent says so in one line
            conn.send(("write_error", type(e).__name__, str(e)))
        else:
            conn.send(("error", type(e).__name__, "".join(traceback.format_exception(e))))
    finally:
        conn.close()


class BackgroundDispatchStage:
    """Start the dispatch stage now; `merge_into(writer)` waits for it and copies its tables."""

    def __init__(self, work: StageWork, source: Source, keys: tuple[str, ...], target: Path):
        import multiprocessing as mp
        ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context("spawn")
        self.scratch = target.with_name(f".{target.name}.{os.getpid()}.dispatch.tmp")
        remove_scratch(self.scratch)
        parent_end, child_end = ctx.Pipe(duplex=False)
        self._conn = parent_end
        self._result: tuple[dict, list[Problem]] | None = None
        self._proc = ctx.Process(target=_stage_main, args=(work, source, keys, str(self.scratch), child_end),
                                 daemon=True)
        self._proc.start()
        child_end.close()

    def ready(self) -> bool:
        """Whether the stage has finished (or failed): `merge_into` would not wait."""
        return self._result is not None or self._conn.poll()

    def merge_into(self, w) -> tuple[dict, list[Problem]]:
        """Wait for the stage, copy its tables into `w`'s connection, return (counts, problems).
        A second call returns the same without copying again."""
        if self._result is None:
            self._result = self._merge(w)
        return self._result

    def _merge(self, w) -> tuple[dict, list[Problem]]:
        try:
            msg = self._conn.recv()
        except EOFError:
            raise DispatchStageFailed(f"the dispatch stage process died (exit code {self._proc.exitcode})") from None
        if msg[0] == "write_error":
            raise cannot_write(self.scratch, msg[2])
        if msg[0] == "error":
            _, name, text = msg
            if name == "KeyboardInterrupt":
                raise KeyboardInterrupt
            raise DispatchStageFailed(f"the dispatch stage failed:\n{text}")
        _, counts, problems = msg
        self._proc.join()
        w.copy_from(self.scratch, DISPATCH_TABLES + ("problems", "meta"))
        w.index_tables(DISPATCH_TABLES)
        return counts, problems

    def close(self) -> None:
        """Stop the process (and its torchgen subprocess) if it still runs; delete the scratch file."""
        if self._proc.is_alive():
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (OSError, AttributeError):  # not its own group yet, or no process groups here
                self._proc.kill()
        self._proc.join()
        self._conn.close()
        remove_scratch(self.scratch)

    def __enter__(self) -> "BackgroundDispatchStage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

