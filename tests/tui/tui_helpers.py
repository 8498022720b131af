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
    # Then until nothing is left to do, twice in a row: a worker or the live thread that a callback
    # of the rounds above started (on a loaded machine the rounds can end before it), or a table of
    # any screen whose column widths wait for its next Idle (a DataTable recomputes them then; a
    # snapshot taken before shows the old widths: CI once cut the live column to "= ag").
    t0 = time.monotonic()
    quiet = 0
    while quiet < 2 and time.monotonic() - t0 < 30:
        busy = (any(w.is_running or w.state.name == "PENDING" for w in app.workers)
                or getattr(app, "live_pending", False) or _tables_pending(app))
        quiet = 0 if busy else quiet + 1
        await pilot.pause(0.05)
    await pilot.pause(extra)


def _tables_pending(app) -> bool:
    from textual.widgets import DataTable
    return any(getattr(dt, "_require_update_dimensions", False) or getattr(dt, "_updated_cells", None)
               for screen in app.screen_stack for dt in screen.query(DataTable))


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


def svg_text(svg: str) -> list[str]:
    """The text of a Textual SVG screenshot, a line per terminal row (what a person would read)."""
    import html
    import re
    rows: dict[float, list[tuple[float, str]]] = {}
    for m in re.finditer(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', svg):
        rows.setdefault(float(m.group(2)), []).append((float(m.group(1)), html.unescape(m.group(3))))
    return ["".join(t for _, t in sorted(cells)).replace("\xa0", " ").rstrip() for _, cells in sorted(rows.items())]


def screen_diff(expected_svg: str, actual_svg: str) -> str:
    """The rows that differ between two screenshots, as text: a failing snapshot says what moved
    (the HTML report is left on the machine that ran it, which CI's log does not show)."""
    import difflib
    diff = difflib.unified_diff(svg_text(expected_svg), svg_text(actual_svg), "snapshot", "this run", n=1,
                                lineterm="")
    text = "\n".join(diff)
    return text or "the same text: the difference is in colours or styles (see the HTML report)"
