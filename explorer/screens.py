"""The explorer's other screens: search, help, build the index, pick a key, too small, errors."""

from __future__ import annotations

import sqlite3
import time
from functools import partial

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from torchatlas.indexes.dispatch_keys import ALIAS_KEYS, DEFAULT_KEYS, KEY_HELP, KIND_HELP

from . import data
from .data import Target
from .views import HIT_COLOUR, KIND_COLOUR, QUIT_BINDING, A, Follow, Item, LinkList, M, heading

EXAMPLES = (("aten::add.Tensor", "an operator: its dispatch table, YAML, autograd"),
            ("torch.add", "a Python callable: t traces it to the kernel"),
            ("add_out", "C++ kernels and functions"),
            ("TensorIterator", "a C++ class"),
            ("torch.nn.Module.__call__", "Python"),
            ("BinaryOps", "files"))


# -- search ----------------------------------------------------------------------------------------

IDLE = "type to search · ↑↓ move · enter opens · tab leaves the box · F1 help · ctrl+q quits"


class SearchPanel(Vertical):
    """A fuzzy finder over the index: ranked like `torchatlas find`, updated as you type.

    Each keystroke interrupts the query still running for the previous one; the next starts after a
    short pause (DEBOUNCE) in a worker thread, so typing never waits for SQLite.
    """

    DEFAULT_CSS = """
    SearchPanel { height: 1fr; }
    SearchPanel > Input { margin: 0 0; }
    SearchPanel > #search-status { height: 1; padding: 0 1; color: $text-muted; }
    SearchPanel > LinkList { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    BINDINGS = [Binding("down", "move(1)", show=False), Binding("up", "move(-1)", show=False),
                Binding("pagedown", "move(10)", show=False), Binding("pageup", "move(-10)", show=False)]
    DEBOUNCE = 0.01

    class Chosen(Message):
        def __init__(self, target: Target) -> None:
            super().__init__()
            self.target = target

    def __init__(self, initial: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = initial
        self._gen = 0
        self._timer = None
        self.typed_at = 0.0
        self.latencies: list[float] = []  # keystroke -> results shown, seconds (read by the bench)
        self.query_shown = ""

    def compose(self) -> ComposeResult:
        yield Input(value=self.initial, placeholder="search: operators, Python callables, C++ and Python symbols, "
                                                    "files", id="search-input")
        yield Static(id="search-status")
        yield LinkList(self._examples(), id="search-results")

    def on_mount(self) -> None:
        if self.initial:
            self._schedule(self.initial)
        else:
            self._status(IDLE)

    def focus_input(self) -> None:
        self.query_one(Input).focus()

    def set_value(self, text: str) -> None:
        inp = self.query_one(Input)
        inp.value = text
        inp.cursor_position = len(text)

    def _examples(self) -> list[Item]:
        items = [heading("try")]
        for q, what in EXAMPLES:
            items.append(Item(M("  [b]$q[/]  [dim]$w[/]", q=q, w=what), Target("search", q)))
        return items

    def _status(self, text: str) -> None:
        self.query_one("#search-status", Static).update(text)

    @property
    def atlas(self):
        return self.app.atlas  # type: ignore[attr-defined]

    # typing ---------------------------------------------------------------------------------------
    @on(Input.Changed, "#search-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.value.startswith("/"):
            # `/` is the search key everywhere else; pressed in this box it is that habit, not a
            # query (no symbol or relative path starts with a slash): drop it, the box re-fires
            event.input.value = event.value.lstrip("/")
            return
        self.typed_at = time.perf_counter()
        self._schedule(event.value)

    def _schedule(self, value: str) -> None:
        self._gen += 1
        gen = self._gen
        if self._timer is not None:
            self._timer.stop()
        self.atlas.interrupt_search()  # the query of the previous keystroke, if it is still running
        if not value.strip():
            self.query_one(LinkList).set_items(self._examples())
            self._status(IDLE)
            return
        self._timer = self.set_timer(self.DEBOUNCE, partial(self._start, gen, value))

    def _start(self, gen: int, value: str) -> None:
        if gen != self._gen:
            return
        self.run_worker(partial(self._search, gen, value), thread=True, group="search", exit_on_error=False)

    def _search(self, gen: int, value: str) -> None:
        if gen != self._gen:
            return
        try:
            hits = data.search(self.atlas, value, limit=60)
        except sqlite3.OperationalError:  # interrupted by the next keystroke
            return
        except Exception as e:  # noqa: BLE001 - a search must never take the app down
            self.app.call_from_thread(self._status, f"search failed: {e}")
            return
        if gen == self._gen and not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, gen, value, hits)

    def _show(self, gen: int, value: str, hits) -> None:
        if gen != self._gen:
            return
        items = []
        for h in hits:
            colour = HIT_COLOUR.get(h.kind, "$text")
            where = {"callable": "Python callable: binds operators", "file": ""}.get(h.kind, h.location)
            items.append(Item(A((f"{h.kind:<12}", colour), " ", (h.qualname, "bold"), "  ", (where, "dim")),
                              data.target_of_hit(h)))
        results = self.query_one(LinkList)
        if items:
            results.set_items(items)
            n = f"{len(hits)}{'+' if len(hits) >= 60 else ''} result{'' if len(hits) == 1 else 's'}"
            self._status(f"{n} for {value.strip()!r} · ↑↓ move · enter opens")
        else:
            results.set_items([Item(M("[dim]nothing matches $v: fewer letters, or another spelling[/]", v=value))])
            self._status(f"no results for {value.strip()!r}")
        self.query_shown = value
        if self.typed_at:
            self.latencies.append(time.perf_counter() - self.typed_at)

    # choosing -------------------------------------------------------------------------------------
    def action_move(self, n: int) -> None:
        results = self.query_one(LinkList)
        if not results.option_count:
            return
        cur = results.highlighted if results.highlighted is not None else -1
        new = max(0, min(results.option_count - 1, cur + n))
        step = 1 if n > 0 else -1
        while 0 <= new < results.option_count and results.items[new].heading:
            new += step
        if 0 <= new < results.option_count:
            results.highlighted = new

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        cur = self.query_one(LinkList).current
        if cur is None:
            return
        if cur.target is not None:
            self._choose(cur.target)

    @on(Follow)
    def _follow(self, event: Follow) -> None:
        event.stop()
        self._choose(event.target)

    def _choose(self, target: Target) -> None:
        if target.kind == "search":
            inp = self.query_one(Input)
            inp.value = target.name
            inp.cursor_position = len(target.name)
            inp.focus()
            return
        self.post_message(self.Chosen(target))


class SearchScreen(ModalScreen[Target | None]):
    """`/` or ctrl+p from anywhere: the finder over the current view."""

    DEFAULT_CSS = """
    SearchScreen { align: center top; background: $background 60%; }
    SearchScreen > #search-box { width: 90%; max-width: 140; height: 80%; margin-top: 2; border: round $accent;
                                 background: $surface; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "close", show=False)]

    def __init__(self, initial: str = "") -> None:
        super().__init__()
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            yield SearchPanel(self.initial, id="search-panel")

    def on_mount(self) -> None:
        self.query_one(SearchPanel).focus_input()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(SearchPanel.Chosen)
    def _chosen(self, event: SearchPanel.Chosen) -> None:
        event.stop()
        self.dismiss(event.target)


# -- help ------------------------------------------------------------------------------------------

BINDINGS_HELP = (
    ("/  ctrl+p", "search: operators, Python callables, C++/Python symbols, files"),
    ("enter, click", "follow the highlighted link (a kernel, a file, a caller, an overload ...)"),
    ("backspace  b  esc", "back;  f or alt+right: forward;  h: home; click the breadcrumb to jump"),
    ("1 .. 5", "switch to the tab of that number (1 Dispatch, 2 Overview ...; 1 Code, 2 Refs ...)"),
    ("t", "trace an operator (selected key), a Python callable or Python code to the loop"),
    ("k", "pick another dispatch key (trace view, dispatch table)"),
    ("o", "open the current location in $EDITOR at its line ($EDITOR +LINE FILE)"),
    ("g", "save a picture of the dispatch table or the trace (.svg with graphviz, else .dot)"),
    ("[  ]", "in code: show the earlier / next lines of the file"),
    ("?  F1", "this help (esc or q closes it, as it leaves the tour and lab screens)"),
    ("ctrl+q", "quit, from anywhere (also while typing in a search box)"),
)


class HelpRow(Horizontal):
    """One entry of the help: a key (or a name) in a column of its own, its text beside it, so that a
    long text wraps under itself, not under the key at column 0."""

    DEFAULT_CSS = """
    HelpRow { height: auto; }
    HelpRow > .help-key { width: 22; height: auto; padding-left: 2; }
    HelpRow > .help-key.wide { width: 37; }
    HelpRow > .help-text { width: 1fr; height: auto; }
    """

    def __init__(self, key: Content, text: Content, wide: bool = False) -> None:
        super().__init__()
        self.key, self.text, self.wide = key, text, wide

    def compose(self) -> ComposeResult:
        yield Static(self.key, classes="help-key wide" if self.wide else "help-key")
        yield Static(self.text, classes="help-text")


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; background: $background 60%; }
    HelpScreen > VerticalScroll { width: 90%; max-width: 120; height: 90%; border: round $accent;
                                  background: $surface; padding: 0 1; }
    HelpScreen .help-heading { height: auto; margin-top: 1; }
    HelpScreen .help-heading.first { margin-top: 0; }
    HelpScreen .help-indented { height: auto; padding-left: 2; }
    HelpScreen .help-indented.deeper { padding-left: 6; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(M("[b $accent]keys[/]"), classes="help-heading first")
            for keys, what in BINDINGS_HELP:
                yield HelpRow(M("[b]$k[/]", k=keys), M("$w", w=what))
            yield Static(M("[b $accent]what a dispatch table says[/]  [dim](one row per runtime key: which kernel "
                           "the dispatcher calls for a tensor with that key)[/]"), classes="help-heading")
            for kind, text in KIND_HELP.items():
                yield HelpRow(M(f"[{KIND_COLOUR.get(kind, '$text')}]$k[/]", k=kind), M("$t", t=text), wide=True)
            yield Static(M("[b $accent]alias keys[/]  [dim](a kernel registered for one serves many runtime "
                           "keys)[/]"), classes="help-heading")
            for key in ALIAS_KEYS:
                yield Static(M("[b]$k[/]", k=key), classes="help-indented")
                yield Static(M("$t", t=KEY_HELP.get(key, "")), classes="help-indented deeper")
            yield Static(M("[b $accent]runtime keys[/]  [dim](functionality x backend: SparseCPU is sparse tensors "
                           "on CPU; Autograd<backend> runs first and redispatches)[/]"), classes="help-heading")
            yield Static(M("$k", k=", ".join(DEFAULT_KEYS)), classes="help-indented")
            yield HelpRow(M("[b $accent]LIVE[/]"), M("[dim]= agrees with the installed torch's dispatcher · ! "
                                                     "disagrees · ~ expected to differ (a CPU-only build has no "
                                                     "CUDA kernels)[/]"))

    @property
    def text(self) -> str:
        """All the help as plain text (what the tests search)."""
        return "\n".join(str(w.render()) for w in self.query(Static))

    def action_close(self) -> None:
        self.dismiss(None)


# -- pick a dispatch key ---------------------------------------------------------------------------

class KeyPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    KeyPicker { align: center middle; background: $background 60%; }
    KeyPicker > OptionList { width: 80; max-width: 95%; height: 80%; border: round $accent; }
    """
    BINDINGS = [Binding("escape", "close", "close")]

    def __init__(self, keys: list[str], current: str = "") -> None:
        super().__init__()
        self.keys = keys
        self.current = current

    def compose(self) -> ComposeResult:
        yield OptionList(*[Option(M("[b]$k[/]  [dim]$x[/]", k=f"{k:<22}", x=data.key_explanation(k)), id=k)
                           for k in self.keys])

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        if self.current in self.keys:
            ol.highlighted = self.keys.index(self.current)
        ol.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


# -- no index yet ----------------------------------------------------------------------------------

class BuildScreen(Screen[bool]):
    """Offer to build (or rebuild) the index; build it in a worker thread with a progress bar."""

    DEFAULT_CSS = """
    BuildScreen { align: center middle; }
    BuildScreen > Vertical { width: 90; max-width: 100%; height: auto; border: round $accent; padding: 1 2; }
    BuildScreen Static { height: auto; }
    BuildScreen Horizontal { height: auto; margin-top: 1; }
    BuildScreen Button { margin-right: 2; }
    BuildScreen ProgressBar { margin-top: 1; display: none; }
    BuildScreen #build-step { color: $text-muted; }
    """
    BINDINGS = [Binding("q", "quit_build", "quit")]

    def __init__(self, why: str, source, db, builder=None) -> None:
        super().__init__()
        self.why = why
        self.source = source
        self.db = db
        self.builder = builder
        self.building = False
        self.cancelled = False

    def compose(self) -> ComposeResult:
        src = self.source
        what = (f"torch {src.info.version} ({src.info.kind}: {src.info.root})" if src is not None
                else "the installed torch")
        size = "about 20 seconds" if src is None or src.info.layout == "package" else "a minute or two (a full tree)"
        with Vertical():
            yield Static(M("[b]$w[/]", w=self.why))
            yield Static(M("Build it now? torchatlas reads $s into one SQLite file:\n[dim]$d[/]\nIt takes $t, once; "
                           "later runs only re-read what changed.", s=what, d=str(self.db), t=size))
            with Horizontal():
                yield Button("Build the index", id="build", variant="primary")
                yield Button("Quit", id="quit")
            yield ProgressBar(id="build-progress", show_eta=False)
            yield Static(id="build-step")

    def on_mount(self) -> None:
        self.query_one("#build", Button).focus()

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.action_quit_build()

    def action_quit_build(self) -> None:
        if self.building and not self.cancelled:
            self.cancelled = True
            self.query_one("#build-step", Static).update("stopping: the index is left as it was ...")
            return
        self.app.exit()

    @on(Button.Pressed, "#build")
    def _build(self) -> None:
        if self.building:
            return
        self.building = True
        self.query_one("#build", Button).disabled = True
        self.query_one("#build-progress", ProgressBar).display = True
        self.query_one("#build-step", Static).update("starting ...")
        self.run_worker(self._run_build, thread=True, group="build", exit_on_error=False)

    def _run_build(self) -> None:
        from torchatlas.indexes.errors import AtlasError, Interrupted
        from torchatlas.indexes.pipeline import build_index
        from torchatlas.indexes.sources import open_source

        def progress(step: str, done: int, total: int) -> None:
            if self.cancelled:
                raise Interrupted("index build stopped")
            self.app.call_from_thread(self._progress, step, done, total)
        try:
            source = self.source or open_source("installed")
            (self.builder or build_index)(source, self.db, progress=progress)
        except Interrupted:
            self.app.call_from_thread(self.app.exit)
            return
        except AtlasError as e:
            self.app.call_from_thread(self._failed, e.message, e.hint)
            return
        except Exception as e:  # noqa: BLE001 - say it, keep the app
            self.app.call_from_thread(self._failed, f"indexing failed: {type(e).__name__}: {e}",
                                      "run `torchatlas index` in a shell to see the details")
            return
        self.app.call_from_thread(self._done)

    def _progress(self, step: str, done: int, total: int) -> None:
        bar = self.query_one("#build-progress", ProgressBar)
        if total:
            bar.update(total=total, progress=done)
        else:
            bar.update(total=None)
        self.query_one("#build-step", Static).update(step)

    def _failed(self, message: str, hint: str) -> None:
        self.building = False
        self.query_one("#build", Button).disabled = False
        self.query_one("#build-progress", ProgressBar).display = False
        self.query_one("#build-step", Static).update(M("[$error]$m[/]", m=message))
        self.notify(message + (f"\nhint: {hint}" if hint else ""), title="could not build the index",
                    severity="error", timeout=12)

    def _done(self) -> None:
        self.building = False
        self.dismiss(True)


# -- fatal states ----------------------------------------------------------------------------------

class MessageScreen(Screen[None]):
    """A state the explorer cannot work in (a foreign index, a vanished source): say so, and how out."""

    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen > Static { width: 90; max-width: 100%; height: auto; border: round $error; padding: 1 2; }
    """
    BINDINGS = [Binding("q,escape", "app.quit", "quit", show=False), QUIT_BINDING]

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__()
        self.message = message
        self.hint = hint

    def compose(self) -> ComposeResult:
        yield Static(M("[b $error]$m[/]\n\n$h\n\n[dim]ctrl+q quits[/]", m=self.message, h=self.hint))


class TooSmallScreen(Screen[None]):
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen > Static { width: auto; height: auto; padding: 0 1; }
    """
    BINDINGS = [Binding("q", "app.quit", "quit", show=False), QUIT_BINDING]

    def compose(self) -> ComposeResult:
        yield Static(id="too-small")

    def on_mount(self) -> None:
        self.refresh_size()

    def on_resize(self, event) -> None:
        self.refresh_size(event.size)

    def refresh_size(self, size=None) -> None:
        w, h = size or self.app.size
        self.query_one(Static).update(M("[b]The terminal is $w x $h.[/]\nThe explorer needs at least 80 x 24:\n"
                                        "make the window larger (ctrl+q quits).", w=str(w), h=str(h)))
