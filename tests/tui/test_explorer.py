"""The explorer's behaviour, driven with Textual's pilot over the installed torch's index."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import sys

import pytest
from tui_helpers import async_test, settle, wait_for

from torchatlas.explorer.data import Target

SIZE = (120, 40)


def _view(app):
    return type(app.view).__name__ if app.view is not None else None


# -- search ----------------------------------------------------------------------------------------

@async_test
async def test_search_as_you_type_opens_an_operator(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "HomeView"
        await pilot.press(*"add.Tensor")
        await settle(pilot, 0.1)
        panel = app.query_one("#home-search")
        results = panel.query_one("#search-results")
        first = results.items[results.highlighted]
        assert first.target == Target("op", "aten::add.Tensor")
        assert panel.latencies, "no results were shown"
        await pilot.press("enter")
        await settle(pilot)
        assert _view(app) == "OpView"
        assert app.view.model.op == "aten::add.Tensor"


@async_test
async def test_the_search_key_pressed_in_the_home_search_box_is_not_part_of_the_query(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"add.Tensor")  # the habit from every other view
        await settle(pilot, 0.1)
        panel = app.query_one("#home-search")
        assert panel.query_one("#search-input").value == "add.Tensor"
        results = panel.query_one("#search-results")
        assert results.items[results.highlighted].target == Target("op", "aten::add.Tensor")


@async_test
async def test_search_modal_from_any_view_finds_a_callable(make_app):
    app = make_app(start="aten::mm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "OpView"
        await pilot.press("slash")
        await pilot.press(*"torch.add")
        await settle(pilot, 0.1)
        assert type(app.screen).__name__ == "SearchScreen"
        results = app.screen.query_one("#search-results")
        assert results.items[results.highlighted].target == Target("callable", "torch.add")
        await pilot.press("enter")
        await settle(pilot)
        assert _view(app) == "CallableView"
        assert [op for op, _s, _v in app.view.model.ops] == ["aten::add.Tensor", "aten::add.out"]


@async_test
async def test_search_by_mouse(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"aten::mm")
        await settle(pilot, 0.1)
        results = app.query_one("#search-results")
        row = next(i for i, it in enumerate(results.items) if it.target == Target("op", "aten::mm"))
        await pilot.click("#search-results", offset=(10, row))
        await settle(pilot)
        assert _view(app) == "OpView" and app.view.model.op == "aten::mm"


@async_test
async def test_stale_search_results_are_dropped(make_app):
    """Typing fast: only the last query's results are shown."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"zzzq")
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"mm")
        await settle(pilot, 0.15)
        panel = app.query_one("#home-search")
        assert panel.query_shown == "mm"


# -- walking ---------------------------------------------------------------------------------------

@async_test
async def test_open_by_name_follow_a_link_back_and_forward(make_app):
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.view.model.op == "aten::add.Tensor"
        await pilot.press("2")  # Overview tab: overloads, variants, callables
        overview = app.view.query_one("#overview-list")
        await wait_for(pilot, lambda: app.focused is overview)
        i = next(i for i, it in enumerate(overview.items) if it.target == Target("op", "aten::add.out"))
        overview.highlighted = i
        await pilot.press("enter")
        await settle(pilot)
        assert app.view.model.op == "aten::add.out"
        assert [t.name for t in app.history] == ["aten::add.Tensor", "aten::add.out"]
        await pilot.press("backspace")
        await settle(pilot)
        assert app.view.model.op == "aten::add.Tensor"
        await pilot.press("f")
        await settle(pilot)
        assert app.view.model.op == "aten::add.out"
        crumbs = str(app.query_one("#crumbs").render())
        assert "aten::add.Tensor" in crumbs and "aten::add.out" in crumbs


@async_test
async def test_dispatch_row_follows_the_kernel_or_says_why(make_app):
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.view.query_one("#dispatch-table")
        table.move_cursor(row=table.get_row_index("Meta"))
        await pilot.press("enter")  # torch._refs.add: a Python kernel, defined in the package
        await settle(pilot)
        assert _view(app) == "SymbolView"
        assert app.view.model.code.path == "torch/_refs/__init__.py"
        assert app.view.query_one("#symbol-code").window.anchor == app.view.model.code.anchor
        await pilot.press("backspace")
        await settle(pilot)
        table = app.view.query_one("#dispatch-table")
        table.move_cursor(row=table.get_row_index("AutogradCPU"))
        await pilot.press("enter")  # VariableType::add is generated: a note, no navigation
        await settle(pilot)
        assert _view(app) == "OpView"
        assert any("VariableType" in n.message for n in app._notifications)


@async_test
async def test_selected_key_shows_its_provenance_and_explanations(make_app):
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.view.query_one("#dispatch-table")
        table.move_cursor(row=table.get_row_index("QuantizedCPU"))
        await settle(pilot)
        text = str(app.view.query_one("#key-detail-text").render())
        assert "structured_delegate: add.out" in text  # the via chain
        assert "CompositeExplicitAutogradNonFunctional" in text  # KEY_HELP of the alias in the chain
        assert "no kernel for this key" in text  # KIND_HELP


@async_test
async def test_symbol_view_loads_refs_callers_callees(make_app):
    app = make_app(start="torch.nn.functional.relu")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "CallableView"  # relu binds aten::relu: the callable comes first
        defs = app.view.query_one("#callable-list")
        defs.highlighted = next(i for i, it in enumerate(defs.items) if it.target and it.target.kind == "symbol")
        await pilot.press("enter")
        await settle(pilot)
        assert _view(app) == "SymbolView"
        for pane in ("refs", "callers", "callees"):
            items = app.view.query_one(f"#{pane}-list").items
            assert items and items[0].target is not None, pane
        label = str(app.view.query_one("TabbedContent").get_tab("callers").label)
        assert label.startswith("3 Callers (") and "..." not in label
        await pilot.press("3")  # Callers: follow the first one
        await wait_for(pilot, lambda: app.focused is app.view.query_one("#callers-list"))
        await pilot.press("enter")
        await settle(pilot)
        assert _view(app) == "FileView"


async def _follow(pilot, app, tab: str, list_id: str, index: int) -> None:
    """Switch to tab `tab` (its number key), highlight item `index` of `list_id`, and follow it."""
    await pilot.press(tab)
    await wait_for(pilot, lambda: app.focused is app.view.query_one(list_id))
    app.view.query_one(list_id).highlighted = index
    await pilot.press("enter")
    await settle(pilot)


@async_test
async def test_a_kernel_s_call_of_the_cpp_api_leads_to_its_operator(make_app):
    """at::zeros in a CUDA kernel template: torchgen's C++ API, so the callee is the operator."""
    app = make_app(start="at::native::batch_norm_stats_channels_last_cuda_template")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "SymbolView"
        await wait_for(pilot, lambda: len(app.view.query_one("#callees-list").items) > 1)
        items = app.view.query_one("#callees-list").items
        zeros = [i for i, it in enumerate(items) if it.target == Target("op", "aten::zeros")]
        assert zeros, [it.target for it in items]
        await _follow(pilot, app, "4", "#callees-list", zeros[0])
        assert _view(app) == "OpView" and app.view.target.name == "aten::zeros"


@async_test
async def test_an_operator_s_callers_tab_lists_the_calls_of_its_entry_points(make_app):
    app = make_app(start="aten::layer_norm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "OpView"
        await pilot.press("6")
        await wait_for(pilot, lambda: str(app.view.query_one("TabbedContent").get_tab("callers").label) != "6 Callers")
        label = str(app.view.query_one("TabbedContent").get_tab("callers").label)
        items = app.view.query_one("#op-callers-list").items
        assert label == f"6 Callers ({len(items)})"
        at = [i for i, it in enumerate(items) if it.target and it.target.path == "torch/nn/functional.py"]
        assert at, [it.target for it in items]  # F.layer_norm's call of torch.layer_norm
        await _follow(pilot, app, "6", "#op-callers-list", at[0])
        assert _view(app) == "FileView" and app.view.target.path == "torch/nn/functional.py"


@async_test
async def test_a_kernel_s_callers_lead_to_the_operator_that_dispatches_to_it(make_app):
    app = make_app(start="torch._meta_registrations.meta_mm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "SymbolView"
        await wait_for(pilot, lambda: any(it.target and it.target.kind == "op"
                                          for it in app.view.query_one("#callers-list").items))
        items = app.view.query_one("#callers-list").items
        mm = next(i for i, it in enumerate(items) if it.target == Target("op", "aten::mm"))
        await _follow(pilot, app, "3", "#callers-list", mm)
        assert _view(app) == "OpView" and app.view.target.name == "aten::mm"


@async_test
async def test_file_view_lists_symbols_and_imports(make_app):
    app = make_app(start="torch/nn/functional.py")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "FileView"
        symbols = app.view.query_one("#symbols-list")
        assert any(it.target and it.target.name == "torch.nn.functional.relu" for it in symbols.items)
        imports = app.view.query_one("#includes-list")
        resolved = [it.target for it in imports.items if it.target is not None]
        assert resolved and all(t.kind == "file" for t in resolved)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.focused is imports)
        imports.highlighted = next(i for i, it in enumerate(imports.items) if it.target is not None)
        await pilot.press("enter")
        await settle(pilot)
        assert _view(app) == "FileView" and app.view.model.target != Target("file", "torch/nn/functional.py")


@async_test
async def test_trace_from_a_callable_and_another_key(make_app):
    app = make_app(start="torch.add")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert _view(app) == "TraceView"
        m = app.view.model
        assert (m.start, m.op, m.key) == ("torch.add", "aten::add.Tensor", "CPU")
        layers = [s.layer for s in m.steps]
        assert layers[:4] == ["python", "binding", "cpp_api", "operator"]
        await pilot.press("k")
        await settle(pilot)
        picker = app.screen.query_one("OptionList")
        picker.highlighted = next(i for i in range(picker.option_count) if picker.get_option_at_index(i).id == "Meta")
        await pilot.press("enter")
        await settle(pilot)
        assert app.view.model.key == "Meta"


@async_test
async def test_trace_from_the_operator_uses_the_selected_key(make_app):
    app = make_app(start="aten::mm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.view.query_one("#dispatch-table")
        table.move_cursor(row=table.get_row_index("Meta"))
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert _view(app) == "TraceView" and app.view.model.key == "Meta"


@async_test
async def test_unknown_name_opens_the_search_with_suggestions(make_app):
    app = make_app(start="aten::addd_nonsense")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.15)
        assert _view(app) == "HomeView"
        assert app.query_one("#search-input").value == "aten::addd_nonsense"
        assert any("not found" in (n.title or "") for n in app._notifications)


@async_test
async def test_an_inherited_member_opens_its_definition_and_says_so(make_app):
    app = make_app(start="torch.nn.Linear.parameters")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.15)
        assert _view(app) == "SymbolView"
        assert app.view.model.target.name == "torch.nn.modules.module.Module.parameters"
        assert any("torch.nn.Linear.parameters is defined as torch.nn.modules.module.Module.parameters" in n.message
                   for n in app._notifications)


@async_test
async def test_t_on_torch_s_python_code_traces_it_to_an_operator(make_app):
    app = make_app(start="torch.nn.Linear")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, 0.15)
        assert _view(app) == "SymbolView"
        await pilot.press("t")
        await settle(pilot)
        assert _view(app) == "TraceView"
        assert app.view.model.op == "aten::linear"
        assert app.view.model.steps[1].title.endswith("calls torch.nn.functional.linear")


@async_test
async def test_cpp_name_of_an_operator_opens_the_operator(make_app):
    app = make_app(start="at::native::add_out")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "OpView" and app.view.model.op == "aten::add.out"


# -- live column -----------------------------------------------------------------------------------

@async_test
async def test_live_column_with_a_fake_dispatcher_marks_disagreements(make_app):
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        view = app.view
        assert view.live is not None
        table = view.query_one("#dispatch-table")
        assert str(table.get_cell("CPU", "live")) == "= agrees"
        assert str(table.get_cell("CUDA", "live")) == "~ no CUDA"
        assert str(table.get_cell("ZeroTensor", "live")) == "! fallback"
        assert "1 disagreement" in str(view.query_one("#live-note").render())
        # the sibling overloads came in the same read: no second subprocess
        reader = app.live_reader
        app.navigate(Target("op", "aten::add.out"))
        await settle(pilot)
        assert app.view.live is not None and len(reader.calls) == 1


@async_test
async def test_live_column_off_when_versions_differ(make_app):
    app = make_app(start="aten::add.Tensor", live=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.view.query_one("#dispatch-table")
        assert str(table.get_cell("CPU", "live")) == "off"
        assert "9.9.9" in str(app.view.query_one("#live-note").render())
        assert not app.live_reader.calls


@async_test
async def test_live_reader_failure_is_a_note_not_a_crash(make_app):
    from torchatlas.indexes.errors import AtlasError

    def broken(ops):
        raise AtlasError("could not read the live dispatcher: boom")
    app = make_app(start="aten::mm", live=broken)
    app.live_check = lambda s: (True, "live column: test")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _view(app) == "OpView"
        assert str(app.view.query_one("#dispatch-table").get_cell("CPU", "live")) == "?"
        assert any("boom" in n.message for n in app._notifications)


@pytest.mark.live
@async_test
async def test_live_column_with_the_real_dispatcher(make_app):
    from torchatlas.explorer.data import default_live_reader, live_availability
    app = make_app(start="aten::add.Tensor", live=default_live_reader)
    app.live_check = live_availability
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        if not app.live_ok:
            pytest.skip(app.live_note)
        await wait_for(pilot, lambda: app.view.live is not None, timeout=60)
        table = app.view.query_one("#dispatch-table")
        assert str(table.get_cell("CPU", "live")) == "= agrees"
        assert str(table.get_cell("AutogradCPU", "live")) == "= agrees"


# -- $EDITOR, help, pictures -----------------------------------------------------------------------

@async_test
async def test_o_opens_editor_at_the_line(make_app, tmp_path, monkeypatch):
    script = tmp_path / "ed.py"
    out = tmp_path / "args.json"
    script.write_text(f"import json, sys\njson.dump(sys.argv[1:], open({str(out)!r}, 'w'))\n")
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    app = make_app(start="torch.nn.modules.module.Module.__call__")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        path, line = app.view.model.code.path, app.view.model.code.anchor
        await pilot.press("o")
        await settle(pilot)
    args = json.loads(out.read_text())
    assert args == [f"+{line}", str(app.atlas.full_path(path))]


@async_test
async def test_o_without_editor_says_what_to_set(make_app, monkeypatch):
    monkeypatch.delenv("EDITOR", raising=False)
    app = make_app(start="aten::mm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        assert any("set $EDITOR" in n.message for n in app._notifications)


@async_test
async def test_help_explains_keys_and_kinds(make_app):
    from torchatlas.indexes.dispatch_keys import KIND_HELP
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert type(app.screen).__name__ == "HelpScreen"
        text = app.screen.text
        assert KIND_HELP["fallthrough"] in text and "$EDITOR" in text
        await pilot.press("escape")
        await settle(pilot)
        assert type(app.screen).__name__ != "HelpScreen"


@async_test
async def test_g_saves_a_picture_with_a_safe_name_where_the_toast_says(make_app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHATLAS_PICTURES_DIR", str(tmp_path / "pics"))
    app = make_app(start="aten::mm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        toasts = [str(n.message) for n in app._notifications]
    written = list((tmp_path / "pics").glob("torchatlas-aten_mm.*"))
    assert written, "no picture written"
    assert ":" not in written[0].name and not list(tmp_path.glob("torchatlas-*")), "nothing in the current directory"
    assert any(str(written[0]) in t for t in toasts), toasts


# -- states: no index, old index, foreign file, vanished source, small terminal ---------------------

@async_test
async def test_no_index_offers_to_build_it_with_progress(make_app, installed_db, tmp_path):
    from torchatlas.explorer.app import ExplorerApp
    target = tmp_path / "new.sqlite"
    steps = []

    def builder(source, db, progress):
        for i in range(3):
            progress("parsing 3 files", i, 3)
            steps.append(i)
        shutil.copy(installed_db, db)
    app = ExplorerApp(target, start="aten::mm", builder=builder, warm=False, live_check=lambda s: (False, "off"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert type(app.screen).__name__ == "BuildScreen"
        await pilot.press("enter")  # the Build button has the focus
        await settle(pilot, 0.2)
        assert steps == [0, 1, 2]
        assert _view(app) == "OpView" and app.view.model.op == "aten::mm"


@async_test
async def test_build_failure_is_a_notification_with_a_hint(installed_db, tmp_path):
    from torchatlas.explorer.app import ExplorerApp
    from torchatlas.indexes.errors import BadSource

    def builder(source, db, progress):
        raise BadSource("/nowhere: not a PyTorch source tree", hint="pass a checkout")
    app = ExplorerApp(tmp_path / "x.sqlite", builder=builder, warm=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot, 0.2)
        assert type(app.screen).__name__ == "BuildScreen"
        assert any("pass a checkout" in n.message for n in app._notifications)


def _tiny_index(path, schema: str, tool: str = "torchatlas") -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.executemany("INSERT INTO meta VALUES (?, ?)", [("tool", tool), ("schema", schema)])
    con.commit()
    con.close()


@async_test
async def test_old_index_format_offers_a_rebuild(tmp_path):
    from torchatlas.explorer.app import ExplorerApp
    db = tmp_path / "old.sqlite"
    _tiny_index(db, "1")
    app = ExplorerApp(db, warm=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert type(app.screen).__name__ == "BuildScreen"
        assert "older torchatlas" in app.screen.why


@async_test
async def test_foreign_sqlite_file_is_refused(tmp_path):
    from torchatlas.explorer.app import ExplorerApp
    db = tmp_path / "foreign.sqlite"
    _tiny_index(db, "2", tool="something-else")
    app = ExplorerApp(db, warm=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert type(app.screen).__name__ == "MessageScreen"
        assert "not a torchatlas index" in app.screen.message


def _writable_copy(db, to):
    """A copy of the shared index to change, and a connection to it."""
    shutil.copy(db, to)
    os.chmod(to, stat.S_IRUSR | stat.S_IWUSR)
    return to, sqlite3.connect(to)


@async_test
async def test_an_index_another_resolver_built_is_said(installed_db, tmp_path):
    from torchatlas.explorer.app import ExplorerApp
    db, con = _writable_copy(installed_db, tmp_path / "stale.sqlite")
    con.execute("UPDATE meta SET value = 'another' WHERE key = 'linker_code'")
    con.commit()
    con.close()
    app = ExplorerApp(db, warm=False, live_check=lambda s: (False, "off"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        toasts = [n for n in app._notifications if n.title == "index out of date"]
        assert len(toasts) == 1 and "reference resolver" in toasts[0].message
    app = ExplorerApp(installed_db, warm=False, live_check=lambda s: (False, "off"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not [n for n in app._notifications if n.title == "index out of date"]


@async_test
async def test_vanished_source_is_said(installed_db, tmp_path):
    from torchatlas.explorer.app import ExplorerApp
    db, con = _writable_copy(installed_db, tmp_path / "moved.sqlite")
    src = json.loads(con.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()[0])
    src["root"] = str(tmp_path / "gone")
    con.execute("UPDATE meta SET value = ? WHERE key = 'source'", (json.dumps(src),))
    con.commit()
    con.close()
    app = ExplorerApp(db, start="torch/nn/functional.py", warm=False, live_check=lambda s: (False, "off"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert any("moved or vanished" in (n.title or "") for n in app._notifications)
        assert _view(app) == "FileView"
        assert "is gone" in app.view.model.code.missing


@async_test
async def test_too_small_terminal_says_so_and_recovers(make_app):
    app = make_app(start="aten::mm")
    async with app.run_test(size=(70, 20)) as pilot:
        await settle(pilot)
        assert type(app.screen).__name__ == "TooSmallScreen"
        assert "80 x 24" in str(app.screen.query_one("#too-small").render())
        await pilot.resize_terminal(100, 30)
        await settle(pilot, 0.2)
        assert type(app.screen).__name__ != "TooSmallScreen"
        assert _view(app) == "OpView"


@async_test
async def test_breadcrumb_click_jumps_back(make_app):
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.navigate(Target("op", "aten::mm"))
        await settle(pilot)
        app.navigate(Target("callable", "torch.mm"))
        await settle(pilot)
        plain = app.query_one("#crumbs").render().plain
        x = plain.index("aten::add.Tensor") + 3 + 1  # +1: the bar's left padding
        await pilot.click("#crumbs", offset=(x, 0))
        await settle(pilot)
        assert app.pos == 0 and app.view.model.op == "aten::add.Tensor"
        assert len(app.history) == 3  # jumping keeps the forward history


# -- a newcomer's first look -----------------------------------------------------------------------

def _tab_labels(view):
    tc = view.query_one("TabbedContent")
    return [str(tc.get_tab(p.id).label) for p in tc.query("TabPane")]


@async_test
async def test_tabs_show_the_number_key_that_switches_to_them(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.navigate(Target("symbol", "torch.nn.functional.relu"))
        await settle(pilot)
        assert _view(app) == "SymbolView"
        labels = _tab_labels(app.view)  # filled in: "2 Refs (12)", "3 Callers (4)" ...
        assert [lab.split()[0] for lab in labels] == ["1", "2", "3", "4", "5"], labels
        assert labels[0] == "1 Code" and labels[1].startswith("2 Refs")
        tc = app.view.query_one("TabbedContent")
        for n, label in enumerate(labels, 1):
            await pilot.press(str(n))
            await settle(pilot)
            assert str(tc.get_tab(tc.active).label) == label
        app.navigate(Target("op", "aten::add.Tensor"))
        await settle(pilot)
        labels = _tab_labels(app.view)
        assert labels[:2] == ["1 Dispatch", "2 Overview"] and labels[2].startswith("3 Autograd (")
        await pilot.press("4")
        await settle(pilot)
        assert app.view.query_one("TabbedContent").active == "yaml"


def _quit_keys(app):
    """The keys the footer of the current screen shows for quitting, as it spells them."""
    return sorted({b.binding.key_display or b.binding.key for b in app.screen.active_bindings.values()
                   if b.binding.show and "quit" in b.binding.action})


@async_test
async def test_one_quit_key_spelled_the_same_everywhere(make_app, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHATLAS_STATE_DIR", str(tmp_path))  # the tour keeps its progress there
    from torchatlas.explorer.screens import IDLE, TooSmallScreen
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert _quit_keys(app) == ["ctrl+q"]  # an operator's view
        app.navigate(Target("home", ""))
        await settle(pilot)
        assert _quit_keys(app) == ["ctrl+q"]  # home: the search box has the focus, q would be typed
        assert "ctrl+q quits" in IDLE
        await pilot.press("f1")
        await settle(pilot)
        help_text = app.screen.text
        assert "ctrl+q" in help_text and "q or ctrl+q" not in help_text
        await pilot.press("escape")
        app.navigate(Target("tour", "dispatch"))
        await settle(pilot)
        assert type(app.screen).__name__ == "TourScreen"
        assert _quit_keys(app) == ["ctrl+q"]
        await pilot.press("escape")
        await settle(pilot)
        app.push_screen(TooSmallScreen())
        await settle(pilot)
        assert "ctrl+q quits" in str(app.screen.query_one("#too-small").render())
        app.pop_screen()
        app.navigate(Target("home", ""))
        await settle(pilot)
        assert app.focused is app.query_one("#search-input")
        await pilot.press("ctrl+q")  # quits while typing, too
        await settle(pilot)
        assert app._exit, "ctrl+q did not quit"


@async_test
async def test_breadcrumb_shows_the_path_not_pages_backed_out_of(make_app):
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.navigate(Target("op", "aten::mm"))
        await settle(pilot)
        app.navigate(Target("callable", "torch.mm"))
        await settle(pilot)
        crumbs = app.query_one("#crumbs").render().plain
        assert "aten::add.Tensor" in crumbs and "aten::mm" in crumbs and "torch.mm" in crumbs
        await pilot.press("backspace")
        await settle(pilot)
        crumbs = app.query_one("#crumbs").render().plain
        assert "aten::add.Tensor" in crumbs and "aten::mm" in crumbs
        assert "torch.mm" not in crumbs, crumbs  # backed out of: not part of where you are
        assert "▶" in crumbs  # ... but forward still goes there
        await pilot.press("f")
        await settle(pilot)
        assert app.query_one("#crumbs").render().plain.rstrip().endswith("torch.mm")


@async_test
async def test_help_wraps_long_lines_under_their_text(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        screen = app.screen
        box = screen.query_one("VerticalScroll")
        texts = list(screen.query(".help-text"))
        assert texts, "the help has no entries with a text column"
        wrapped = [t for t in texts if t.size.height > 1]
        assert wrapped, "no help line is long enough to wrap at 80 columns: the test proves nothing"
        for t in texts:  # every line of a text, the wrapped ones too, starts at its column, not at the box's edge
            assert t.region.x >= box.content_region.x + 20, (t.region, str(t.render())[:40])
