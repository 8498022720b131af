"""Snapshots of every screen of the explorer on the installed torch's index.

Deterministic: fixed terminal sizes, a fake live dispatcher, no timings on screen, the cursor's
blink off. Regenerate (after looking at them) with:
    python -m pytest tests/tui/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tui_helpers import settle, wait_for

from torchatlas.explorer.data import Target

WIDE = (120, 40)
SMALL = (80, 24)


def prepare(*keys: str, navigate: Target | None = None, focus_tab: int | None = None, until=None):
    """Keys to press (each followed by a settle) before the screenshot; `until(app)`: what must be on
    the screen before it is taken (a loaded machine can be slower than any pause)."""
    async def run_before(pilot) -> None:
        app = pilot.app
        await settle(pilot)
        if navigate is not None:
            app.navigate(navigate)
            await settle(pilot)
        if focus_tab is not None:
            await pilot.press(str(focus_tab))
            tc = app.view.query_one("TabbedContent")
            await wait_for(pilot, lambda: app.focused is not None and tc.get_pane(tc.active) in app.focused.ancestors)
            await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, 0.1)
        if until is not None:
            await wait_for(pilot, lambda: until(app), timeout=30)
        for inp in app.screen.query("Input"):
            inp.cursor_blink = False
        await settle(pilot, 0.1)
    return run_before


def searched(text: str):
    """The search box shows the results of `text` (not of a keystroke before it)."""
    return lambda app: app.screen.query_one("SearchPanel").query_shown == text


@pytest.fixture
def fixed_counts(monkeypatch):
    """The home banner's counts move whenever a parser changes; the snapshot is about the screen."""
    from torchatlas.explorer.data import Atlas
    monkeypatch.setattr(Atlas, "counts", lambda self: {"ops": 3101, "dispatch_entries": 65121, "files_parsed": 4405,
                                                       "definitions": 130000})
    # where torch is installed differs between machines and venvs
    monkeypatch.setattr("torchatlas.explorer.data.display_root", lambda root: "<site-packages>")


def test_home(snap_compare, make_app, fixed_counts):
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=prepare())


def test_home_search_results(snap_compare, make_app, fixed_counts):
    # operators and callables: from the YAML and the bindings, not from the C++/Python parsers
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=prepare(*"aten::add", until=searched("aten::add")))


def test_search_modal_over_an_operator(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::mm"), terminal_size=WIDE,
                        run_before=prepare("slash", *"torch.add", until=searched("torch.add")))


def test_operator_dispatch_with_live_column(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::add.Tensor"), terminal_size=WIDE, run_before=prepare())


def test_operator_dispatch_80x24(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::add.Tensor"), terminal_size=SMALL, run_before=prepare())


def test_operator_live_off(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::mm", live=False), terminal_size=WIDE, run_before=prepare())


def test_operator_overview(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::add.Tensor"), terminal_size=WIDE, run_before=prepare(focus_tab=2))


def test_operator_autograd(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::add.Tensor"), terminal_size=WIDE, run_before=prepare(focus_tab=3))


def test_operator_yaml(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::add.Tensor"), terminal_size=WIDE, run_before=prepare(focus_tab=4))


def test_operator_generated(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::add.Tensor"), terminal_size=WIDE, run_before=prepare(focus_tab=5))


def test_callable(snap_compare, make_app):
    assert snap_compare(make_app(start="torch.add"), terminal_size=WIDE, run_before=prepare())


def test_trace(snap_compare, make_app):
    assert snap_compare(make_app(start="torch.add"), terminal_size=WIDE, run_before=prepare("t"))


def test_symbol_code(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE,
                        run_before=prepare(navigate=Target("symbol", "torch.nn.functional.relu")))


def test_symbol_callers(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=WIDE,
                        run_before=prepare(navigate=Target("symbol", "torch.nn.functional.relu"), focus_tab=3))


def test_file(snap_compare, make_app):
    assert snap_compare(make_app(start="torch/nn/functional.py"), terminal_size=WIDE, run_before=prepare())


def test_file_imports_80x24(snap_compare, make_app):
    assert snap_compare(make_app(start="torch/nn/functional.py"), terminal_size=SMALL,
                        run_before=prepare(focus_tab=3))


def test_help(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::mm"), terminal_size=WIDE, run_before=prepare("question_mark"))


def test_too_small(snap_compare, make_app):
    assert snap_compare(make_app(start="aten::mm"), terminal_size=(70, 20), run_before=prepare())


def test_no_index_build_offer(snap_compare):
    from torchatlas.explorer.app import ExplorerApp
    db = Path("/tmp/torchatlas-snapshot-never-built.sqlite")
    if db.exists():
        db.unlink()
    assert snap_compare(ExplorerApp(db, warm=False), terminal_size=WIDE, run_before=prepare())


def test_foreign_index_refused(snap_compare, tmp_path_factory):
    from torchatlas.explorer.app import ExplorerApp
    db = Path("/tmp/torchatlas-snapshot-foreign.sqlite")
    if not db.exists():
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('tool', 'not-torchatlas')")
        con.commit()
        con.close()
    assert snap_compare(ExplorerApp(db, warm=False), terminal_size=WIDE, run_before=prepare())
