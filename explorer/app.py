"""`torchatlas explore`: a Textual terminal UI over the index.

Search first (`/`), then walk: an operator's dispatch table (with the installed torch's live
dispatcher beside it when the versions match), its YAML entry, autograd formulas and generated
files; a definition's code, refs, callers and callees; a file's symbols and includes; a trace
from a Python callable down to the loop. Every listed node is a link; back/forward history and
a breadcrumb keep the walk.

Threads: the index is queried in worker threads (one SQLite connection per thread, see
data.Atlas), the live dispatcher is read in a subprocess from a worker, the index is built in a
worker. The UI thread only mounts widgets.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import threading
import time
from functools import partial
from pathlib import Path
from typing import Callable

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.content import Content
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from torchatlas.indexes.dispatch_keys import DEFAULT_KEYS
from torchatlas.indexes.errors import AtlasError, BadIndex

from . import data
from .data import HOME, Atlas, Target
from .screens import (BuildScreen, HelpScreen, KeyPicker, MessageScreen, SearchPanel, SearchScreen,
                      TooSmallScreen)
from .views import (QUIT_BINDING, CallableView, FileView, Follow, M, Note, OpView, SymbolView, TraceView, View,
                    highlight_window)

VIEW_CLASSES = {"op": OpView, "callable": CallableView, "symbol": SymbolView, "file": FileView, "trace": TraceView}

MIN_SIZE = (80, 24)


class HomeView(View):
    """Where the explorer starts: what is indexed, and the finder."""

    DEFAULT_CSS = """
    HomeView > #home-banner { height: auto; padding: 0 1; background: $boost; text-wrap: nowrap;
                              text-overflow: ellipsis; }
    HomeView > SearchPanel { height: 1fr; }
    """

    def __init__(self, atlas: Atlas, initial: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.atlas = atlas
        self.initial = initial
        self.target = HOME

    def compose(self) -> ComposeResult:
        src = self.atlas.source
        c = self.atlas.counts()
        lines = [M("[b]torchatlas explorer[/]  torch $v [dim]($k) · $r[/]", v=src.version, k=src.kind, r=data.display_root(src.root))]
        if c:
            lines.append(M("[dim]$o operator overloads · $d dispatch entries · $f files · $s definitions[/]",
                           o=str(c.get("ops", "?")), d=str(c.get("dispatch_entries", "?")),
                           f=str(c.get("files_parsed", "?")), s=str(c.get("definitions", "?"))))
        lines.append(M("[dim]index $db[/]", db=str(self.atlas.db.name)))
        lines.append(M("[dim]learn: type [b]tour[/] for the guided tours, [b]lab[/] for the labs, "
                       "[b]rehearsal[/] for your rehearsed pull requests[/]"))
        note = self.atlas.source_note()
        if note:
            lines.append(M("[$warning]$n[/]", n=note))
        yield Static(Content("\n").join(lines), id="home-banner")
        yield SearchPanel(self.initial, id="home-search")

    def focus_first(self) -> None:
        self.query_one(SearchPanel).focus_input()

    def set_query(self, text: str) -> None:
        panel = self.query_one(SearchPanel)
        panel.set_value(text)


class Breadcrumb(Static):
    DEFAULT_CSS = """
    Breadcrumb { dock: top; height: 1; background: $panel; padding: 0 1; text-wrap: nowrap;
                 text-overflow: ellipsis; }
    """


def _python_code(view) -> bool:
    """A view of torch's own Python code (torch.nn.Linear, F.layer_norm): `t` traces from it."""
    hit = getattr(view.model, "hit", None) if isinstance(view, SymbolView) and view.model is not None else None
    return hit is not None and hit.lang == "python" and hit.qualname.startswith("torch.")


class ExplorerApp(App[None], inherit_bindings=False):  # App's own ctrl+q would lead the footer: ours is below
    """The explorer over one index file. `live_reader` (ops -> LiveTable) and `live_check`
    (SourceInfo -> (ok, note)) are injectable so tests need not start torch."""

    TITLE = "torchatlas explorer"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    Screen { layout: vertical; }
    #view { height: 1fr; }
    Footer { height: 1; }
    """
    BINDINGS = [
        Binding("slash", "search", "search"),
        Binding("ctrl+p", "search", "search", show=False),
        Binding("backspace,b,escape,alt+left", "back", "back"),
        Binding("f,alt+right", "forward", "forward", show=False),
        Binding("t", "trace", "trace"),
        Binding("k", "pick_key", "key", show=False),
        Binding("o", "open_editor", "$EDITOR"),
        Binding("g", "picture", "picture"),
        Binding("h", "home", "home", show=False),
        Binding("question_mark", "help", "help"),
        Binding("f1", "help", "help", show=False),
        # one quit key, spelled the same in every footer, the help and the hints: ctrl+q, from anywhere
        # (also while typing in a search box). q and escape leave a screen (help, tour, lab); on the views,
        # where nothing is above, q quits too.
        QUIT_BINDING,
        Binding("q", "quit", "quit", show=False),
        Binding("ctrl+c", "help_quit", show=False, system=True),  # says: ctrl+q quits
    ] + [Binding(str(n), f"tab({n})", f"tab {n}", show=False) for n in range(1, 7)]

    def __init__(self, db: Path | str, source=None, start: str | None = None,
                 live_reader: Callable | None = None, live_check: Callable | None = None,
                 builder: Callable | None = None, warm: bool = True, tune_gc: bool = False) -> None:
        super().__init__()
        self.tune_gc = tune_gc  # fewer, cheaper GC pauses: a full collection mid-navigation costs ~60 ms
        self.db = Path(db)
        self.source = source  # indexes.sources.Source: what to build when there is no index
        self.start_name = start
        self.live_reader = live_reader or data.default_live_reader
        self.live_check = live_check or data.live_availability
        self.builder = builder
        self.warm = warm
        self.atlas: Atlas | None = None
        self.history: list[Target] = []
        self.pos = -1
        self.live_ok = False
        self.live_note = ""
        self.live_cache: dict[str, dict] = {}
        self.live_cuda_built = True
        self._live_pending: set[str] = set()
        self.timings: dict[str, list[float]] = {"nav": [], "ready": []}
        self.ready = False
        self._t_start = time.perf_counter()
        self._deferred_open = False
        self._container: Container | None = None
        self._views: dict[str, View] = {}
        self._bindings_state: tuple = ()
        self._premount_worker = None

    # -- layout ------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Breadcrumb(id="crumbs")
        yield Container(id="view")
        yield Footer()

    def on_mount(self) -> None:
        self._container = self.query_one("#view", Container)
        self._crumbs = self.query_one(Breadcrumb)
        self._deferred_open = True
        self._check_size()

    def on_resize(self, event) -> None:
        if self._container is not None:
            self._check_size(event.size)

    def _check_size(self, size=None) -> None:
        w, h = size or self.size
        small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
        on_small = isinstance(self.screen, TooSmallScreen)
        if small and not on_small:
            self.push_screen(TooSmallScreen())
        elif not small and on_small:
            self.pop_screen()
        if not small and self._deferred_open:
            self._deferred_open = False
            self._open()

    # -- opening the index -------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            self.atlas = Atlas(self.db)
        except BadIndex as e:
            if not self.db.exists():
                self._offer_build("No index yet for this source.")
            elif "format" in e.message:
                self._offer_build(f"This index was written by an older torchatlas ({e.message.split(': ', 1)[-1]}); "
                                  "it has to be rebuilt.")
            else:
                self.push_screen(MessageScreen(e.message, e.hint))
            return
        except Exception as e:  # noqa: BLE001 - a corrupt file must not show a traceback
            self.push_screen(MessageScreen(f"{self.db}: cannot read this index ({type(e).__name__}: {e})",
                                           "remove it, or point --db at another file"))
            return
        self._opened()

    def _offer_build(self, why: str) -> None:
        def done(ok: bool | None) -> None:
            if ok:
                self._open()
        self.push_screen(BuildScreen(why, self.source, self.db, builder=self.builder), done)

    def _opened(self) -> None:
        atlas = self.atlas
        assert atlas is not None
        self.live_ok, self.live_note = self.live_check(atlas.source)
        note = atlas.source_note()
        if note:
            self.notify(note, title="source moved or vanished", severity="warning", timeout=15)
        if self.source is not None and str(self.source.root) != str(atlas.root):
            self.notify(f"this index was built from {atlas.root}, not {self.source.root}", severity="warning",
                        title="another source", timeout=15)
        from torchatlas.indexes.cache_dir import stale_code
        stale = stale_code(self.db)
        if stale:
            self.notify(f"{stale}: its answers may be out of date (`torchatlas index` updates it, in seconds)",
                        severity="warning", title="index out of date", timeout=15)
        if self.warm:
            self.run_worker(atlas.warm, thread=True, group="warm", exit_on_error=False)
        if self.start_name:
            self.run_worker(partial(self._resolve_start, self.start_name), thread=True, group="nav",
                            exit_on_error=False)
        else:
            self.navigate(HOME)

    def _resolve_start(self, name: str) -> None:
        try:
            r = data.resolve_name(self.atlas, name)
        except Exception as e:  # noqa: BLE001
            r = data.Resolved(None, note=f"could not look {name!r} up: {e}")
        self.call_from_thread(self._start_at, name, r)

    def _start_at(self, name: str, r: data.Resolved) -> None:
        if r.target is None:
            hint = ("did you mean " + ", ".join(r.suggestions[:5]) + "?") if r.suggestions else \
                "the search below shows what is close"
            self.notify(f"{r.note}\n{hint}", title="not found", severity="warning", timeout=10)
            self._show_home(initial=name)
            return
        if r.note:
            self.notify(r.note, timeout=8)
        self.navigate(r.target)

    # -- navigation --------------------------------------------------------------------------------
    @property
    def view(self) -> View | None:
        return next((v for v in self._views.values() if v.display), None)

    def navigate(self, target: Target, push: bool = True) -> None:
        t0 = time.perf_counter()
        if target.kind == "home":
            self._show_home(push=push)
            return
        if target.kind == "search":
            self.action_search(target.name)
            return
        if target.kind == "tour":  # the tour player is a screen of its own; escape comes back here
            from .tour_player import TourScreen
            self.push_screen(TourScreen(self.atlas.db, target.name, target.line or None))
            return
        if target.kind == "lab":  # so is the lab screen (explorer/lab_screen.py)
            self._open_lab(target.name)
            return
        if target.kind == "rehearsals":  # the history of `pr rehearse` (explorer/rehearsals_screen.py)
            from .rehearsals_screen import RehearsalsScreen
            self.push_screen(RehearsalsScreen())
            return
        self.run_worker(partial(self._load, target, push, t0), thread=True, exclusive=True, group="nav",
                        exit_on_error=False)

    def open_from_tour(self, target: Target, tab: int, tour_id: str, step: int) -> None:
        """A tour step's anchor in the views, at tab `tab` (a symbol's 1 code, 2 refs, 3 callers); the
        tour, at that step, goes into the history first, so back returns to it."""
        tour = Target("tour", tour_id, line=step)
        if self.pos < 0 or self.history[self.pos] != tour:
            del self.history[self.pos + 1:]
            self.history.append(tour)
            self.pos = len(self.history) - 1
        self._tab_after_show = (target, tab)
        self.navigate(target)

    def _open_lab(self, lab_id: str) -> None:
        from .lab_screen import LabScreen
        try:
            screen = LabScreen(lab_id, catalog=data.lab_catalog())
        except AtlasError as e:
            self._failed(e.message, e.hint)
            return
        self.push_screen(screen)

    def _load(self, target: Target, push: bool, t0: float) -> None:
        worker = get_current_worker()
        try:
            model = data.load(self.atlas, target)
            lines = highlighted = None
            if target.kind in ("symbol", "file"):
                lines = self.atlas.lines(model.code.path)
                highlighted = highlight_window(model.code)
            elif target.kind == "op" and model.yaml is not None:
                y = model.yaml
                highlighted = highlight_window(data.CodeWindow(y.path, y.start, y.lines, y.anchor, 0))
        except AtlasError as e:
            if not worker.is_cancelled:
                self.call_from_thread(self._failed, e.message, e.hint)
            return
        except Exception as e:  # noqa: BLE001 - never a traceback: say it, stay where we are
            if not worker.is_cancelled:
                self.call_from_thread(self._failed, f"could not open {target.label}: {type(e).__name__}: {e}", "")
            return
        if not worker.is_cancelled:
            self.call_from_thread(self._show, target, model, (lines, highlighted), push, t0)

    def _failed(self, message: str, hint: str) -> None:
        self.notify(message + (f"\n{hint}" if hint else ""), title="cannot go there", severity="warning", timeout=8)

    async def _view_of(self, kind: str) -> View:
        """The (one) view of a kind of node, mounted on first use and reused after."""
        view = self._views.get(kind)
        if view is None:
            view = HomeView(self.atlas, id="home") if kind == "home" else VIEW_CLASSES[kind](id=kind)
            self._views[kind] = view
            view.display = False  # shown by _switch
            await self._container.mount(view)
        return view

    async def _show(self, target: Target, model, text, push: bool, t0: float) -> None:
        lines, highlighted = text
        self._record("load", t0)
        t1 = time.perf_counter()
        view = await self._view_of(target.kind)
        with self.batch_update():
            if isinstance(view, OpView):
                view.show(model, self.live_note, target.key, highlighted)
            elif isinstance(view, (SymbolView, FileView)):
                view.show(model, highlighted, lines)
            else:
                view.show(model)
            self._switch(view, view.target if push else None)
            pending = getattr(self, "_tab_after_show", None)  # open_from_tour: a tab of the node
            if pending is not None and pending[0].kind == target.kind and pending[0].name == target.name:
                self._tab_after_show = None
                view.switch_tab(pending[1])
        if isinstance(view, OpView):
            self._start_live(view)
            self._load_after_show(view, model, partial(data.operator_callers, self.atlas, model.op), "callers",
                                  view.set_callers)
        elif isinstance(view, SymbolView):
            name = model.hit.qualname if model.hit else model.target.name
            self._load_after_show(view, model, partial(data.symbol_uses, self.atlas, name), "uses", view.set_uses)
        self.call_after_refresh(self._record, "nav", t0)
        self.call_after_refresh(self._record, "paint", t1)

    def _show_home(self, push: bool = True, initial: str = "") -> None:
        if self.atlas is None:
            return
        t0 = time.perf_counter()

        async def show() -> None:
            view = await self._view_of("home")
            if initial:
                view.set_query(initial)
            self._switch(view, HOME if push else None)
            self.call_after_refresh(self._record, "nav", t0)
        self.run_worker(show(), group="mount")

    def _switch(self, view: View, push_target: Target | None) -> None:
        for other in self._views.values():
            if other is not view and other.display:
                other.display = False
        view.display = True
        if push_target is not None:
            if not (self.pos >= 0 and self.history[self.pos] == push_target):
                del self.history[self.pos + 1:]
                self.history.append(push_target)
                self.pos = len(self.history) - 1
        view.focus_first()
        self._update_crumbs()
        state = (type(view), self.pos > 0, self.pos < len(self.history) - 1)
        if state != self._bindings_state:
            self._bindings_state = state
            self.refresh_bindings()
        if not self.ready:
            self.ready = True
            self.call_after_refresh(self._record, "ready", self._t_start)
            self._premount_worker = self.run_worker(self._premount(), group="premount", exit_on_error=False)

    async def _premount(self) -> None:
        """Mount the views not used yet, while the user reads the first one: later navigation only
        refills them."""
        import asyncio
        await asyncio.sleep(0.15)  # after the first paint
        for kind in ("op", "symbol", "file", "trace", "callable", "home"):
            if kind not in self._views and self.atlas is not None:
                await self._view_of(kind)
        if self.tune_gc:
            import gc
            gc.collect()
            gc.freeze()  # what exists now lives as long as the app: never scan it again

    def _record(self, what: str, t0: float) -> None:
        self.timings.setdefault(what, []).append(time.perf_counter() - t0)

    def _update_crumbs(self) -> None:
        parts = []
        lo = max(0, self.pos - 4)
        if lo > 0:
            parts.append(Content("… › "))
        # the path to where you are: pages you backed out of stay in the history (f, ▶) but are not shown
        for i in range(lo, self.pos + 1):
            t = self.history[i]
            label = t.label if len(t.label) <= 34 else t.label[:33] + "…"
            style = "b reverse" if i == self.pos else ""
            parts.append(Content.from_markup(f"[{style} @click=app.jump({i})]$l[/]" if style else
                                             f"[@click=app.jump({i})]$l[/]", l=label))
            if i < self.pos:
                parts.append(Content.from_markup("[dim] › [/]"))
        back = "◀" if self.pos > 0 else " "
        fwd = "▶" if self.pos < len(self.history) - 1 else " "
        head = Content.from_markup(f"[b]torchatlas[/] [dim]{back}{fwd}[/] ")
        self._crumbs.update(head + Content("").join(parts))

    # -- history actions ---------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit; a view being mounted in the background is let finish first (a few ms), so that no
        widget is half-mounted when the app tears down."""
        worker = self._premount_worker
        if worker is not None and worker.is_running:
            try:
                await worker.wait()
            except Exception:  # noqa: BLE001 - quitting anyway
                pass
        self.exit()

    def action_back(self) -> None:
        if self.pos > 0:
            self.pos -= 1
            self.navigate(self.history[self.pos], push=False)

    def action_forward(self) -> None:
        if self.pos < len(self.history) - 1:
            self.pos += 1
            self.navigate(self.history[self.pos], push=False)

    def action_jump(self, i: int) -> None:
        if 0 <= i < len(self.history) and i != self.pos:
            self.pos = i
            self.navigate(self.history[i], push=False)

    def action_home(self) -> None:
        self.navigate(HOME)

    def follow_entry(self, entry) -> None:
        """Enter on a dispatch row: the kernel's definition, or why this source has none."""
        t0 = time.perf_counter()

        def find() -> None:
            try:
                target, why = data.kernel_target(self.atlas, entry)
            except Exception as e:  # noqa: BLE001
                target, why = None, f"could not look {entry.kernel} up: {e}"
            if target is not None:
                self._load(target, True, t0)  # the model too, in this same worker thread
            else:
                self.call_from_thread(self.notify, why, timeout=8)
        self.run_worker(find, thread=True, group="follow", exit_on_error=False)

    @on(Follow)
    def _on_follow(self, event: Follow) -> None:
        self.navigate(event.target)

    @on(Note)
    def _on_note(self, event: Note) -> None:
        self.notify(event.text, timeout=8)

    # -- search ------------------------------------------------------------------------------------
    @on(SearchPanel.Chosen)
    def _chosen(self, event: SearchPanel.Chosen) -> None:
        self.navigate(event.target)

    def action_search(self, initial: str = "") -> None:
        if self.atlas is None:
            return
        view = self.view
        if isinstance(view, HomeView) and not initial:
            view.focus_first()
            return

        def chosen(target: Target | None) -> None:
            if target is not None:
                self.navigate(target)
        self.push_screen(SearchScreen(initial), chosen)

    # -- live dispatcher ---------------------------------------------------------------------------
    def _start_live(self, view: OpView) -> None:
        op = view.model.op
        if not self.live_ok:
            return
        if op in self.live_cache:
            view.set_live(self.live_cache[op], self._live_text(op), self.live_cuda_built)
            return
        if op in self._live_pending:
            return
        ops = list(dict.fromkeys([op] + view.model.overloads + view.model.related))
        self._live_pending.update(ops)
        # a daemon thread, not a worker: quitting must not wait for torch to finish importing
        threading.Thread(target=self._read_live, args=(ops,), name="torchatlas-live", daemon=True).start()

    def _live_text(self, op: str) -> str:
        table = self.live_cache.get(op)
        if table is None:
            return self.live_note
        if not table:
            return self.live_note + " · the live dispatcher does not know this operator"
        return self.live_note

    def _read_live(self, ops: list[str]) -> None:
        try:
            table = self.live_reader(ops)
        except Exception as e:  # noqa: BLE001 - AtlasError or anything else: a note, not a crash
            msg = e.message if isinstance(e, AtlasError) else f"{type(e).__name__}: {e}"
            self._from_thread(self._live_failed, ops, msg)
            return
        self._from_thread(self._live_arrived, ops, table)

    def _from_thread(self, fn, *args) -> None:
        try:
            self.call_from_thread(fn, *args)
        except RuntimeError:  # the app has exited meanwhile
            pass

    @property
    def live_pending(self) -> bool:
        return bool(self._live_pending)

    def _live_arrived(self, ops: list[str], table) -> None:
        self._live_pending.difference_update(ops)
        self.live_cuda_built = getattr(table, "cuda_built", True)
        for op in ops:
            self.live_cache[op] = (table.ops.get(op) or {})
        view = self.view
        if isinstance(view, OpView) and view.model.op in ops:
            view.set_live(self.live_cache[view.model.op], self._live_text(view.model.op), self.live_cuda_built)

    def _live_failed(self, ops: list[str], message: str) -> None:
        self._live_pending.difference_update(ops)
        self.live_ok = False
        self.live_note = f"live column off: {message}"
        view = self.view
        if isinstance(view, OpView):
            view.set_live(None, self.live_note)
        self.notify(message, title="live dispatcher", severity="warning", timeout=8)

    # -- the slower half of a view: read in a worker after the view is shown --------------------------
    def _load_after_show(self, view, model, read, what: str, show) -> None:
        """Run `read()` in a worker (one at a time: a newer view's cancels it) and give its result to
        `show(result, error)` if `view` still shows `model` by then."""
        self.run_worker(partial(self._read_for, view, model, read, what, show), thread=True, group="uses",
                        exclusive=True, exit_on_error=False)

    def _read_for(self, view, model, read, what: str, show) -> None:
        try:
            got, err = read(), ""
        except Exception as e:  # noqa: BLE001
            got, err = None, f"could not read the {what}: {e}"
        if not get_current_worker().is_cancelled:
            self.call_from_thread(self._arrived, view, model, show, got, err)

    def _arrived(self, view, model, show, got, err: str) -> None:
        if view.model is model:
            show(got, err)

    # -- actions on the current view ---------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        top = self.screen_stack[-1] if self.screen_stack else None
        if action in getattr(top, "HIDE_APP_ACTIONS", ()):
            return False  # a screen over the views (a lab) whose keys would act on the view beneath
        view = self.view
        if action == "back":
            return True if self.pos > 0 else None
        if action == "forward":
            return True if self.pos < len(self.history) - 1 else None
        if action == "trace":
            return True if isinstance(view, (OpView, CallableView)) or _python_code(view) else None
        if action == "picture":
            return True if isinstance(view, (OpView, TraceView)) else None
        if action == "open_editor":
            return True if view is not None and not isinstance(view, HomeView) else None
        return True

    def action_tab(self, n: int) -> None:
        view = self.view
        if view is not None:
            view.switch_tab(n)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_trace(self) -> None:
        view = self.view
        if isinstance(view, OpView):
            self.navigate(Target("trace", view.model.op, key=view.selected_key or "CPU"))
        elif isinstance(view, CallableView):
            self.navigate(Target("trace", view.model.name, key="CPU"))
        elif _python_code(view):  # its resolved calls, to the nearest callable that binds an operator
            self.navigate(Target("trace", view.model.hit.qualname, key="CPU"))
        elif isinstance(view, TraceView):
            self.notify("k picks another dispatch key for this trace", timeout=4)
        else:
            self.notify("t traces an operator, a Python callable or torch's Python code: open one first (/ searches)",
                        timeout=5)

    def action_pick_key(self) -> None:
        view = self.view
        if isinstance(view, TraceView):
            current, start = view.model.key, view.model.start
        elif isinstance(view, OpView):
            current, start = view.selected_key, None
        else:
            self.notify("k picks a dispatch key in an operator's table or a trace", timeout=4)
            return
        keys = list(DEFAULT_KEYS) if start else [e.key for e in view.model.entries]

        def picked(key: str | None) -> None:
            if not key:
                return
            v = self.view
            if isinstance(v, TraceView):
                self.navigate(Target("trace", v.model.start, key=key))
            elif isinstance(v, OpView):
                from textual.widgets import DataTable
                dt = v.query_one("#dispatch-table", DataTable)
                dt.move_cursor(row=dt.get_row_index(key))
        self.push_screen(KeyPicker(keys, current), picked)

    def action_open_editor(self) -> None:
        view = self.view
        loc = view.location if view is not None else None
        if not loc:
            self.notify("nothing here has a file to open", timeout=4)
            return
        path, line = loc
        full = self.atlas.full_path(path)
        if not full.exists():
            self.notify(f"{full} is not there: " + (self.atlas.source_note() or "a generated file is not in a source "
                                                    "tree"), severity="warning", timeout=8)
            return
        editor = os.environ.get("EDITOR", "").strip()
        if not editor:
            self.notify(f"set $EDITOR to open files from here (export EDITOR=vim, nano, 'emacs -nw' ...). "
                        f"The location is {path}:{line}", title="no $EDITOR", severity="warning", timeout=10)
            return
        argv = shlex.split(editor) + [f"+{max(1, line)}", str(full)]
        try:
            if self.is_headless:
                subprocess.run(argv, check=False)
            else:
                with self.suspend():
                    subprocess.run(argv, check=False)
        except OSError as e:
            self.notify(f"could not start {argv[0]}: {e}", title="$EDITOR", severity="error", timeout=8)
        except Exception as e:  # noqa: BLE001 - SuspendNotSupported and friends
            self.notify(f"cannot hand the terminal to $EDITOR here ({type(e).__name__}); the location is "
                        f"{path}:{line}", severity="warning", timeout=8)

    def action_picture(self) -> None:
        from torchatlas.indexes import dot_files

        from . import pictures
        view = self.view
        if isinstance(view, OpView):
            m = view.model
            dot = pictures.dispatch_dot([(m.op, {e.key: e for e in m.entries})], m.source,
                                        {m.op: view.live} if view.live is not None else None, view.cuda_built)
            stem = m.op.replace("::", "_")
        elif isinstance(view, TraceView):
            m = view.model
            dot = pictures.trace_dot(m.start, m.op, m.key, m.steps, self.atlas.source)
            stem = f"trace_{m.start}_{m.key}"
        else:
            self.notify("g draws an operator's dispatch table or a trace", timeout=4)
            return
        suffix = ".svg" if dot_files.dot_binary() else ".dot"
        out = dot_files.pictures_dir() / f"torchatlas-{dot_files.safe_stem(stem)}{suffix}"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            dot_files.write_graph(dot, out)
        except AtlasError as e:
            self.notify(e.message + (f"\n{e.hint}" if e.hint else ""), severity="error", timeout=10)
            return
        except OSError as e:
            self.notify(f"cannot write {out}: {e.strerror}; set TORCHATLAS_PICTURES_DIR to a writable folder",
                        severity="error", timeout=10)
            return
        extra = "" if suffix == ".svg" else " (graphviz's dot is not installed: apt-get install graphviz, " \
                                            "or brew install graphviz, then dot -Tsvg)"
        self.notify(f"wrote {out}{extra}", title="picture", timeout=8)


def tune_gc() -> None:
    """Young-generation collections less often: the UI allocates many short-lived objects per frame."""
    import gc
    gc.set_threshold(20000, 20, 20)


def run_explorer(db: Path, source=None, start: str | None = None) -> int:
    tune_gc()
    app = ExplorerApp(db, source=source, start=start, tune_gc=True)
    app.run()
    return 0
