"""Fixtures for the explorer: apps over the installed torch's index, with a fake live dispatcher.

The real live reader starts torch in a subprocess (1.5-6 s); every test but one passes a fake
LiveTable built from the static table, with one planted disagreement, so results are fixed.
"""

from __future__ import annotations

import pytest

pytest.importorskip("textual")

FAKE_NOTE = "live column: a fake dispatcher (tests)"


def fake_live_reader(db, disagree: dict | None = None):
    """A live reader that answers what the static table says, except `disagree` {(op, key): kind}.
    It runs in a worker thread, so it opens the index itself (sqlite connections are per thread)."""
    from torchatlas.indexes.runtime import LiveEntry, LiveTable
    from torchatlas.indexes.store import Index
    disagree = disagree or {}
    calls = []

    def read(ops):
        calls.append(list(ops))
        index = Index(db)
        out = {}
        for op in ops:
            table = {}
            for key, e in index.dispatch(op).items():
                kind = disagree.get((op, key), e.kind)
                if kind == "none" or "CUDA" in key:
                    continue  # a CPU-only build: no CUDA kernels, nothing registered for none
                reg = e.registered_in if kind == e.kind else "aten/src/ATen/SomewhereElse.cpp"
                table[key] = LiveEntry(key, kind, reg or "", f"{reg}:1", "kernel")
            out[op] = table
        index.close()
        return LiveTable(version="2.13.0+cpu", ops=out, cuda_built=False)
    read.calls = calls
    return read


@pytest.fixture
def make_app(installed_db):
    """make_app(start=None, live=True|False|reader, **kw) -> ExplorerApp over the installed index."""
    from torchatlas.explorer.app import ExplorerApp

    def make(start=None, live=True, disagree=None, **kw):
        if live is True:
            reader = fake_live_reader(installed_db, disagree or {("aten::add.Tensor", "ZeroTensor"): "fallback"})
            check = (lambda s: (True, FAKE_NOTE))
        elif live is False:
            reader = fake_live_reader(installed_db)
            check = (lambda s: (False, "live column off: the installed torch is 9.9.9, this source is 2.13.0+cpu "
                                       "(a comparison needs the same version)"))
        else:
            reader, check = live, None
        kw.setdefault("warm", False)
        return ExplorerApp(installed_db, start=start, live_reader=reader, live_check=check, **kw)
    return make


@pytest.fixture
def snap_compare(snap_compare, request):
    """pytest-textual-snapshot's snap_compare, whose failure also says which rows of the screen
    differ, as text, in the test's own output."""
    def compare(*args, **kwargs) -> bool:
        __tracebackhide__ = True
        if snap_compare(*args, **kwargs):
            return True
        import pickle

        from pytest_textual_snapshot import node_to_report_path

        from tui_helpers import screen_diff
        data = pickle.loads(node_to_report_path(request.node).read_bytes())
        expected, actual = data[1], data[2]
        raise AssertionError("the screen differs from its snapshot:\n" + screen_diff(expected, actual))
    return compare
