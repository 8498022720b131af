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
