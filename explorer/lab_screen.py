"""The lab screen of the explorer: labs beside tours. One `LabScreen` per lab, and a tiny `LabApp`.

    app.push_screen(LabScreen("autograd-function"))    # from the explorer (a Target of kind "lab")
    LabApp("autograd-function").run()                  # alone

It shows what `torchatlas lab show` prints (title, theme, difficulty, minutes, mode, the task, the
files to edit), the learner's progress as the CLI keeps it (`contrib.progress.LabsProgress`:
started? where; checks passed; done), the hints revealed so far, and the verdicts of a check.

Keys: h reveals the next hint (saved exactly as `torchatlas lab hint` saves it; once the lab is done
every hint shows), c checks (`lab check`: build + checks, in a worker thread, each verdict listed
as it comes), s starts the lab on the installed torch (`lab start`, in a worker), o opens the files
to edit in $EDITOR, / searches, escape/q back.

The UI thread only reads and writes the small progress file; workspaces, builds and checks run in
workers. Leaving the screen (or quitting) during a check stops it at the next step it reports (a
build step, a check file): the builders treat that as Ctrl-C, so no half-made build is reused.

Layers: this module uses torchatlas.contrib (headless, no Textual) and Textual; never the reverse.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Markdown, Static
from textual.worker import get_current_worker

from torchatlas.contrib.model import CheckResult, Lab, LabVerdict
from torchatlas.contrib.progress import LabProgress, LabsProgress, labs_home
from torchatlas.indexes.errors import AtlasError, NotFound

from .data import theme_name
from .views import QUIT_BINDING

OK, FAIL = "✓", "✗"
MESSAGE_LINES = 14  # of a failed check's message, as `lab check` prints them

# (lab, workspace path, say, on_result) -> LabVerdict: what `c` runs (a seam for the tests)
Checker = Callable[[Lab, Path, Callable[[str], None], Callable[[CheckResult], None]], LabVerdict]
# (lab, say) -> workspace root: what `s` runs
Starter = Callable[[Lab, Callable[[str], None]], Path]


# The last verdict per (lab, workspace), for this process: leave the lab to read the code a failure
# points at, come back, and the verdicts are still there.
LAST_VERDICTS: dict[tuple[str, str], LabVerdict] = {}


class Stopped(KeyboardInterrupt):
    """Raised from a worker's progress callback when its screen went away: the builders stop (and
    clean up) on KeyboardInterrupt, as they do on Ctrl-C."""


def workspace_present(path: str) -> bool:
    """Whether the workspace the progress names is still there (a seam the snapshot test pins)."""
    return Path(path).is_dir()


def find_lab(catalog, lab_id: str) -> Lab:
    """The lab of that id, or NotFound naming the close ones (as `torchatlas lab` does)."""
    import difflib
    lab = catalog.labs.get(lab_id)
    if lab is not None:
        return lab
    close = difflib.get_close_matches(lab_id, list(catalog.labs), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "`torchatlas lab list` shows the labs"
    raise NotFound(f"no lab {lab_id!r}", hint=hint)


def run_check(lab: Lab, workspace: Path, say, on_result) -> LabVerdict:
    """`torchatlas lab check`'s work, without its printing: open the workspace, find where checks
    run (the workspace, or a checkout's overlay), build what the mode needs, run the checks."""
    from torchatlas.contrib.runner import verify
    from torchatlas.contrib.variants import for_workspace
    from torchatlas.contrib.workspace import check_root, open_workspace
    ws = open_workspace(workspace)
    if ws.lab_id != lab.id:
        raise AtlasError(f"{ws.root} is the workspace of lab {ws.lab_id!r}, not {lab.id!r}",
                         hint=f"start this lab in its own folder: torchatlas lab start {lab.id} --workspace DIR")
    root, note = check_root(ws)
    if note:
        say(note)
    return verify(for_workspace(lab, ws.variant), root, progress=say, on_result=on_result)


def start_lab(lab: Lab, say) -> Path:
    """`torchatlas lab start ID` on the installed torch, into the default place (labs_home()/ID);
    a workspace already there is carried on with, as the CLI does."""
    from torchatlas.contrib.workspace import create_workspace, open_workspace
    from torchatlas.indexes.sources import open_source
    dest = labs_home() / lab.id
    if (dest / ".lab").is_dir():
        return open_workspace(dest).root
    return create_workspace(lab, open_source("installed"), dest, progress=say).root


class LabScreen(Screen[None]):
    """One lab: what to do, where the learner is, hints, and checks run from here."""

    DEFAULT_CSS = """
    LabScreen { layout: vertical; }
    LabScreen #lab-header { height: auto; padding: 0 1; background: $panel; }
    LabScreen #lab-body { height: 1fr; }
    LabScreen #lab-left { width: 1fr; height: 1fr; padding: 0 1; border-right: solid $primary 50%; }
    LabScreen #lab-right { width: 1fr; height: 1fr; padding: 0 1; }
    LabScreen #lab-task { height: auto; margin: 0; }
    LabScreen .lab-section { height: auto; margin-bottom: 1; }
    LabScreen #lab-hint-list { height: auto; margin: 0; }
    LabScreen #lab-hint-list > * { margin-bottom: 0; }
    LabScreen #lab-verdict { height: auto; margin-top: 1; }
    LabScreen #lab-results { height: auto; }
    LabScreen .lab-result { height: auto; padding-left: 2; }
    LabScreen .lab-result > .lab-mark { width: 2; }
    LabScreen .lab-result > .lab-name { width: 1fr; }
    LabScreen .lab-message { height: auto; padding-left: 6; color: $text-muted; }
    LabScreen .lab-message.failed { color: $text; }
    LabScreen #lab-summary { height: auto; padding-left: 2; }
    """
    BINDINGS = [
        Binding("h", "hint", "next hint"),
        Binding("c", "check", "check"),
        Binding("s", "start", "start the lab"),
        Binding("o", "edit", "edit files"),
        Binding("slash", "search", "search"),
        Binding("escape,q", "back", "back"),
        QUIT_BINDING,
        Binding("pagedown", "scroll_task(1)", "scroll task", show=False),
        Binding("pageup", "scroll_task(-1)", "scroll task", show=False),
    ]
    # the explorer's keys that act on the view under this screen: hidden here (ExplorerApp.check_action)
    HIDE_APP_ACTIONS = ("back", "forward", "search", "trace", "pick_key", "open_editor", "picture", "home")

    def __init__(self, lab_id: str, *, catalog=None, checker: Checker | None = None,
                 starter: Starter | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if catalog is None:
            from torchatlas.contrib.loader import load_labs
            catalog = load_labs()
        self.progress = LabsProgress()
        # the lab as the learner's workspace was started: on a checkout of the installed release,
        # its checkout variant (its own task and hints)
        from torchatlas.contrib.variants import for_workspace_path
        self.lab = for_workspace_path(find_lab(catalog, lab_id), self.progress.get(lab_id).workspace)  # NotFound first
        self.checker = checker or run_check
        self.starter = starter or start_lab
        self.busy = ""  # "check" | "start" while a worker runs
        self.status = ""  # what the running worker said last
        self.results: list[CheckResult] = []
        self.verdict: LabVerdict | None = None
        self.error = ""

    @property
    def state(self) -> LabProgress:
        return self.progress.get(self.lab.id)

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        lab = self.lab
        name = theme_name(lab.theme)
        head = Content.from_markup(
            "[b]$title[/]\n[dim]$id · theme $t$n · $d · about $m min · mode [/][b]$mode[/]",
            title=lab.title, id=lab.id, t=str(lab.theme), n=f" ({name})" if name else "", d=lab.difficulty,
            m=str(lab.minutes), mode=lab.mode.value)
        yield Static(head, id="lab-header")
        with Horizontal(id="lab-body"):
            with VerticalScroll(id="lab-left"):
                yield Markdown(lab.task, id="lab-task")
                yield Static(id="lab-edits", classes="lab-section")
                yield Static(self._about_checks(), id="lab-about", classes="lab-section")
            with VerticalScroll(id="lab-right"):
                yield Static(id="lab-progress", classes="lab-section")
                yield Static(id="lab-hints")
                yield Markdown(id="lab-hint-list")
                yield Static(id="lab-verdict")
                yield Vertical(id="lab-results")
                yield Static(id="lab-summary")
        yield Footer()

    def on_mount(self) -> None:
        if self.progress.warning:
            self.notify(self.progress.warning, severity="warning", timeout=8)
        self.query_one("#lab-left").focus()
        last = LAST_VERDICTS.get((self.lab.id, self.state.workspace))
        if last is not None:
            self.verdict = last
            for r in last.results:
                self._add_result(r)
        self.refresh_all()

    def refresh_all(self) -> None:
        self._show_edits()
        self._show_progress()
        self._show_hints()
        self._show_verdict()
        self.refresh_bindings()

    def _about_checks(self) -> Content:
        lab = self.lab
        hidden = sum(c.hidden for c in lab.checks)
        lines = [Content.from_markup("[b]checks[/]  $n file$s", n=str(len(lab.checks)),
                                     s="" if len(lab.checks) == 1 else "s")]
        if hidden:
            lines.append(Content.from_markup("  [dim]$h hidden: you see their verdicts, not their code[/]",
                                             h=str(hidden)))
        if lab.mode.value != "python":
            lines.append(Content.from_markup("  [dim]c builds first ($m), then checks[/]", m=lab.mode.value))
        if lab.requires:
            lines.append(Content.from_markup("  [dim]needs: $r[/]", r=", ".join(lab.requires)))
        return Content("\n").join(lines)

    def _workspace(self) -> Path | None:
        return Path(self.state.workspace) if self.state.workspace else None

    def _show_edits(self) -> None:
        ws = self._workspace()
        lines = [Content.from_markup("[b]files you edit[/]" + ("  [dim](in your workspace)[/]" if ws else ""))]
        for e in self.lab.edits:
            lines.append(Content.from_markup("  $f", f=str(ws / e) if ws else e))
        self.query_one("#lab-edits", Static).update(Content("\n").join(lines))

    def _show_progress(self) -> None:
        p, lab = self.state, self.lab
        lines = [Content.from_markup("[b]progress[/]")]
        if not p.workspace:
            lines.append(Content.from_markup("  not started. Start it with"))
            lines.append(Content.from_markup("    [b]torchatlas lab start $id[/]", id=lab.id))
            lines.append(Content.from_markup("  [dim]or press s (a workspace on the installed torch)[/]"))
        else:
            gone = "" if workspace_present(p.workspace) else "  [$warning](gone: torchatlas lab start $id)[/]"
            lines.append(Content.from_markup("  workspace  $w" + gone, w=p.workspace, id=lab.id))
            if p.checks_total:
                colour = "$success" if p.checks_passed == p.checks_total else "$warning"
                lines.append(Content.from_markup(f"  checks     [{colour}]$a/$b passed[/] [dim](last check)[/]",
                                                 a=str(p.checks_passed), b=str(p.checks_total)))
            else:
                lines.append(Content.from_markup("  checks     [dim]not checked yet: press c[/]"))
        if p.done:
            lines.append(Content.from_markup("  [b $success]✓ done[/]"))
        elif p.workspace:
            lines.append(Content.from_markup("  [dim]not done yet[/]"))
        self.query_one("#lab-progress", Static).update(Content("\n").join(lines))

    def _shown_hints(self) -> int:
        return len(self.lab.hints) if self.state.done else min(self.state.hints_shown, len(self.lab.hints))

    def _show_hints(self) -> None:
        n, shown = len(self.lab.hints), self._shown_hints()
        if self.state.done:
            head = "[b]hints[/]  [dim](all $n: the lab is done)[/]"
        elif shown == 0:
            head = "[b]hints[/]  [dim]$n; none shown yet: press h for the first[/]"
        elif shown < n:
            head = "[b]hints[/]  [dim]$k of $n shown; h for the next[/]"
        else:
            head = "[b]hints[/]  [dim]all $n shown[/]"
        self.query_one("#lab-hints", Static).update(Content.from_markup(head, n=str(n), k=str(shown)))
        listing = self.query_one("#lab-hint-list", Markdown)
        listing.display = shown > 0
        # Markdown: hints quote code (`torch/autograd/function.py`), and a numbered list wraps with a hanging indent
        listing.update("\n".join(f"{i}. {h}" for i, h in enumerate(self.lab.hints[:shown], 1)))

    def _show_verdict(self) -> None:
        """The header and the summary; the verdicts themselves are mounted as they come (_add_result)."""
        lab = self.lab
        lines = [Content.from_markup("[b]check[/]")]
        if self.busy == "start":
            lines.append(Content.from_markup("  [dim]starting the lab: $s[/]", s=self.status or "…"))
        elif self.busy == "check":
            lines.append(Content.from_markup("  [dim]checking… $s[/]", s=self.status))
        elif not self.results and not self.error:
            if self.state.workspace:
                lines.append(Content.from_markup("  [dim]c runs the checks here (torchatlas lab check $id)[/]",
                                                 id=lab.id))
            else:
                lines.append(Content.from_markup("  [dim]start the lab first; then c runs its checks[/]"))
        self.query_one("#lab-verdict", Static).update(Content("\n").join(lines))
        summary = []
        v = self.verdict
        if v is not None and not self.busy:
            passed = sum(r.passed for r in v.results)
            summary.append(Content.from_markup("\n$p/$n passed in $s s", p=str(passed), n=str(len(v.results)),
                                               s=f"{v.seconds:.1f}"))
            if v.passed:
                summary.append(Content.from_markup("[b $success]✓ lab $id done.[/]", id=lab.id))
            else:
                summary.append(Content.from_markup("not yet: fix the first failure above; h for a hint"))
        if self.error:
            summary.append(Content.from_markup("[b $error]$e[/]", e=self.error))
        self.query_one("#lab-summary", Static).update(Content("\n").join(summary))

    def _clear_results(self) -> None:
        self.results = []
        self.query_one("#lab-results", Vertical).remove_children()

    def _add_result(self, r: CheckResult) -> None:
        """One verdict as `lab check` prints it: the mark, the name, (hidden), and the message of a
        failure (or of the build), which wraps under its name."""
        self.results.append(r)
        mark, colour = (OK, "$success") if r.passed else (FAIL, "$error")
        name = Content(r.name) + (Content.from_markup("  [dim](hidden)[/]") if r.hidden else Content(""))
        widgets = [Horizontal(Static(Content.from_markup(f"[b {colour}]$m[/]", m=mark), classes="lab-mark"),
                              Static(name, classes="lab-name"), classes="lab-result")]  # a long name wraps under itself
        if r.message and (not r.passed or r.name == "build"):
            text = "\n".join(r.message.splitlines()[:MESSAGE_LINES])
            widgets.append(Static(Content(text), classes="lab-message" + ("" if r.passed else " failed")))
        self.query_one("#lab-results", Vertical).mount_all(widgets)

    # -- keys ---------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "start":
            return not self.state.workspace and not self.busy
        if action == "edit":
            return bool(self.state.workspace)
        if action == "search":
            return hasattr(self.app, "action_search") and getattr(self.app, "atlas", None) is not None
        return True

    def action_hint(self) -> None:
        """The next hint, saved as `torchatlas lab hint` saves it (a fresh read of the progress file,
        so a hint the CLI showed meanwhile counts)."""
        lab = self.lab
        self.progress = LabsProgress()
        p = self.state
        before = self._shown_hints()
        shown = len(lab.hints) if p.done else min(p.hints_shown + 1, len(lab.hints))
        p.hints_shown = max(p.hints_shown, shown)
        self.progress.save()
        if self.progress.warning:
            self.notify(self.progress.warning, severity="warning", timeout=8)
        if shown == before:
            self.notify(f"that was the last hint ({len(lab.hints)} of {len(lab.hints)})", timeout=3)
        self._show_hints()
        self.call_after_refresh(self.query_one("#lab-hint-list").scroll_visible, animate=False)

    def action_check(self) -> None:
        if self.busy:
            self.notify(f"a {self.busy} is running; its verdicts come in on the right", timeout=3)
            return
        self.progress = LabsProgress()
        ws = self._workspace()
        if ws is None:
            self.notify(f"start the lab first: torchatlas lab start {self.lab.id} (or press s)", timeout=6)
            return
        self.busy, self.status, self.verdict, self.error = "check", "", None, ""
        self._clear_results()
        self.refresh_all()
        self.query_one("#lab-verdict").scroll_visible(animate=False, top=True)  # the verdicts come in here
        self._run_check(ws)

    def action_start(self) -> None:
        if self.busy:
            self.notify(f"a {self.busy} is running", timeout=3)
            return
        self.progress = LabsProgress()
        if self.state.workspace:
            self.notify(f"already started in {self.state.workspace}", timeout=4)
            self.refresh_all()
            return
        self.busy, self.status, self.error = "start", "", ""
        self.refresh_all()
        self._run_start()

    def action_edit(self) -> None:
        ws = self._workspace()
        if ws is None:
            self.notify(f"start the lab first: torchatlas lab start {self.lab.id}", timeout=5)
            return
        files = [str(ws / e) for e in self.lab.edits]
        editor = os.environ.get("EDITOR", "").strip()
        if not editor:
            self.notify("set $EDITOR to open the files from here (export EDITOR=vim, nano ...). The files:\n"
                        + "\n".join(files), title="no $EDITOR", severity="warning", timeout=10)
            return
        argv = shlex.split(editor) + files
        try:
            if self.app.is_headless:
                subprocess.run(argv, check=False)
            else:
                with self.app.suspend():
                    subprocess.run(argv, check=False)
        except OSError as e:
            self.notify(f"could not start {argv[0]}: {e}", title="$EDITOR", severity="error", timeout=8)
        except Exception as e:  # noqa: BLE001 - SuspendNotSupported and friends
            self.notify(f"cannot hand the terminal to $EDITOR here ({type(e).__name__}); the files:\n"
                        + "\n".join(files), severity="warning", timeout=8)

    def action_search(self) -> None:
        app = self.app
        self.dismiss()
        app.action_search()  # type: ignore[attr-defined]

    def action_scroll_task(self, direction: int) -> None:
        w = self.query_one("#lab-left", VerticalScroll)
        w.scroll_page_down() if direction > 0 else w.scroll_page_up()

    def action_back(self) -> None:
        self.dismiss()

    # -- workers ------------------------------------------------------------------------------------

    def _post(self, fn, *args) -> None:
        """Hand something to the UI thread; nothing when the app has gone meanwhile."""
        try:
            self.app.call_from_thread(fn, *args)
        except RuntimeError:
            pass

    def _worker_callbacks(self):
        worker = get_current_worker()

        def say(msg: str) -> None:
            if worker.is_cancelled:
                raise Stopped()
            self._post(self._said, msg)

        def on_result(r: CheckResult) -> None:
            self._post(self._result_came, r)  # never stops: the checks have run, their verdict is recorded
        return say, on_result

    @work(thread=True, group="lab-check")
    def _run_check(self, workspace: Path) -> None:
        say, on_result = self._worker_callbacks()
        lab = self.lab
        try:
            verdict = self.checker(lab, workspace, say, on_result)
        except Stopped:
            return
        except AtlasError as e:
            self._post(self._job_failed, e.message + (f"\n{e.hint}" if e.hint else ""))
            return
        except Exception as e:  # noqa: BLE001 - shown, never raised into the UI
            self._post(self._job_failed, f"the check could not run: {type(e).__name__}: {e}")
            return
        # recorded as `torchatlas lab check` records it, even when the screen has gone meanwhile
        progress = LabsProgress()
        passed = sum(r.passed for r in verdict.results)
        first = progress.record_check(lab.id, passed, len(verdict.results))
        if not progress.get(lab.id).workspace:
            progress.started(lab.id, workspace)
        progress.save()
        LAST_VERDICTS[(lab.id, progress.get(lab.id).workspace)] = verdict
        self._post(self._checked, verdict, progress, first)

    @work(thread=True, group="lab-start")
    def _run_start(self) -> None:
        say, _ = self._worker_callbacks()
        lab = self.lab
        try:
            root = self.starter(lab, say)
        except Stopped:
            return
        except AtlasError as e:
            self._post(self._job_failed, e.message + (f"\n{e.hint}" if e.hint else ""))
            return
        except Exception as e:  # noqa: BLE001
            self._post(self._job_failed, f"the lab could not start: {type(e).__name__}: {e}")
            return
        progress = LabsProgress()
        progress.started(lab.id, root)
        progress.save()
        self._post(self._started, progress)

    # -- back on the UI thread ----------------------------------------------------------------------

    def _said(self, msg: str) -> None:
        self.status = msg
        if self.is_attached:
            self._show_verdict()

    def _result_came(self, r: CheckResult) -> None:
        if self.is_attached:
            self._add_result(r)

    def _job_failed(self, message: str) -> None:
        self.busy, self.error = "", message
        if self.is_attached:
            self.refresh_all()
            self.notify(message, title="lab", severity="error", timeout=10)

    def _checked(self, verdict: LabVerdict, progress: LabsProgress, first: bool) -> None:
        self.busy, self.verdict, self.progress = "", verdict, progress
        if not self.is_attached:
            return
        if len(self.results) != len(verdict.results):  # the checker did not stream them all: the final list
            self._clear_results()
            for r in verdict.results:
                self._add_result(r)
        self.refresh_all()
        if progress.warning:
            self.notify(progress.warning, severity="warning", timeout=8)
        if first:
            self.notify("Well done: real PyTorch code, changed and proven. Every hint is open now.",
                        title=f"lab {self.lab.id} done", timeout=10)

    def _started(self, progress: LabsProgress) -> None:
        self.busy, self.progress = "", progress
        if not self.is_attached:
            return
        self.refresh_all()
        self.notify(f"workspace: {self.state.workspace}\nedit the files on the left (o opens them), then c checks",
                    title=f"lab {self.lab.id} started", timeout=8)


class LabApp(App[None], inherit_bindings=False):
    """Hosts one LabScreen: `LabApp("autograd-function").run()`; quits when it is closed."""

    TITLE = "torchatlas labs"
    BINDINGS = [QUIT_BINDING, Binding("ctrl+c", "help_quit", show=False, system=True)]  # as in the explorer
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, lab_id: str, **screen_kwargs) -> None:
        super().__init__()
        self._lab_id, self._screen_kwargs = lab_id, screen_kwargs

    def on_mount(self) -> None:
        self.push_screen(LabScreen(self._lab_id, **self._screen_kwargs), callback=lambda _: self.exit())
