"""Helpers for the explorer's pilot tests (imported as tui_helpers: tests/ has no packages)."""

from __future__ import annotations

import time


async def settle(pilot, extra: float = 0.05) -> None:
    """Wait until the workers (and the live dispatcher's thread) are done and the screen has caught up."""
    from textual.worker import WorkerCancelled, WorkerFailed
    app = pilot.app
    for _ in range(3):
        await pilot.pause(0.03)
        for worker in list(app.workers):
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # a navigation superseded by the next one
        t0 = time.monotonic()
        while getattr(app, "live_pending", False) and time.monotonic() - t0 < 90:
            await pilot.pause(0.02)  # the live dispatcher is read in a daemon thread, not a worker
    # A DataTable whose cells changed width recomputes its columns on its next Idle event; on a
    # loaded machine that can come after a modal screen is pushed over it, which then freezes the
    # old widths in the background (a flaky snapshot). Wait for every table to have settled.
    from textual.widgets import DataTable
    t0 = time.monotonic()
    while (any(getattr(dt, "_require_update_dimensions", False) for dt in app.screen.query(DataTable))
           and time.monotonic() - t0 < 10):
        await pilot.pause(0.02)
    await pilot.pause(extra)


async def wait_for(pilot, cond, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def async_test(fn):
    """Run an async test function in a fresh event loop (no pytest-asyncio needed)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))
    return wrapper
