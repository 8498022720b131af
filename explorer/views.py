"""The explorer's views: one widget per kind of node, built from the models of `data.py`.

Every list is made of links (`LinkList`): enter or a click follows the item's Target. The views
never query the index on the UI thread; the app builds their model in a worker and hands it over.
"""

from __future__ import annotations

from typing import Iterable

from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option
from textual.widgets.data_table import ColumnKey

from . import data
from .data import (CallableModel, CodeWindow, FileModel, OpModel, SymbolModel, Target, TraceModel, Uses,
                   key_explanation, kind_help, lexer_for, split_location)


# The one quit key, the same binding on every screen (so every footer says it the same way): it
# works from anywhere, also while typing in a search box. q and escape leave a screen instead.
QUIT_BINDING = Binding("ctrl+q", "app.quit", "quit", key_display="ctrl+q")


def M(markup: str, **values) -> Content:
    """Content from markup; `$name` values are escaped (names like Tensor?[] stay literal)."""
    return Content.from_markup(markup, **values)


A = Content.assemble  # (text, style) parts: 25x faster than markup, for long lists


KIND_COLOUR = {"kernel": "$success", "composite_explicit": "$primary", "composite_explicit_nonfunctional": "$primary",
               "composite_implicit": "$secondary", "composite_implicit_nested": "$secondary", "autograd": "$warning",
               "fallback": "$foreground-muted", "fallthrough": "$foreground-muted", "none": "$error"}

KIND_RICH = {"kernel": "green", "composite_explicit": "dodger_blue2", "composite_explicit_nonfunctional": "dodger_blue2",
             "composite_implicit": "medium_purple", "composite_implicit_nested": "medium_purple", "autograd": "orange3",
             "fallback": "grey62", "fallthrough": "grey50", "none": "red"}

LIVE_WIDTH = len("~ no CUDA")  # the widest of the live column's usual marks ("= agrees", "~ no CUDA")

HIT_COLOUR = {"operator": "$success", "callable": "$warning", "function": "$primary", "method": "$primary",
              "class": "$secondary", "struct": "$secondary", "file": "$foreground-muted"}


class Follow(Message):
    """Go to a node (posted by any link)."""

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target


class Note(Message):
    """Say something about a link that leads nowhere in this source."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


# -- links -----------------------------------------------------------------------------------------

class Item:
    __slots__ = ("content", "target", "note", "heading")

    def __init__(self, content: Content | str, target: Target | None = None, note: str = "", heading: bool = False):
        self.content = content
        self.target = target
        self.note = note
        self.heading = heading


def heading(text: str) -> Item:
    return Item(M("[b $accent]$t[/]", t=text), heading=True)


class LinkList(OptionList):
    """A list whose items lead somewhere: enter (or a click) follows the highlighted one."""

    DEFAULT_CSS = """
    LinkList { height: 1fr; border: none; padding: 0 0; }
    LinkList:focus { border: none; }
    LinkList > .option-list--option-disabled { color: $text; }
    """

    def __init__(self, items: Iterable[Item] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.items: list[Item] = []
        self.set_items(items)

    def set_items(self, items: Iterable[Item]) -> None:
        self.items = list(items)
        self.set_options(Option(it.content, disabled=it.heading) for it in self.items)
        first = next((i for i, it in enumerate(self.items) if not it.heading), None)
        if first is not None:
            self.highlighted = first

    @on(OptionList.OptionSelected)
    def _follow(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        item = self.items[event.option_index]
        if item.target is not None:
            self.post_message(Follow(item.target))
        elif item.note:
            self.post_message(Note(item.note))

    @property
    def current(self) -> Item | None:
        return self.items[self.highlighted] if self.highlighted is not None and self.items else None


# -- code ------------------------------------------------------------------------------------------

def highlight_window(w: CodeWindow) -> list[Content]:
    """The lines of a code window, syntax-highlighted (pygments via textual.highlight); runs in a
    worker thread, so the UI only draws the lines on screen."""
    if w.missing or not w.lines:
        return []
    from textual.highlight import highlight
    lang = lexer_for(w.path)
    code = "\n".join(w.lines)
    try:
        content = highlight(code, language=lang if lang != "text" else "text", tab_size=4)
    except Exception:  # noqa: BLE001 - an unknown lexer: plain text
        content = Content(code)
    lines = content.split("\n", allow_blank=True)
    return lines[: len(w.lines)] + [Content("")] * (len(w.lines) - len(lines))


class CodeView(ScrollView, can_focus=True):
    """A window of a file, highlighted, its anchor line marked ❱. Only the visible lines are drawn."""

    DEFAULT_CSS = """
    CodeView { height: 1fr; background: $surface; }
    CodeView > .code--gutter { color: $text-muted; }
    CodeView > .code--anchor { background: $primary 25%; }
    CodeView > .code--anchor-gutter { color: $accent; text-style: bold; }
    """
    COMPONENT_CLASSES = {"code--gutter", "code--anchor", "code--anchor-gutter"}
    BINDINGS = [Binding("]", "shift(1)", "next lines", show=False),
                Binding("[", "shift(-1)", "earlier lines", show=False)]
    STEP = 400

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.window = CodeWindow("", 1, [], 0, 0)
        self.all_lines: list[str] | None = None
        self._lines: list[Content] = []
        self._gutter = 7
        self._missing = ""

    def set_code(self, window: CodeWindow, highlighted: list[Content] | None, all_lines: list[str] | None) -> None:
        self.window = window
        self.all_lines = all_lines
        self._missing = window.missing
        if window.missing:
            self._lines = [Content(window.missing)]
        else:
            self._lines = highlighted if highlighted is not None else [Content(x) for x in window.lines]
        self._gutter = len(str(window.end)) + 3
        width = max((line.cell_length for line in self._lines), default=0) + self._gutter + 1
        self.virtual_size = Size(width, len(self._lines))
        self._strip_cache: dict[int, Strip] = {}
        self.refresh()
        self.call_after_refresh(self.scroll_to_anchor)

    def scroll_to_anchor(self) -> None:
        w = self.window
        y = max(0, w.anchor - w.start - 3)
        self.scroll_to(x=0, y=y, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if i >= len(self._lines):
            return Strip.blank(width, base)
        if self._missing:
            return Strip(self._lines[i].render_segments(self.visual_style)).crop_extend(0, width, base)
        number = self.window.start + i
        anchor = number == self.window.anchor
        gutter_style = self.get_component_rich_style("code--anchor-gutter" if anchor else "code--gutter")
        mark = "❱" if anchor else " "
        gutter = Strip([Segment(f"{number:>{self._gutter - 2}}{mark} ", gutter_style)])
        line = self._strip_cache.get(i)
        if line is None:
            segments = [Segment(text, style.rich_style if style else None) for text, style in
                        self._lines[i].render(self.visual_style, end="", parse_style=self._get_style)]
            line = self._strip_cache[i] = Strip(segments)
        body = line.crop_extend(scroll_x, scroll_x + max(0, width - self._gutter), base)
        if anchor:
            mark = RichStyle(bgcolor=self.get_component_rich_style("code--anchor").bgcolor)
            body = Strip(Segment.apply_style(list(body), post_style=mark), body.cell_length)
        return Strip.join([gutter, body])

    def action_shift(self, direction: int) -> None:
        lines = self.all_lines
        w = self.window
        if not lines:
            return
        if direction > 0 and w.end >= len(lines) or direction < 0 and w.start <= 1:
            self.notify("that is the " + ("end" if direction > 0 else "start") + " of the file", timeout=2)
            return
        start = max(1, min(len(lines), w.start + direction * self.STEP))
        stop = min(len(lines), start + self.STEP + 100)
        new = CodeWindow(w.path, start, lines[start - 1:stop], w.anchor, len(lines))
        self.set_code(new, highlight_window(new), lines)
        self.scroll_to(y=0 if direction > 0 else max(0, stop - start - self.size.height), animate=False)
        hint = self.parent.query(".hint") if self.parent else None
        if hint:
            hint.first(Static).update(code_footer(new))

    @property
    def location(self) -> tuple[str, int]:
        return self.window.path, self.window.anchor


def code_footer(w: CodeWindow) -> Content:
    if w.missing or not w.total:
        return Content("")
    more = []
    if w.start > 1:
        more.append(f"[ earlier lines")
    if w.end < w.total:
        more.append(f"] later lines")
    return M("[dim]lines $a-$b of $n$m · o opens it in $e[/]", a=str(w.start), b=str(w.end), n=str(w.total),
             m=(" · " + " · ".join(more)) if more else "", e="$EDITOR")


# -- views -----------------------------------------------------------------------------------------

class View(Vertical):
    """One kind of node's view. Views are mounted once and refilled (`show`) on each navigation:
    filling a table is much cheaper than mounting widgets. `location` is what `o` opens."""

    DEFAULT_CSS = """
    View { height: 1fr; }
    View > .title { height: auto; max-height: 4; padding: 0 1; background: $boost; text-wrap: nowrap;
                    text-overflow: ellipsis; }
    View TabbedContent { height: 1fr; }
    View TabPane { padding: 0 0; height: 1fr; }
    View ContentSwitcher { height: 1fr; }
    View .hint { height: 1; padding: 0 1; color: $text-muted; }
    """

    target: Target = data.HOME

    @property
    def location(self) -> tuple[str, int] | None:
        return None

    def focus_first(self) -> None:
        pass

    def _tabs(self) -> TabbedContent | None:
        tabs = self.query(TabbedContent)
        return tabs.first() if tabs else None

    def switch_tab(self, n: int) -> None:
        tc = self._tabs()
        if tc is None:
            return
        panes = [p.id for p in tc.query(TabPane) if p.id]
        if 0 <= n - 1 < len(panes):
            tc.active = panes[n - 1]
            self._focus_active(tc)
            self.call_after_refresh(self._focus_active, tc)

    def _focus_active(self, tc: TabbedContent) -> None:
        pane = tc.get_pane(tc.active)
        if self.app.focused is not None and pane in self.app.focused.ancestors:
            return
        for w in pane.query("*"):
            if w.can_focus:
                w.focus()
                return

    def _label(self, pane: str, text: str) -> None:
        """A tab's label, led by its number: the number key that switches to it (app.action_tab)."""
        tc = self._tabs()
        if tc is not None:
            panes = [p.id for p in tc.query(TabPane) if p.id]
            tc.get_tab(pane).label = f"{panes.index(pane) + 1} {text}"


# -- operator --------------------------------------------------------------------------------------

class OpView(View):
    DEFAULT_CSS = """
    OpView #dispatch-table { height: 1fr; min-height: 5; }
    OpView #key-detail { height: auto; max-height: 40%; border-top: solid $primary-muted; padding: 0 1; }
    OpView #live-note { height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: OpModel | None = None
        self.live_note = ""
        self.live: dict | None = None  # {key: LiveEntry} once read
        self.cuda_built = True
        self.selected_key = ""
        self._entries: dict = {}

    def compose(self) -> ComposeResult:
        yield Static(classes="title", id="op-title")
        with TabbedContent(initial="dispatch"):
            with TabPane("1 Dispatch", id="dispatch"):
                yield DataTable(id="dispatch-table", cursor_type="row", zebra_stripes=False)
                yield Static(id="live-note")
                with VerticalScroll(id="key-detail"):
                    yield Static(id="key-detail-text")
            with TabPane("2 Overview", id="overview"):
                yield LinkList(id="overview-list")
            with TabPane("3 Autograd", id="autograd"):
                yield LinkList(id="autograd-list")
            with TabPane("4 YAML", id="yaml"):
                yield CodeView(id="yaml-code")
            with TabPane("5 Generated", id="generated"):
                yield LinkList(id="generated-list")
            with TabPane("6 Callers", id="callers"):
                yield LinkList(id="op-callers-list")

    COLUMNS = (("KEY", "key"), ("KIND", "kind"), ("LIVE", "live"), ("KERNEL", "kernel"), ("REGISTERED IN", "reg"))

    def show(self, model: OpModel, live_note: str, selected_key: str = "",
             yaml_lines: list[Content] | None = None) -> None:
        self.model = model
        self.target = Target("op", model.op)
        self.live_note = live_note
        self.live = None
        self.cuda_built = True
        self._entries = {e.key: e for e in model.entries}
        self.selected_key = selected_key if selected_key in self._entries else (
            model.entries[0].key if model.entries else "")
        self.query_one("#op-title", Static).update(self._title())
        table = self.query_one("#dispatch-table", DataTable)
        table.clear(columns=True)  # column widths follow this operator's rows
        for label, key in self.COLUMNS:
            table.add_column(label, key=key)
        row_of = 0
        for i, e in enumerate(model.entries):
            table.add_row(e.key, Text(e.kind, style=KIND_RICH.get(e.kind, "")), self._live_cell(e),
                          _short(e.kernel or "-", 40), _short(e.registered_in or "-", 50), key=e.key)
            if e.key == self.selected_key:
                row_of = i
        if model.entries:
            table.move_cursor(row=row_of, animate=False, scroll=True)
        self.query_one("#live-note", Static).update(M("[dim]$n[/]", n=live_note))
        self._show_key(self.selected_key)
        self.query_one("#overview-list", LinkList).set_items(self._overview())
        self.query_one("#autograd-list", LinkList).set_items(self._autograd())
        self.query_one("#generated-list", LinkList).set_items(self._generated())
        self._label("autograd", f"Autograd ({len(model.derivatives)})")
        self._label("generated", f"Generated ({len(model.generated)})")
        self._label("callers", "Callers")  # read after the view is shown (set_callers)
        self.query_one("#op-callers-list", LinkList).set_items([Item(M("[dim]reading the callers ...[/]"))])
        y = model.yaml
        code = self.query_one("#yaml-code", CodeView)
        if y is not None:
            code.set_code(CodeWindow(y.path, y.start, y.lines, y.anchor, y.start + len(y.lines) - 1), yaml_lines, None)
        else:
            code.set_code(CodeWindow(model.rec.get("defined_at") or "", 1, [], 0, 0,
                                     missing="the YAML entry cannot be shown (the file is not in this source)"),
                          None, None)
        tc = self._tabs()
        if tc is not None:
            tc.active = "dispatch"

    # header ---------------------------------------------------------------------------------------
    def set_callers(self, callers: list | None, error: str = "") -> None:
        """The calls of the operator's Python entry points and of its C++ API (code_queries.operator_refs)."""
        if callers is None:
            self.query_one("#op-callers-list", LinkList).set_items([Item(M("[$warning]$e[/]", e=error))])
            return
        self._label("callers", f"Callers ({len(callers)}{'+' if len(callers) >= 300 else ''})")
        self.query_one("#op-callers-list", LinkList).set_items(
            _ref_items(callers, "no calls of its Python entry points or its C++ API in the index"))

    def _title(self) -> Content:
        m = self.model
        rec = m.rec
        lines = [M("[b]$op[/]  [dim]operator · $at[/]", op=m.op, at=rec.get("defined_at") or "")]
        lines.append(M("[$primary]$s[/]", s=m.schema))
        bits = []
        if rec.get("python"):
            bits.append(M("[dim]python[/] $p", p=", ".join(rec["python"][:4]) + (" ..." if len(rec["python"]) > 4
                                                                                else "")))
        if rec.get("tags"):
            bits.append(M("[dim]tags[/] $t", t=", ".join(rec["tags"])))
        if rec.get("structured_delegate"):
            bits.append(M("[dim]structured_delegate[/] $d", d=rec["structured_delegate"]))
        if bits:
            lines.append(Content("  ·  ").join(bits))
        return Content("\n").join(lines)

    def focus_first(self) -> None:
        self.query_one("#dispatch-table", DataTable).focus()

    @property
    def location(self) -> tuple[str, int] | None:
        if self.model is None:
            return None
        tc = self._tabs()
        if tc is not None and tc.active in ("overview", "autograd", "generated"):
            cur = self.query_one(f"#{tc.active}-list", LinkList).current
            if cur and cur.target and cur.target.location:
                return split_location(cur.target.location)
        if tc is not None and tc.active == "dispatch":
            e = self._entries.get(self.selected_key)
            if e is not None and e.defined_at:
                return split_location(e.defined_at)
        path, line = split_location(self.model.rec.get("defined_at"))
        return (path, line) if path else None

    # live -----------------------------------------------------------------------------------------
    def _live_cell(self, e) -> Text:
        if self.live is None:
            if self.live_note.startswith("live column:"):
                # as wide as what will come ("= agrees", "~ no CUDA"), so the columns do not jump
                # when the live dispatcher answers, seconds after the table is shown
                return Text("...".ljust(LIVE_WIDTH), style="dim")
            return Text("off", style="dim")
        mark, text = data.live_mark(e, self.live.get(e.key), self.cuda_built)
        style = {"=": "green", "~": "dim", "!": "bold red"}[mark]
        short = {"=": "= agrees", "~": "~ no CUDA"}.get(mark) or f"! {text.split(' ', 1)[0]}"
        return Text(short, style=style)

    def set_live(self, table: dict | None, note: str, cuda_built: bool = True) -> None:
        """Fill the LIVE column (table: {key: LiveEntry} of this op; None: could not read it)."""
        if self.model is None:
            return
        self.live_note = note
        self.cuda_built = cuda_built
        dt = self.query_one("#dispatch-table", DataTable)
        if table is None:
            for e in self.model.entries:
                dt.update_cell(e.key, "live", Text("?", style="dim"))
        else:
            self.live = table
            cells = [self._live_cell(e) for e in self.model.entries]
            for e, cell in zip(self.model.entries, cells):
                dt.update_cell(e.key, "live", cell, update_width=True)
            # the column's width, set here rather than left to the table's next Idle: a screenshot
            # (or a frame) taken before it showed the marks cut ("= ag")
            col = dt.columns.get(ColumnKey("live"))
            if col is not None:
                col.content_width = max([len("LIVE"), LIVE_WIDTH] + [c.cell_len for c in cells])
            marks = [data.live_mark(e, table.get(e.key), cuda_built)[0] for e in self.model.entries]
            bad, cuda = marks.count("!"), marks.count("~")
            note += f" · {bad} disagreement(s) marked !" if bad else " · it agrees with the static table"
            if cuda:
                note += f" · ~ {cuda} CUDA key(s): a CPU-only build has no CUDA kernels"
            self.live_note = note
        self.query_one("#live-note", Static).update(M("[dim]$n[/]", n=note))
        self._show_key(self.selected_key)

    # the selected key -----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted, "#dispatch-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self._entries:
            self.selected_key = event.row_key.value
            self._show_key(self.selected_key)

    @on(DataTable.RowSelected, "#dispatch-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        e = self._entries.get(event.row_key.value or "")
        if e is None:
            return
        self.app.follow_entry(e)  # type: ignore[attr-defined]  (looks the kernel up in a worker)

    def _show_key(self, key: str) -> None:
        e = self._entries.get(key)
        box = self.query_one("#key-detail-text", Static)
        if e is None:
            box.update("")
            return
        lines = [M("[b]$k[/] [dim]$x[/]", k=e.key, x=key_explanation(e.key)),
                 M(f"[{KIND_COLOUR.get(e.kind, '$text')}]$kind[/]: $h", kind=e.kind, h=kind_help(e.kind))]
        if e.kernel:
            lines.append(M("kernel      [b]$k[/]", k=e.kernel) + (M("  [dim]at $d[/]", d=e.defined_at)
                                                                 if e.defined_at else Content("")))
            if e.declared_at:  # the installed package: no body, its at::native declaration (ATen/ops/<op>_native.h)
                lines.append(M("declared    [dim]$d[/]", d=e.declared_at))
        if e.registered_in:
            gen = data.generated_by(e.registered_in)
            lines.append(M("registered  $r", r=e.registered_in) + (M("  [dim]($g)[/]", g=gen) if gen else Content("")))
        for i, hop in enumerate(e.via):
            lines.append(M("[dim]$p[/]$h", p="why         " if i == 0 else "         <- ", h=hop))
        for alias in data.aliases_in(e):
            lines.append(M("[dim]$a: $h[/]", a=alias, h=data.KEY_HELP.get(alias, "")))
        if self.live is not None:
            mark, text = data.live_mark(e, self.live.get(key), self.cuda_built)
            le = self.live.get(key)
            where = f"  (registered at {le.registered_at})" if le else ""
            colour = {"=": "$success", "~": "$text-muted", "!": "$error"}[mark]
            lines.append(M(f"live        [{colour}]$m $t[/][dim]$w[/]", m=mark, t=text, w=where))
        lines.append(M("[dim]enter follows the kernel · t traces this key · g saves a picture · ? explains kinds[/]"))
        box.update(Content("\n").join(lines))

    # other tabs -----------------------------------------------------------------------------------
    def _overview(self) -> list[Item]:
        m, rec = self.model, self.model.rec
        items = [heading(f"overloads of {rec.get('name', '')}")]
        for op in m.overloads:
            mark = "▸ " if op == m.op else "  "
            items.append(Item(M("$m$o", m=mark, o=op), Target("op", op)))
        if m.related:
            items.append(heading("in-place and functional variants"))
            items.extend(Item(M("  $o", o=op), Target("op", op)) for op in m.related)
        if rec.get("python"):
            items.append(heading("Python callables (t on one traces it down to the kernel)"))
            items.extend(Item(M("  $p", p=p), Target("callable", p)) for p in rec["python"])
        items.append(heading("declared as"))
        items.append(Item(M("  variants  $v", v=", ".join(rec.get("variants") or []) or "-"), note="the variants "
                          "say where torchgen generates C++ API: function (at::add) and/or method (Tensor::add)"))
        if rec.get("structured_delegate"):
            d = rec["structured_delegate"]
            items.append(Item(M("  structured_delegate  $d  [dim](its out= kernel does the work)[/]", d=d),
                              Target("op", "aten::" + d)))
        if rec.get("structured"):
            keys = ", ".join(rec.get("structured_keys") or []) or "-"
            items.append(Item(M("  structured kernel for $k", k=keys), note="a structured op: one meta function and "
                              "one impl function; functional and in-place variants are generated from it"))
        if rec.get("autogen"):
            items.append(Item(M("  autogen  $a", a=", ".join(rec["autogen"])), note="torchgen writes these kernels"))
        if rec.get("tags"):
            items.append(Item(M("  tags  $t", t=", ".join(rec["tags"])), note="tags: see tags.yaml"))
        ag = rec.get("autograd")
        if ag:
            items.append(Item(M("  autograd  $n  [dim]formula at $f[/]", n=ag.get("node") or "-", f=ag["formula_at"]),
                              data.target_of_location(ag.get("formula_at"))))
        if rec.get("defined_at"):
            items.append(Item(M("  defined at  $d", d=rec["defined_at"]), data.target_of_location(rec["defined_at"])))
        return items

    def _autograd(self) -> list[Item]:
        m = self.model
        if not m.derivatives:
            return [Item(M("[dim]no derivatives.yaml formula for $o: autograd comes from the ops it calls (a "
                           "composite) or it is not differentiable[/]", o=m.op))]
        items: list[Item] = []
        for d in m.derivatives:
            items.append(heading(f"{d.get('node') or 'no backward node'}  ({d.get('dispatch_key') or 'Default'})"))
            loc = d.get("defined_at")
            items.append(Item(M("  $n  [dim]at $l[/]", n=d.get("name") or "", l=loc or "-"),
                              data.target_of_location(loc)))
            for f in d.get("formulas") or []:
                what = "forward" if f.get("forward") else "grad"
                items.append(Item(M("  [dim]$w[/] [b]$v[/]: $f", w=what, v=", ".join(f.get("variables") or []),
                                    f=f.get("formula") or ""), data.target_of_location(loc)))
        return items

    def _generated(self) -> list[Item]:
        items = [heading("files that register this operator's kernels")]
        for f, keys, gen in self.model.generated:
            ks = ", ".join(keys[:6]) + (" ..." if len(keys) > 6 else "")
            if gen:
                items.append(Item(M("  $f  [dim]for $k · $g[/]", f=f, k=ks, g=gen),
                                  note=f"{f}: {gen}; it is not in a source tree"))
            else:
                items.append(Item(M("  $f  [dim]for $k[/]", f=f, k=ks), Target("file", f, f, 1)))
        return items


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- Python callable -------------------------------------------------------------------------------

class CallableView(View):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: CallableModel | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="title", id="callable-title")
        yield LinkList(id="callable-list")

    def show(self, model: CallableModel) -> None:
        self.model = model
        self.target = Target("callable", model.name)
        self.query_one("#callable-title", Static).update(Content("\n").join([
            M("[b]$n[/]  [dim]Python callable[/]", n=model.name),
            M("binds $k operator overload(s) · [b]t[/] traces it down to the kernel", k=str(len(model.ops)))]))
        items = [heading("operators it binds")]
        for op, schema, via in model.ops:
            items.append(Item(M("  [b]$o[/]  [dim]$s[/]", o=op, s=schema), Target("op", op)))
            if via:
                loc = via.split("wrapper in ", 1)[1].split(" ", 1)[0] if "wrapper in " in via else ""
                items.append(Item(M("     [dim]$v[/]", v=via), data.target_of_location(loc) if ":" in loc else None,
                                  note=via))
        if model.definitions:
            items.append(heading("Python definitions"))
            for h in model.definitions:
                items.append(Item(M("  $k $q  [dim]$l[/]", k=h.kind, q=h.qualname, l=h.location),
                                  data.target_of_hit(h)))
        self.query_one(LinkList).set_items(items)

    def focus_first(self) -> None:
        self.query_one(LinkList).focus()

    @property
    def location(self) -> tuple[str, int] | None:
        cur = self.query_one(LinkList).current
        if cur and cur.target and cur.target.location:
            return split_location(cur.target.location)
        for h in (self.model.definitions if self.model else []):
            return split_location(h.location)
        return None


# -- code: a definition ----------------------------------------------------------------------------

class CodeTabsView(View):
    """A view whose first tab is code (a CodeView and its footer) and whose other tabs are link lists:
    `location` is the selected link's, or the code's anchor on the code tab."""

    PREFIX = ""  # widget ids: #<prefix>-title, -code, -hint

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = None

    def code_pane(self) -> ComposeResult:
        yield CodeView(id=f"{self.PREFIX}-code")
        yield Static(classes="hint", id=f"{self.PREFIX}-hint")

    def _set_code(self, code, highlighted: list[Content] | None, all_lines: list[str] | None) -> None:
        self.query_one(f"#{self.PREFIX}-code", CodeView).set_code(code, highlighted, all_lines)
        self.query_one(f"#{self.PREFIX}-hint", Static).update(code_footer(code))

    def _show_code_tab(self) -> None:
        tc = self._tabs()
        if tc is not None:
            tc.active = "code"

    def focus_first(self) -> None:
        self.query_one(f"#{self.PREFIX}-code", CodeView).focus()

    @property
    def location(self) -> tuple[str, int] | None:
        if self.model is None:
            return None
        active = self.query_one(TabbedContent).active
        if active != "code":
            cur = self.query_one(f"#{active}-list", LinkList).current
            if cur and cur.target and cur.target.location:
                return split_location(cur.target.location)
        return self.model.code.path, self.model.code.anchor


class SymbolView(CodeTabsView):
    PREFIX = "symbol"

    def compose(self) -> ComposeResult:
        yield Static(classes="title", id="symbol-title")
        with TabbedContent(initial="code"):
            with TabPane("1 Code", id="code"):
                yield from self.code_pane()
            with TabPane("2 Refs", id="refs"):
                yield LinkList(id="refs-list")
            with TabPane("3 Callers", id="callers"):
                yield LinkList(id="callers-list")
            with TabPane("4 Callees", id="callees"):
                yield LinkList(id="callees-list")
            with TabPane("5 Definitions", id="defs"):
                yield LinkList(id="defs-list")

    def show(self, model: SymbolModel, highlighted: list[Content] | None, all_lines: list[str] | None) -> None:
        self.model = model
        self.target = model.target
        h = model.hit
        kind = h.kind if h else "location"
        lines = [M("[b]$q[/]  [dim]$k · $l[/]", q=model.target.name, k=kind, l=f"{model.code.path}:{model.code.anchor}")]
        if h and h.qualname != model.target.name:
            lines[0] = lines[0] + M("  [dim]defined as[/] [b]$d[/]", d=h.qualname)
        if h and h.detail:
            lines.append(M("[$primary]$d[/]", d=_short(" ".join(h.detail.split()), 300)))
        elif h is None:
            lines.append(M("[dim]no definition of this name in the index; showing the location[/]"))
        self.query_one("#symbol-title", Static).update(Content("\n").join(lines))
        self._set_code(model.code, highlighted, all_lines)
        loading = [Item(M("[dim]loading ...[/]"))]
        for pane in ("refs", "callers", "callees"):
            self._label(pane, f"{pane.capitalize()} ...")
            self.query_one(f"#{pane}-list", LinkList).set_items(loading)
        items = [heading("other definitions of this name")]
        for o in model.others:
            items.append(Item(M("  $k $q  [dim]$l[/]", k=o.kind, q=o.qualname, l=o.location), data.target_of_hit(o)))
        self.query_one("#defs-list", LinkList).set_items(items if model.others else
                                                         [Item(M("[dim]the only definition of this name[/]"))])
        self._label("defs", f"Definitions ({len(model.others) + (1 if h else 0)})")
        self._show_code_tab()

    def set_uses(self, uses: Uses | None, error: str = "") -> None:
        if uses is None:
            for pane in ("refs", "callers", "callees"):
                self._label(pane, pane.capitalize())
                self.query_one(f"#{pane}-list", LinkList).set_items([Item(M("[$warning]$e[/]", e=error))])
            return
        self._label("refs", f"Refs ({len(uses.refs)}{'+' if len(uses.refs) >= 300 else ''})")
        self._label("callers", f"Callers ({len(uses.callers)})")
        self._label("callees", f"Callees ({len(uses.callees)})")
        self.query_one("#refs-list", LinkList).set_items(_ref_items(uses.refs, "no references in the index"))
        self.query_one("#callers-list", LinkList).set_items(_ref_items(uses.callers, "no calls in the index"))
        items: list[Item] = []
        for ref, where in uses.callees:
            if ref.operator:  # the generated at:: API: the operator is what a learner follows
                items.append(Item(A(f"  {ref.name}  ", ("-> operator " + ref.operator, "dim")),
                                  Target("op", ref.operator)))
                continue
            p, line = split_location(where)
            tgt = Target("symbol", ref.name, p, line) if where else data.target_of_location(ref.location)
            items.append(Item(A(f"  {ref.name}  ", (("-> " + where) if where else "(no definition in the index)",
                                                   "dim")), tgt))
        self.query_one("#callees-list", LinkList).set_items(
            items or [Item(M("[dim]its body calls nothing the index recorded[/]"))])


def _ref_items(refs: list, empty: str) -> list[Item]:
    if not refs:
        return [Item(M("[dim]$e[/]", e=empty))]
    out = []
    for r in refs:
        scope = f"  in {r.scope}" if r.scope else ""
        # the dispatcher's call of a kernel: the operator's view says under which keys, and why
        target = Target("op", r.operator) if r.kind == "dispatch" else data.target_of_location(r.location)
        out.append(Item(A(f"  {r.location}  ", (r.name, "bold"), (scope, "dim")), target))
    return out


# -- code: a file ----------------------------------------------------------------------------------

class FileView(CodeTabsView):
    PREFIX = "file"

    def compose(self) -> ComposeResult:
        yield Static(classes="title", id="file-title")
        with TabbedContent(initial="code"):
            with TabPane("1 Code", id="code"):
                yield from self.code_pane()
            with TabPane("2 Symbols", id="symbols"):
                yield LinkList(id="symbols-list")
            with TabPane("3 Includes", id="includes"):
                yield LinkList(id="includes-list")

    def show(self, model: FileModel, highlighted: list[Content] | None, all_lines: list[str] | None) -> None:
        self.model = model
        self.target = model.target
        what = "imports" if model.lang == "python" else "includes"
        self.query_one("#file-title", Static).update(M(
            "[b]$p[/]  [dim]$lang file · $n lines · $s symbols · $i $what[/]", p=model.target.path, lang=model.lang,
            n=str(model.code.total), s=str(len(model.symbols)), i=str(len(model.includes)), what=what))
        self._set_code(model.code, highlighted, all_lines)
        items = [Item(A(("  " + f"{line:>5}", "dim"), f" {kind:<9} ", (q, "bold")),
                      Target("symbol", q, model.target.path, line)) for kind, q, line in model.symbols]
        self.query_one("#symbols-list", LinkList).set_items(
            items or [Item(M("[dim]no definitions recorded for this file[/]"))])
        items = []
        for written, line, path in model.includes:
            if path:
                items.append(Item(A(("  " + f"{line:>5}", "dim"), f" {written}  ", ("-> " + path, "dim")),
                                  Target("file", path, path, 1)))
            else:
                items.append(Item(A(("  " + f"{line:>5}", "dim"), f" {written}  ", ("(outside this source)", "dim")),
                                  note=f"{written} is not a file of this index"))
        self.query_one("#includes-list", LinkList).set_items(items or [Item(M("[dim]none recorded[/]"))])
        self._label("symbols", f"Symbols ({len(model.symbols)})")
        self._label("includes", f"{what.capitalize()} ({len(model.includes)})")
        self._show_code_tab()


# -- trace -----------------------------------------------------------------------------------------

LAYER_COLOUR = {"python": "$warning", "binding": "$warning", "cpp_api": "$primary", "operator": "$success",
                "dispatch": "$accent", "kernel": "$success", "stub": "$text-accent", "cpu_kernel": "$text-accent",
                "loop": "$success"}


class TraceView(View):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model: TraceModel | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="title", id="trace-title")
        yield LinkList(id="trace-list")

    def show(self, model: TraceModel) -> None:
        self.model = model
        self.target = Target("trace", model.start, key=model.key)
        self.query_one("#trace-title", Static).update(Content("\n").join([
            (M("[b]$s[/] -> [b]$o[/] under [b]$k[/]  [dim]trace[/]", s=model.start, o=model.op, k=model.key)
             if model.start != model.op else
             M("[b]$o[/] under [b]$k[/]  [dim]trace[/]", o=model.op, k=model.key)),
            M("[dim]from the Python call down to the loop that computes · enter opens a step · k another key · "
              "g saves a picture[/]")]))
        items = []
        for i, s in enumerate(model.steps, 1):
            lines = [M(f"$n [{LAYER_COLOUR.get(s.layer, '$text')}]$l[/] $t", n=f"{i:2d}", l=f"{s.layer:<10}",
                       t=s.title)]
            pad = " " * 14
            if s.location:
                lines.append(M("$p[dim]at[/] $w", p=pad, w=s.location))
            if s.generated_by:
                lines.append(M("$p[dim]generated by $g$x[/]", p=pad, g=s.generated_by,
                               x="" if s.location else " (not in this source)"))
            if s.note:
                lines.append(M("$p[dim]$t[/]", p=pad, t=s.note))
            tgt = None
            if s.layer == "operator":
                tgt = Target("op", model.op)
            elif s.location:
                tgt = data.target_of_location(s.location)
            note = "" if tgt else (f"generated by {s.generated_by}: not in this source" if s.generated_by
                                   else "this step has no location in this source")
            items.append(Item(Content("\n").join(lines), tgt, note))
        self.query_one(LinkList).set_items(items)

    def focus_first(self) -> None:
        self.query_one(LinkList).focus()

    @property
    def location(self) -> tuple[str, int] | None:
        cur = self.query_one(LinkList).current
        if cur and cur.target and cur.target.location:
            return split_location(cur.target.location)
        for s in (self.model.steps if self.model else []):
            if s.location:
                return split_location(s.location)
        return None
