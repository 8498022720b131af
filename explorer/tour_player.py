"""The tour player of the explorer: one `TourScreen` per tour, and a tiny `TourApp` to run it alone.

    from torchatlas.explorer.tour_player import TourScreen, play
    app.push_screen(TourScreen(index, "dispatch"))       # from the explorer
    play(index_or_path, "dispatch", step=None)            # standalone (resumes where you left off)

Left: the steps (▶ current, ✓ seen; ● resolved, ✗ unresolved, – skipped here). Right: the
narrative (Markdown), the `run:` snippet and its output, the `check:` question or assertion, and
the anchored source with the anchor line marked ❱ (or, when the anchor does not resolve, the
closest candidates; the tour goes on). Keys: n/right next, p/left previous, r runs the snippet
(and the assertion), enter on a step jumps to it, escape/q back.

Anchors resolve through the index on the UI thread (a few ms of SQLite per tour); snippets run
in a Textual worker thread through `tours.runner`, so the UI never waits on torch. Progress is
the one `torchatlas tours show` keeps (`tours.progress`): the step shown next time is the one
after the last step looked at.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Input, Markdown, OptionList, Static

from torchatlas.tours.anchors import AnchorContext, excerpt, resolve_step
from torchatlas.tours.cli import find_tour
from torchatlas.tours.engine import snippet_jobs, version_note
from torchatlas.tours.loader import Catalog, load_catalog
from torchatlas.tours.model import Resolution, RunResult, Tour
from torchatlas.tours.progress import Progress

from .data import CodeWindow
from .views import QUIT_BINDING, CodeView, highlight_window

TITLE_WIDTH = 27  # the step list is one line a step
STATUS_MARK = {"resolved": ("●", "$success"), "unresolved": ("✗", "$error"), "skipped": ("–", "$foreground-muted")}

_STOP = set("""a an the and or but of to in on at by for with from as is are was were be been it its this that
these those then than there their them they which what when where why how who whom not no only just also so
very into onto over under out up down does do did done has have had can could would should will one two
same each every any all some other""".split())


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def judge_answer(given: str, answer: str) -> bool:
    """Whether a free-text answer is close enough to the tour's: the same text, or at least half
    (at most 6) of the answer's distinctive words and numbers. The reference answer is shown anyway."""
    g, a = _tokens(given), _tokens(answer)
    if not g:
        return False
    if g == a:
        return True
    key = list(dict.fromkeys(t for t in a if t not in _STOP and (len(t) >= 3 or t.isdigit())))
    if not key:
        return set(a) <= set(g)
    hits = sum(1 for t in key if t in set(g))
    return hits >= max(1, min(len(key), 6) / 2)


def resume_step(tour: Tour, progress: Progress) -> int:
    """Where a tour resumes: the step after the last one seen; from the start once it is finished
    (the same rule as `torchatlas tours show`)."""
    n = len(tour.steps)
    p = progress.get(tour.id)
    start = 1 if p.finished and p.step >= n and n in p.seen else p.step
    return min(max(start, 1), n)


class TourScreen(Screen[int]):
    """Play one tour over one index; dismisses with the step it was on."""

    DEFAULT_CSS = """
    TourScreen { layout: vertical; }
    TourScreen #tour-header { height: auto; padding: 0 1; background: $panel; }
    TourScreen #tour-steps { width: 42; height: 1fr; border: round $primary 50%; }
    TourScreen #tour-steps:focus { border: round $primary; }
    TourScreen #tour-right { width: 1fr; height: 1fr; }
    TourScreen #tour-text { height: 1fr; padding: 0 1; }
    TourScreen #tour-step-title { text-style: bold; color: $accent; height: auto; }
    TourScreen #tour-narrative { height: auto; margin: 0; }
    TourScreen .tour-section { height: auto; margin-top: 1; }
    TourScreen #tour-answer { margin: 0 0; }
    TourScreen #tour-source { height: 1fr; border-top: solid $primary 50%; }
    TourScreen #tour-location { height: auto; padding: 0 1; }
    TourScreen #tour-code { height: 1fr; }
    TourScreen #tour-missing { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [
        Binding("n,right", "move(1)", "next"),
        Binding("p,left", "move(-1)", "previous"),
        Binding("r", "run", "run snippet"),
        Binding("escape,q", "back", "back"),
        QUIT_BINDING,
        Binding("pagedown", "scroll_text(1)", "scroll text", show=False),
        Binding("pageup", "scroll_text(-1)", "scroll text", show=False),
        Binding("shift+down", "scroll_code(3)", "scroll code", show=False),
        Binding("shift+up", "scroll_code(-3)", "scroll code", show=False),
    ]

    def __init__(self, index, tour_id: str, start_step: int | None = None, *, catalog: Catalog | None = None,
                 progress: Progress | None = None, python: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(index, (str, Path)):
            from torchatlas.indexes.store import Index
            index = Index(Path(index))
        self.index = index
        self.catalog = catalog if catalog is not None else load_catalog()
        self.tour = find_tour(self.catalog, tour_id)  # NotFound (with suggestions) / MalformedTour
        self.ctx = AnchorContext.of(index)
        self.progress = progress if progress is not None else Progress()
        self.python = python
        n = len(self.tour.steps)
        if start_step is not None and not 1 <= start_step <= n:
            raise ValueError(f"tour {self.tour.id!r} has steps 1 to {n}, not {start_step}")
        self.current = start_step or resume_step(self.tour, self.progress)
        self.resolutions: list[Resolution] = [resolve_step(s, self.ctx) for s in self.tour.steps]
        self.results: dict[int, dict[str, RunResult]] = {}  # step -> {"run": ..., "assert": ...}
        self.running: set[int] = set()
        self.answers: dict[int, tuple[str, bool]] = {}  # step -> (given, right)

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        t, src = self.tour, self.index.source
        head = Content.from_markup("[b]$title[/]  [dim]\\[$id, ~$min min, $n steps] · torch $v ($k)[/]",
                                   title=t.title, id=t.id, min=str(t.minutes), n=str(len(t.steps)),
                                   v=src.version, k=src.kind)
        note = version_note(t, src.version)
        if note:
            head = Content.assemble(head, "\n", Content.from_markup("[$warning]$w[/]", w=note))
        yield Static(head, id="tour-header")
        with Horizontal():
            steps = OptionList(*[self._step_prompt(i) for i in range(1, len(t.steps) + 1)], id="tour-steps")
            steps.border_title = "steps"
            yield steps
            with Vertical(id="tour-right"):
                with VerticalScroll(id="tour-text"):
                    yield Static(id="tour-step-title")
                    yield Markdown(id="tour-narrative")
                    yield Static(id="tour-run", classes="tour-section")
                    yield Static(id="tour-check", classes="tour-section")
                    yield Input(placeholder="your answer, then enter (enter alone shows the answer)",
                                id="tour-answer")
                    yield Static(id="tour-feedback")
                with Vertical(id="tour-source"):
                    yield Static(id="tour-location")
                    yield CodeView(id="tour-code")
                    yield Static(id="tour-missing")
        yield Footer()

    def on_mount(self) -> None:
        for w in (self.query_one("#tour-text"), self.query_one("#tour-code")):
            w.can_focus = False  # left/right/up/down belong to the step list and the tour
        self.query_one("#tour-steps", OptionList).focus()
        self.show_step(self.current)

    # -- the step list ------------------------------------------------------------------------------

    def _step_prompt(self, i: int) -> Content:
        status = self.resolutions[i - 1].status
        glyph, colour = STATUS_MARK.get(status, ("?", "$foreground"))
        seen = i in self.progress.get(self.tour.id).seen
        lead = "▶" if i == self.current else ("✓" if seen else " ")
        title = self.tour.steps[i - 1].title
        if len(title) > TITLE_WIDTH:
            title = title[: TITLE_WIDTH - 1].rstrip() + "…"
        return Content.assemble((lead, "bold $accent"), " ", (glyph, colour), " ", (f"{i:>2} ", "dim"), title)

    def _refresh_list(self) -> None:
        ol = self.query_one("#tour-steps", OptionList)
        for i in range(1, len(self.tour.steps) + 1):
            ol.replace_option_prompt_at_index(i - 1, self._step_prompt(i))
        ol.highlighted = self.current - 1

    @on(OptionList.OptionSelected, "#tour-steps")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.show_step(event.option_index + 1)

    # -- one step -----------------------------------------------------------------------------------

    def show_step(self, number: int) -> None:
        t = self.tour
        n = len(t.steps)
        self.current = number = min(max(number, 1), n)
        step = t.steps[number - 1]
        self.progress.mark_seen(t.id, number, n)
        self._save_progress()
        self._refresh_list()
        extra = []
        if step.requires:
            extra.append(f"requires: {step.requires}")
        self.query_one("#tour-step-title", Static).update(Content.from_markup(
            "Step $i of $n: $title" + ("  [dim]($x)[/]" if extra else ""), i=str(number), n=str(n),
            title=step.title, x=", ".join(extra)))
        self.query_one("#tour-narrative", Markdown).update(textwrap.dedent(step.narrative))
        self.query_one("#tour-text", VerticalScroll).scroll_home(animate=False)
        self._show_source(self.resolutions[number - 1])
        self._show_run()
        self._show_check()

    def _show_source(self, res: Resolution) -> None:
        loc = self.query_one("#tour-location", Static)
        code = self.query_one("#tour-code", CodeView)
        missing = self.query_one("#tour-missing", Static)
        ex = excerpt(res, self.ctx) if res.status == "resolved" else None
        if ex is not None:
            parts = [Content.from_markup("[b]$where[/]  [dim]($label)[/]", where=f"{ex.path}:{ex.anchor_line}",
                                         label=res.label or (res.anchor.describe() if res.anchor else ""))]
            if res.reason:
                parts.append(Content.from_markup("  [dim]$r[/]", r=res.reason))
            if ex.more:
                parts.append(Content.from_markup("  [dim]· $m more lines below[/]", m=str(ex.more)))
            loc.update(Content.assemble(*parts))
            all_lines = self.ctx.lines(ex.path) or []
            window = CodeWindow(ex.path, ex.lines[0][0], [text for _, text in ex.lines], ex.anchor_line,
                                len(all_lines))
            code.set_code(window, highlight_window(window), all_lines)
            code.display, missing.display = True, False
            return
        code.display, missing.display = False, True
        anchor = res.anchor.describe() if res.anchor else "anchor"
        if res.status == "skipped":
            loc.update(Content.from_markup("[b $foreground-muted]skipped here[/]  [dim]$a[/]", a=anchor))
            missing.update(Content.from_markup(
                "This step needs a full PyTorch checkout: the installed package ships the public headers "
                "and the Python code, not the .cpp files it shows.\n\n[dim]$r[/]\n\nRead the narrative; "
                "n goes on to the next step.", r=res.reason))
            return
        if res.status == "resolved":  # resolved, but the file cannot be read any more
            loc.update(Content.from_markup("[b]$where[/]", where=res.location))
            missing.update(Content.from_markup("[$warning]the file cannot be read on this source[/]"))
            return
        loc.update(Content.from_markup("[b $error]anchor not found on this source[/]  [dim]$a[/]", a=anchor))
        lines = [Content.from_markup("[dim]$r[/]", r=res.reason or "")]
        if res.candidates:
            lines.append(Content.from_markup("\n[b]closest:[/]"))
            lines += [Content.from_markup("  $c", c=c) for c in res.candidates]
        lines.append(Content.from_markup("\n[dim](the tour goes on: n for the next step)[/]"))
        missing.update(Content("\n").join(lines))

    def _show_run(self) -> None:
        step, number = self.tour.steps[self.current - 1], self.current
        box = self.query_one("#tour-run", Static)
        box.display = bool(step.run)
        if not step.run:
            return
        parts = [Content.from_markup("[b]run[/] [dim](installed torch)[/]"),
                 Content("\n".join("  │ " + ln for ln in step.run.rstrip().splitlines()))]
        result = self.results.get(number, {}).get("run")
        if number in self.running:
            parts.append(Content.from_markup("[dim]running…[/]"))
        elif result is None:
            parts.append(Content.from_markup("[dim]press r to run it[/]"))
        else:
            out = result.output.rstrip()
            parts.append(Content.from_markup("[b]output:[/]"))
            parts.append(Content("\n".join("    " + ln for ln in out.splitlines())) if out
                         else Content.from_markup("    [dim](no output)[/]"))
            if not result.ok and not result.timed_out:
                parts.append(Content.from_markup("[$warning]the snippet raised; its output is above, and the "
                                                 "tour goes on[/]"))
        box.update(Content("\n").join(parts))

    def _show_check(self) -> None:
        step, number = self.tour.steps[self.current - 1], self.current
        box = self.query_one("#tour-check", Static)
        answer = self.query_one("#tour-answer", Input)
        feedback = self.query_one("#tour-feedback", Static)
        check = step.check
        box.display = check is not None
        asked = check is not None and bool(check.question)
        answer.display = feedback.display = asked
        if check is None:
            return
        parts = []
        if check.question:
            parts.append(Content.from_markup("[b]question:[/] $q", q=check.question.strip()))
        if check.assertion:
            if parts:
                parts.append(Content(""))
            parts.append(Content.from_markup("[b]check[/] [dim](asserted on the installed torch)[/]"))
            parts.append(Content("\n".join("  │ " + ln for ln in check.assertion.rstrip().splitlines())))
            result = self.results.get(number, {}).get("assert")
            if number in self.running:
                parts.append(Content.from_markup("[dim]running…[/]"))
            elif result is None:
                parts.append(Content.from_markup("[dim]press r to run it[/]"))
            elif result.ok:
                parts.append(Content.from_markup("[b $success]✓ pass[/]: it holds on this torch"))
            else:
                parts.append(Content.from_markup("[b $error]✗ fail[/]: it does not hold on this torch"))
                parts.append(Content("\n".join("    " + ln for ln in result.output.rstrip().splitlines())))
        box.update(Content("\n").join(parts))
        if asked:
            given, right = self.answers.get(number, ("", None))
            answer.value = given
            feedback.update(self._feedback(number) if number in self.answers else "")

    def _feedback(self, number: int) -> Content:
        check = self.tour.steps[number - 1].check
        given, right = self.answers[number]
        ref = check.answer.strip() if check and check.answer else ""
        if right:
            return Content.from_markup("[b $success]✓ right.[/] [dim]The tour's answer:[/] $a", a=ref)
        if not given.strip():
            return Content.from_markup("[dim]The tour's answer:[/] $a", a=ref)
        return Content.from_markup("[b $error]✗ not quite[/]: try again (enter alone shows the answer)")

    @on(Input.Submitted, "#tour-answer")
    def _answered(self, event: Input.Submitted) -> None:
        check = self.tour.steps[self.current - 1].check
        if check is None or not check.answer:
            return
        given = event.value
        self.answers[self.current] = (given, bool(given.strip()) and judge_answer(given, check.answer))
        self.query_one("#tour-feedback", Static).update(self._feedback(self.current))

    # -- actions ------------------------------------------------------------------------------------

    def action_move(self, delta: int) -> None:
        target = self.current + delta
        if not 1 <= target <= len(self.tour.steps):
            self.notify("that is the " + ("end" if delta > 0 else "start") + " of the tour", timeout=2)
            return
        self.show_step(target)

    def action_run(self) -> None:
        number = self.current
        jobs = snippet_jobs(self.tour, [number])
        if not jobs:
            self.notify("this step has nothing to run", timeout=2)
            return
        if number in self.running:
            return
        self.running.add(number)
        self._show_run()
        self._show_check()
        self._run_jobs(number, jobs)

    @work(thread=True, group="tour-run")
    def _run_jobs(self, number: int, jobs) -> None:
        from torchatlas.tours.runner import run_snippets
        try:
            raw = run_snippets(jobs, python=self.python)
        except Exception as e:  # noqa: BLE001 - the runner failing is shown, never raised into the UI
            raw = {j.key: RunResult(False, f"[the snippet runner failed: {type(e).__name__}: {e}]", None)
                   for j in jobs}
        results = {key.rsplit(":", 1)[1]: r for key, r in raw.items()}
        self.app.call_from_thread(self._ran, number, results)

    def _ran(self, number: int, results: dict[str, RunResult]) -> None:
        self.running.discard(number)
        self.results[number] = results
        if self.is_attached and number == self.current:
            self._show_run()
            self._show_check()

    @work(thread=True, exclusive=True, group="tour-progress")
    def _save_progress(self) -> None:
        self.progress.save()

    def action_scroll_text(self, direction: int) -> None:
        w = self.query_one("#tour-text", VerticalScroll)
        w.scroll_page_down() if direction > 0 else w.scroll_page_up()

    def action_scroll_code(self, delta: int) -> None:
        self.query_one("#tour-code", CodeView).scroll_relative(y=delta, animate=False)

    def action_back(self) -> None:
        self.dismiss(self.current)



class TourApp(App[int], inherit_bindings=False):
    """Hosts one TourScreen: `TourApp(index_or_path, "dispatch").run()`; quits when it is closed."""

    TITLE = "torchatlas tours"
    BINDINGS = [QUIT_BINDING, Binding("ctrl+c", "help_quit", show=False, system=True)]  # as in the explorer

    def __init__(self, index, tour_id: str, step: int | None = None, **screen_kwargs) -> None:
        super().__init__()
        self._index, self._tour_id, self._step, self._screen_kwargs = index, tour_id, step, screen_kwargs

    def on_mount(self) -> None:
        screen = TourScreen(self._index, self._tour_id, self._step, **self._screen_kwargs)
        self.push_screen(screen, callback=self.exit)


def play(index, tour_id: str, step: int | None = None) -> int | None:
    """Play a tour in the terminal (index: an Index or the path of an index file). An unknown tour
    raises NotFound (with suggestions) before the terminal is taken over."""
    find_tour(load_catalog(), tour_id)
    return TourApp(index, tour_id, step).run()
