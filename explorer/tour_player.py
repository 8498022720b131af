"""The tour player of the explorer: one `TourScreen` per tour, and a tiny `TourApp` to run it alone.

    from torchatlas.explorer.tour_player import TourScreen, play
    app.push_screen(TourScreen(index, "dispatch"))       # from the explorer
    play(index_or_path, "dispatch", step=None)            # standalone (resumes where you left off)

Left: the steps (▶ current, ✓ done, • seen; ● resolved, ✗ unresolved, – skipped here). Right: the
narrative (Markdown), the `run:` snippet and its output, the `check:` reflection question with its
answer (never graded) or assertion, the checked questions (`quiz:`) with an answer box, the
exercise with its scratch file, and the anchored source with the anchor line marked ❱ (or, when
the anchor does not resolve, the closest candidates, a GitHub link for a checkout-only step; the
tour goes on). A step is done when its questions are answered (right, or asked for) and its
exercise passes.

Keys: n/right next, p/left previous, r runs the snippet (and the assertion), enter on a step jumps
to it, tab to the answer box (enter grades; enter alone shows the answer and why; escape returns
to the steps), x grades the exercise, e / u / c open the anchor in the explorer's code / refs /
callers views and t its trace (when the player runs inside the explorer), escape/q back.

Anchors resolve through the index on the UI thread (a few ms of SQLite per tour); snippets,
predict questions (the live output they are graded against) and exercise tests run in Textual
worker threads through `tours.runner` / `tours.exercises`, so the UI never waits on torch. Progress is
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
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Markdown, OptionList, Static

from torchatlas.tours.anchors import AnchorContext, excerpt
from torchatlas.tours.cli import find_tour
from torchatlas.tours.engine import snippet_jobs, version_note
from torchatlas.tours.exercises import TestRun, ensure_scratch, scratch_path
from torchatlas.tours.links import linked_tours
from torchatlas.tours.loader import Catalog, load_catalog
from torchatlas.tours.model import Question, Resolution, RunResult, Tour
from torchatlas.tours.progress import DONE_STATES, Progress
from torchatlas.tours.quiz import Grade, Grader, in_process, label_choices
from torchatlas.tours.showing import resolve as resolve_step

from .data import CodeWindow, Target
from .views import QUIT_BINDING, CodeView, highlight_window

TITLE_WIDTH = 27  # the step list is one line a step
STATUS_MARK = {"resolved": ("●", "$success"), "unresolved": ("✗", "$error"), "skipped": ("–", "$foreground-muted")}
EXPLORER_TABS = {1: "code", 2: "refs", 3: "callers"}  # a symbol's tabs in the explorer (explorer/views.py)


class LinkedTours(ModalScreen[str | None]):
    """Pick one of the tours a step links to (enter opens it, escape closes)."""

    DEFAULT_CSS = """
    LinkedTours { align: center middle; }
    LinkedTours > OptionList { width: 80; height: auto; max-height: 60%; border: round $primary; }
    """
    BINDINGS = [Binding("escape,q", "close", "close")]

    def __init__(self, tour_ids: tuple[str, ...], catalog: Catalog) -> None:
        super().__init__()
        self.tour_ids = tour_ids
        self.catalog = catalog

    def compose(self) -> ComposeResult:
        options = OptionList(*[f"{t}: {self.catalog.tours[t].title}" for t in self.tour_ids], id="linked-tours")
        options.border_title = "linked tours"
        yield options

    @on(OptionList.OptionSelected, "#linked-tours")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.tour_ids[event.option_index])

    def action_close(self) -> None:
        self.dismiss(None)


class AnswerInput(Input):
    """The answer box: escape gives the focus back to the steps instead of leaving the tour."""

    BINDINGS = [Binding("escape", "leave", "steps", show=False)]

    def action_leave(self) -> None:
        self.screen.query_one("#tour-steps", OptionList).focus()


def anchor_target(res: Resolution) -> Target | None:
    """The explorer node of a resolved anchor: its operator, symbol or file."""
    if res.status != "resolved" or res.anchor is None or not res.path:
        return None
    kind, label = res.anchor.kind, res.label.split(" (at /", 1)[0]
    if kind == "op":
        return Target("op", label.split(" ", 1)[-1])
    if kind in ("native_functions", "derivatives"):
        name = label.split(" entry ", 1)[-1].split(" (", 1)[0]
        return Target("op", name if name.startswith("aten::") else "aten::" + name)
    if kind in ("cpp", "python") and " " in label:
        return Target("symbol", label.split(" ", 1)[1], res.path, res.line)
    return Target("file", res.path, res.path, res.line)

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
    TourScreen #tour-exercise { height: auto; margin-top: 1; }
    TourScreen #tour-source { height: 1fr; border-top: solid $primary 50%; }
    TourScreen #tour-location { height: auto; padding: 0 1; }
    TourScreen #tour-code { height: 1fr; }
    TourScreen #tour-missing { height: 1fr; padding: 0 1; }
    """
    BINDINGS = [
        Binding("n,right", "move(1)", "next"),
        Binding("p,left", "move(-1)", "previous"),
        Binding("r", "run", "run snippet"),
        Binding("x", "grade", "grade exercise"),
        Binding("g", "picture", "save picture"),
        Binding("l", "links", "linked tours"),
        Binding("e", "explore(1)", "code"),
        Binding("u", "explore(2)", "refs"),
        Binding("c", "explore(3)", "callers"),
        Binding("t", "trace", "trace"),
        Binding("escape,q", "back", "back"),
        QUIT_BINDING,
        Binding("pagedown", "scroll_text(1)", "scroll text", show=False),
        Binding("pageup", "scroll_text(-1)", "scroll text", show=False),
        Binding("shift+down", "scroll_code(3)", "scroll code", show=False),
        Binding("shift+up", "scroll_code(-3)", "scroll code", show=False),
    ]
    # the explorer's keys that would act on the view beneath the tour (explorer/app.py check_action)
    HIDE_APP_ACTIONS = ("trace", "picture", "open_editor", "search", "pick_key", "home", "tab", "back", "forward")

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
        self.grader = Grader(python)  # predict outputs: run once per session
        self.grades: dict[tuple[int, int], Grade] = {}  # (step, question) -> the last grade of this session
        self.grading: set[tuple[int, int]] = set()
        self.tests: dict[int, TestRun] = {}  # step -> the last exercise test run
        self.testing: set[int] = set()

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
                    yield Static(id="tour-quiz", classes="tour-section")
                    yield AnswerInput(placeholder="your answer, then enter (enter alone shows the answer)",
                                      id="tour-answer")
                    yield Static(id="tour-feedback")
                    yield Static(id="tour-exercise")
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
        p = self.progress.get(self.tour.id)
        step = self.tour.steps[i - 1]
        done = p.step_done(i, len(step.quiz), step.exercise is not None)
        lead = "▶" if i == self.current else ("✓" if done else ("•" if i in p.seen else " "))
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
        self.query_one("#tour-narrative", Markdown).update(textwrap.dedent(step.narrative) + self._links_note(number))
        self.query_one("#tour-text", VerticalScroll).scroll_home(animate=False)
        self._show_source(self.resolutions[number - 1])
        self._show_run()
        self._show_check()
        self._show_quiz()
        self._show_exercise()
        self.refresh_bindings()

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
            if res.reason.startswith("applies to torch"):
                missing.update(Content.from_markup("This step $r.\n\nRead the narrative; n goes on to the next "
                                                   "step.", r=res.reason))
                return
            link = Content.from_markup("\n\nRead it on GitHub, at the commit the installed torch was built from:\n"
                                       "[b]$l[/]", l=res.link) if res.link else Content("")
            missing.update(Content.assemble(Content.from_markup(
                "This step needs a full PyTorch checkout: the installed package ships the public headers "
                "and the Python code, not the .cpp files it shows.\n\n[dim]$r[/]",
                r=res.reason.replace(f"; read it on GitHub: {res.link}", "")), link,
                Content.from_markup("\n\nRead the narrative; n goes on to the next step.")))
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
        check = step.check
        box.display = check is not None
        if check is None:
            return
        parts = []
        if check.question:  # a reflection question: its answer is shown, never graded
            parts.append(Content.from_markup("[b]to think about:[/] $q", q=check.question.strip()))
            parts.append(Content.from_markup("[dim]answer:[/] $a", a=(check.answer or "").strip()))
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

    # -- checked questions --------------------------------------------------------------------------

    def _state(self, number: int, k: int) -> str:
        return self.progress.get(self.tour.id).question_state(number, k)

    def current_question(self, number: int | None = None) -> int | None:
        """The question (1-based) the answer box answers: the first not answered right nor shown."""
        number = number or self.current
        for k in range(1, len(self.tour.steps[number - 1].quiz) + 1):
            if self._state(number, k) not in DONE_STATES:
                return k
        return None

    def _show_quiz(self) -> None:
        number = self.current
        quiz = self.tour.steps[number - 1].quiz
        box = self.query_one("#tour-quiz", Static)
        answer = self.query_one("#tour-answer", AnswerInput)
        feedback = self.query_one("#tour-feedback", Static)
        box.display = bool(quiz)
        current = self.current_question() if quiz else None
        answer.display = feedback.display = current is not None
        if not quiz:
            return
        parts = [Content.from_markup("[b]questions[/] [dim](checked: $n)[/]", n=str(len(quiz)))]
        for k, q in enumerate(quiz, 1):
            state = self._state(number, k)
            mark = {"right": ("✓", "$success"), "revealed": ("○", "$warning"), "wrong": ("✗", "$error")}.get(
                state, ("▸" if k == current else " ", "$accent"))
            parts.append(Content.assemble((mark[0], f"bold {mark[1]}"), " ", (f"{k}. ", "bold"), q.ask))
            if q.kind == "predict":
                parts.append(Content.from_markup("   [dim]what does this print?[/]"))
                parts.append(Content("\n".join("   │ " + ln for ln in q.predict.rstrip().splitlines())))
            for line in label_choices(q):
                parts.append(Content("     " + line))
            if state in DONE_STATES:
                parts.append(self._reveal(number, k, q))
        box.update(Content("\n").join(parts))
        if current is None:
            return
        key = (number, current)
        if key in self.grading:
            feedback.update(Content.from_markup("[dim]checking…[/]"))
        elif self._state(number, current) == "wrong" and key in self.grades:
            g = self.grades[key]
            feedback.update(Content.from_markup("[b $error]✗ not quite[/] ($given): try again (enter alone shows "
                                                "the answer)", given=g.given))
        elif key in self.grades and self.grades[key].error:
            feedback.update(Content.from_markup("[$warning]$e[/]", e=self.grades[key].error))
        else:
            feedback.update(Content.from_markup("[dim]answering question $k: type it, then enter[/]", k=str(current)))
        answer.border_title = f"answer to question {current}"

    def _reveal(self, number: int, k: int, q: Question) -> Content:
        g = self.grades.get((number, k))
        expected = g.expected if g is not None else (f"{q.choices.index(q.answer) + 1}. {q.answer}"
                                                     if q.kind == "choices" else q.answer)
        state = self._state(number, k)
        head = "[b $success]right.[/]" if state == "right" else "[b $warning]shown.[/]"
        parts = [Content.from_markup(f"   {head} [dim]answer:[/] $a", a=expected)]
        if q.why:
            parts.append(Content.from_markup("   [dim]why:[/] $w", w=q.why))
        return Content("\n").join(parts)

    @on(Input.Submitted, "#tour-answer")
    def _answered(self, event: Input.Submitted) -> None:
        number = self.current
        k = self.current_question(number)
        if k is None or (number, k) in self.grading:
            return
        q = self.tour.steps[number - 1].quiz[k - 1]
        given = event.value
        if q.kind == "choices" or in_process(q) or (q.kind == "predict" and q.predict in self.grader._live):
            self._graded(number, k, given, self.grader.grade(q, given))
            return
        self.grading.add((number, k))  # a subprocess: the live output of a predict, or a check with a setup
        self._show_quiz()
        self._grade_in_thread(number, k, q, given)

    @work(thread=True, group="tour-grade")
    def _grade_in_thread(self, number: int, k: int, q: Question, given: str) -> None:
        try:
            g = self.grader.grade(q, given)
        except Exception as e:  # noqa: BLE001 - shown, never raised into the UI
            g = Grade(False, given.strip(), q.answer, q.why, f"could not grade: {type(e).__name__}: {e}")
        self.app.call_from_thread(self._graded, number, k, given, g)

    def _graded(self, number: int, k: int, given: str, g: Grade) -> None:
        self.grading.discard((number, k))
        self.grades[(number, k)] = g
        if not g.error:
            self.progress.record_answer(self.tour.id, number, k, g.given, g.right, revealed=not given.strip())
            self._save_progress()
        if not self.is_attached or number != self.current:
            return
        answer = self.query_one("#tour-answer", AnswerInput)
        if g.right or not given.strip():
            answer.value = ""
        self._show_quiz()
        self._refresh_list()
        if self.current_question() is None and answer.has_focus:
            self.query_one("#tour-steps", OptionList).focus()

    # -- the exercise -------------------------------------------------------------------------------

    def _show_exercise(self) -> None:
        number = self.current
        ex = self.tour.steps[number - 1].exercise
        box = self.query_one("#tour-exercise", Static)
        box.display = ex is not None
        if ex is None:
            return
        try:
            path, created = ensure_scratch(self.tour.id, ex)
            where = Content.from_markup("[b]your file:[/] $p" + ("  [dim](created from the starter)[/]" if created
                                                                 else ""), p=str(path))
        except OSError as e:
            where = Content.from_markup("[$error]cannot create $p: $e[/]", p=str(scratch_path(self.tour.id, ex)),
                                        e=str(e))
        parts = [Content.from_markup("[b]exercise[/]"), Content(textwrap.dedent(ex.task).rstrip()), where]
        passed = self.progress.get(self.tour.id).exercise_passed(number)
        run = self.tests.get(number)
        if number in self.testing:
            parts.append(Content.from_markup("[dim]grading… (its test runs in a fresh pytest process)[/]"))
        elif run is not None:
            if run.passed:
                parts.append(Content.from_markup("[b $success]✓ passed[/] [dim]($s s)[/]", s=f"{run.seconds:.1f}"))
            else:
                parts.append(Content.from_markup("[b $error]✗ not yet[/]: the test fails; edit the file, then x"))
                lines = [ln for ln in run.output.rstrip().splitlines()  # pytest's rules and progress dots aside
                         if not re.fullmatch(r"[=_]{3,}.*|[.FEsx]+ +\[ *\d+%\]", ln.strip())]
                parts.append(Content("\n".join("    " + ln for ln in lines[-20:])))
        elif passed:
            parts.append(Content.from_markup("[b $success]✓ passed[/] [dim](earlier)[/]; x grades it again"))
        else:
            parts.append(Content.from_markup("[dim]edit it in your editor, then press x to grade it[/]"))
        box.update(Content("\n").join(parts))

    def action_grade(self) -> None:
        number = self.current
        ex = self.tour.steps[number - 1].exercise
        if ex is None:
            self.notify("this step has no exercise", timeout=2)
            return
        if number in self.testing:
            return
        self.testing.add(number)
        self._show_exercise()
        self._grade_exercise(number, ex)

    @work(thread=True, group="tour-exercise")
    def _grade_exercise(self, number: int, ex) -> None:
        from torchatlas.tours.exercises import run_test
        try:
            path, _created = ensure_scratch(self.tour.id, ex)
            result = run_test(ex, path.parent, self.python)
        except Exception as e:  # noqa: BLE001 - shown, never raised into the UI
            result = TestRun(False, f"[could not run the test: {type(e).__name__}: {e}]", None)
        self.app.call_from_thread(self._exercise_graded, number, result)

    def _exercise_graded(self, number: int, result: TestRun) -> None:
        self.testing.discard(number)
        self.tests[number] = result
        self.progress.record_exercise(self.tour.id, number, result.passed)
        self._save_progress()
        if self.is_attached and number == self.current:
            self._show_exercise()
            self._refresh_list()

    # -- into the explorer --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "grade":
            return self.tour.steps[self.current - 1].exercise is not None
        if action == "picture":
            return self.tour.steps[self.current - 1].picture is not None
        if action == "links":
            return bool(self._links(self.current))
        if action in ("explore", "trace"):
            return hasattr(self.app, "open_from_tour")  # only inside the explorer
        return True

    def action_explore(self, tab: int) -> None:
        res = self.resolutions[self.current - 1]
        target = anchor_target(res)
        if target is None:
            self.notify("this step's anchor does not resolve on this source: nothing to open", timeout=4)
            return
        if tab > 1 and target.kind != "symbol":
            self.notify(f"{EXPLORER_TABS[tab]} are shown for C++ and Python symbols; this anchor is "
                        f"{target.kind} {target.label}: opening it", timeout=4)
            tab = 1
        self._leave_for(target, tab)

    def action_trace(self) -> None:
        target = anchor_target(self.resolutions[self.current - 1])
        if target is None or target.kind not in ("op", "symbol") or (
                target.kind == "symbol" and self.tour.steps[self.current - 1].anchors[0].kind != "python"):
            self.notify("t traces an operator or a Python callable; this step's anchor is neither", timeout=4)
            return
        self._leave_for(Target("trace", target.name, key="CPU"), 1)

    def _leave_for(self, target: Target, tab: int) -> None:
        hook = getattr(self.app, "open_from_tour", None)
        if hook is None:
            return
        self.progress.save()
        tour_id, step = self.tour.id, self.current
        self.dismiss(step)
        hook(target, tab, tour_id, step)

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

    def _links_note(self, number: int) -> str:
        """The narrative's last line when the step links to other tours (Markdown)."""
        links = self._links(number)
        if not links:
            return ""
        return "\n\n*See also: " + ", ".join(f"the **{t}** tour" for t in links) + " (press l).*"

    def _links(self, number: int) -> tuple[str, ...]:
        return linked_tours(self.tour, self.tour.steps[number - 1], frozenset(self.catalog.tours))

    def action_links(self) -> None:
        links = self._links(self.current)
        if not links:
            self.notify("this step names no other tour", timeout=2)
        elif len(links) == 1:
            self.open_tour(links[0])
        else:
            self.app.push_screen(LinkedTours(links, self.catalog), callback=lambda t: t and self.open_tour(t))

    def open_tour(self, tour_id: str) -> None:
        """Another tour on top of this one: back (escape) returns here, at this step."""
        self.app.push_screen(TourScreen(self.index, tour_id, catalog=self.catalog, progress=self.progress,
                                        python=self.python))

    def action_picture(self) -> None:
        step = self.tour.steps[self.current - 1]
        if step.picture is None:
            self.notify("this step has no picture", timeout=2)
            return
        self.notify("drawing the picture ...", timeout=2)
        self._draw_picture(self.current)

    @work(thread=True, group="tour-picture")
    def _draw_picture(self, number: int) -> None:
        """Run the step's picture snippet (in the snippet subprocess) and save its diagram where the
        explorer's `g` saves pictures; the path (or what went wrong) comes back as a notification."""
        from torchatlas.tours.pictures import draw
        try:
            written, _note = draw(self.tour, number, python=self.python)
            message, severity = f"saved {written}", "information"
        except Exception as e:  # noqa: BLE001 - shown, never raised into the UI
            message, severity = f"no picture: {e}", "error"
        self.app.call_from_thread(self.notify, message, severity=severity, timeout=8)

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
