"""The explorer shows labs beside tours (explorer/lab_screen.py): labs found by the search, opened in
a LabScreen (task, files, progress, hints one at a time, check in a worker, start), and what it
saves is what `torchatlas lab` reads.

Progress and workspaces go to tmp_path (TORCHATLAS_STATE_DIR); the tiny lab tests/assets/labs/square
is copied and read through TORCHATLAS_LABS_PATH (with three hints instead of one, to reveal them one
at a time). Most tests check with a fake checker (instant, fixed verdicts); one starts the lab and
checks it for real. Regenerate the snapshot (after looking at it) with:
    python -m pytest tests/tui/test_lab_screen.py --snapshot-update
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from tui_helpers import async_test, settle, wait_for

from torchatlas.contrib.model import CheckResult, LabVerdict

ASSETS = Path(__file__).parent.parent / "assets" / "labs"
SIZE = (120, 36)
HINTS = ["Read the task again: square means x times x.", "`x * x` keeps the dtype; `torch.pow(x, 2.0)` does not.",
         "The whole answer is `return x * x`."]
WORKSPACE = "/home/learner/labs/square"  # a fixed path for the screens that never touch the workspace


@pytest.fixture
def env(tmp_path, monkeypatch):
    labs = tmp_path / "labs"
    shutil.copytree(ASSETS / "square", labs / "square")
    yaml = labs / "square" / "lab.yaml"
    yaml.write_text(yaml.read_text().replace("hints: [use x*x]", "hints:\n" + "".join(f"  - \"{h}\"\n" for h in HINTS)))
    state = tmp_path / "state"
    monkeypatch.setenv("TORCHATLAS_STATE_DIR", str(state))
    monkeypatch.setenv("TORCHATLAS_LABS_PATH", str(labs))
    monkeypatch.delenv("TORCHATLAS_LABS_HOME", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    from torchatlas.explorer import lab_screen
    lab_screen.LAST_VERDICTS.clear()
    return state


def progress_file(state: Path) -> dict:
    return json.loads((state / "labs-progress.json").read_text())["labs"]


def write_progress(state: Path, **fields) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "labs-progress.json").write_text(json.dumps({"version": 1, "labs": {"square": fields}}))


def text(screen, selector: str) -> str:
    from textual.widgets import Static
    return str(screen.query_one(selector, Static).render())


def results_text(screen) -> str:
    return "\n".join(str(w.render()) for w in screen.query("#lab-results Static"))


def hints_text(screen) -> str:
    from textual.widgets import Markdown
    md = screen.query_one("#lab-hint-list", Markdown)
    return md.source if md.display else ""


VERDICT = (CheckResult("test_sq::test_square", True, ""),
           CheckResult("test_sq::test_torch_is_the_workspace_copy", True, ""),
           CheckResult("test_hidden::test_keeps_dtype", False, "AssertionError: square must keep integer tensors "
                       "integer\n  at lab/sq.py:5 in square", hidden=True))


def fake_checker(results=VERDICT, gate: threading.Event | None = None):
    """A checker that says what it does, streams its results, and (with a gate) waits to be let go."""
    calls = []

    def check(lab, workspace, say, on_result):
        calls.append((lab.id, str(workspace)))
        say("running the checks")
        if gate is not None:
            assert gate.wait(20), "the test never opened the gate"
        for r in results:
            on_result(r)
        return LabVerdict(lab.id, tuple(results), 1.5)
    check.calls = calls
    return check


def lab_app(**kw):
    from torchatlas.explorer.lab_screen import LabApp
    return LabApp("square", **kw)


# -- the search ----------------------------------------------------------------------------------------

def test_labs_are_found_by_id_title_theme_and_the_word_lab(env):
    from torchatlas.explorer import data
    ids = lambda q: [h.qualname for h in data._lab_hits(None, q, 40)]  # noqa: E731
    assert "square" in ids("lab") and "autograd-function" in ids("labs")  # every lab, the shipped ones too
    assert ids("square") == ["square"]
    assert "square" in ids("tiny lab")  # every word of the title
    assert "square" in ids("theme 3") and "autograd-function" in ids("3")  # the theme's number...
    assert "square" in ids("in-place ops")  # ...and its words (CURRICULUM.md's theme 3)
    assert "autograd-function" in ids("autograd")
    assert "channels-last" in ids("channels_last") and "nn-module" in ids("nn.Module")
    assert ids("a") == [] and ids("zzz-no-lab") == [] and "data-pipeline" not in ids("add")  # not "padding"
    hit = data._lab_hits(None, "square", 5)[0]
    assert hit.kind == "lab" and "theme 3" in hit.location and "python" in hit.location
    assert data.target_of_hit(hit) == data.Target("lab", "square")


def test_the_word_lab_lists_labs_first(env, installed_db):
    from torchatlas.explorer import data
    atlas = data.Atlas(installed_db)
    hits = data.search(atlas, "lab", limit=60)
    labs = data.lab_catalog().ordered()
    assert len(labs) >= 2 and [h.qualname for h in hits[:len(labs)]] == [lab.id for lab in labs]  # by theme
    assert any(h.kind == "lab" and h.qualname == "autograd-function" for h in data.search(atlas, "autograd"))


# -- the explorer opens labs -----------------------------------------------------------------------------

@async_test
async def test_explorer_opens_a_lab_from_the_search_and_comes_back(env, make_app):
    from textual.widgets import Input

    from torchatlas.explorer.app import HomeView
    from torchatlas.explorer.data import Target
    from torchatlas.explorer.lab_screen import LabScreen
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.view, HomeView)
        await pilot.press(*"lab squ")  # plain "square" is aten::square first
        panel = app.view.query_one("SearchPanel")
        await wait_for(pilot, lambda: panel.query_shown == "lab squ")
        assert app.view.query_one(Input).value == "lab squ"
        assert panel.query_one("LinkList").current.target == Target("lab", "square")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LabScreen) and screen.lab.id == "square"
        assert "Square a tensor" in text(screen, "#lab-header") and "theme 3" in text(screen, "#lab-header")
        # the explorer's keys that would act on the view beneath are not offered here
        assert app.check_action("trace", ()) is False and app.check_action("picture", ()) is False
        keys = {b.binding.key for b in app.active_bindings.values() if b.binding.show and b.enabled}
        assert {"h", "c", "s"} <= keys and "t" not in keys and "g" not in keys
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, LabScreen) and isinstance(app.view, HomeView)
        assert app.check_action("search", ()) is True
        # an unknown lab: said, and the explorer stays where it was
        app.navigate(Target("lab", "squar"))
        await settle(pilot)
        assert not isinstance(app.screen, LabScreen)
        assert any("no lab 'squar'" in str(n.message) and "square" in str(n.message) for n in app._notifications)


# -- the lab screen ---------------------------------------------------------------------------------------

@async_test
async def test_not_started_says_how_to_start(env):
    app = lab_app(checker=fake_checker())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        header = text(screen, "#lab-header")
        for part in ("Square a tensor", "square", "theme 3 (autograd, in-place ops, hooks)", "beginner",
                     "about 5 min", "mode python"):
            assert part in header
        assert "Implement square." in screen.query_one("#lab-task").source
        assert "lab/sq.py" in text(screen, "#lab-edits")
        assert "2 files" in text(screen, "#lab-about") and "1 hidden" in text(screen, "#lab-about")
        assert "not started" in text(screen, "#lab-progress")
        assert "torchatlas lab start square" in text(screen, "#lab-progress")
        assert screen.check_action("start", ()) is True and screen.check_action("edit", ()) is False
        await pilot.press("c")  # nothing to check yet: it says what to do, runs nothing
        await settle(pilot)
        assert screen.checker.calls == [] and not screen.busy
        assert any("torchatlas lab start square" in str(n.message) for n in app._notifications)


@async_test
async def test_hints_one_at_a_time_saved_as_lab_hint_saves_them(env, capsys):
    from torchatlas.cli import main
    app = lab_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert hints_text(screen) == "" and "none shown yet" in text(screen, "#lab-hints")
        await pilot.press("h")
        await settle(pilot)
        assert hints_text(screen) == f"1. {HINTS[0]}" and "1 of 3" in text(screen, "#lab-hints")
        assert progress_file(env)["square"]["hints_shown"] == 1
    # the CLI carries on from there: its next hint is the second
    assert main(["lab", "hint", "square"]) == 0
    assert "hint 2/3" in capsys.readouterr().out
    app = lab_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert HINTS[1] in hints_text(screen) and HINTS[2] not in hints_text(screen)  # read back, not reset
        await pilot.press("h", "h")
        await settle(pilot)
        assert HINTS[2] in hints_text(screen) and "all 3 shown" in text(screen, "#lab-hints")
        assert progress_file(env)["square"]["hints_shown"] == 3
        assert any("last hint" in str(n.message) for n in app._notifications)


@async_test
async def test_check_runs_in_a_worker_and_is_recorded_as_lab_check_records_it(env, tmp_path):
    write_progress(env, workspace=str(tmp_path), started=1.0)
    gate = threading.Event()
    checker = fake_checker(gate=gate)
    app = lab_app(checker=checker)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.check_action("start", ()) is False and screen.check_action("edit", ()) is True
        assert str(tmp_path / "lab" / "sq.py") in text(screen, "#lab-edits")
        await pilot.press("c")
        await wait_for(pilot, lambda: "running the checks" in text(screen, "#lab-verdict"))
        # the check waits on the gate in its thread; the UI still answers
        assert screen.busy == "check"
        await pilot.press("h")
        await pilot.pause(0.1)
        assert HINTS[0] in hints_text(screen)
        await pilot.press("c")  # a second check while one runs: said, not started
        await pilot.pause(0.1)
        assert len(checker.calls) == 1
        gate.set()
        await settle(pilot)
        assert checker.calls == [("square", str(tmp_path))]
        shown = results_text(screen)
        assert "✓" in shown and "test_sq::test_square" in shown
        assert "✗" in shown and "test_hidden::test_keeps_dtype  (hidden)" in shown
        assert "square must keep integer tensors integer" in shown and "lab/sq.py:5" in shown
        assert "2/3 passed in 1.5 s" in text(screen, "#lab-summary") and "not yet" in text(screen, "#lab-summary")
        assert "2/3 passed" in text(screen, "#lab-progress") and "not done yet" in text(screen, "#lab-progress")
        saved = progress_file(env)["square"]
        assert (saved["checks_passed"], saved["checks_total"], saved["passed_at"]) == (2, 3, 0)

        # all pass: done, every hint shows, the congratulation once
        screen.checker = fake_checker(tuple(CheckResult(r.name, True, "", hidden=r.hidden) for r in VERDICT))
        await pilot.press("c")
        await settle(pilot)
        assert "✓ lab square done" in text(screen, "#lab-summary") and "✓ done" in text(screen, "#lab-progress")
        assert all(h in hints_text(screen) for h in HINTS) and "the lab is done" in text(screen, "#lab-hints")
        saved = progress_file(env)["square"]
        assert (saved["checks_passed"], saved["checks_total"]) == (3, 3) and saved["passed_at"] > 0
        assert sum("Well done" in str(n.message) for n in app._notifications) == 1
    # leave and come back: the verdicts of this process are still shown
    app = lab_app(checker=fake_checker())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "3/3 passed" in text(app.screen, "#lab-summary")


@async_test
async def test_a_workspace_that_is_gone_is_said_not_raised(env, tmp_path):
    gone = tmp_path / "nowhere"
    write_progress(env, workspace=str(gone), started=1.0)
    app = lab_app()  # the real checker: open_workspace refuses
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "gone" in text(screen, "#lab-progress")
        await pilot.press("c")
        await settle(pilot)
        assert not screen.busy and "not a lab workspace" in text(screen, "#lab-summary")
        assert "torchatlas lab start" in text(screen, "#lab-summary")


@async_test
async def test_leaving_during_a_build_stops_it_at_its_next_step(env, tmp_path):
    """The builders stop (and clean up) on KeyboardInterrupt, as on Ctrl-C: the screen raises one
    (Stopped) from the progress callback once its worker is cancelled, so quitting never waits for a
    long build to end."""
    from torchatlas.explorer.lab_screen import Stopped
    write_progress(env, workspace=str(tmp_path), started=1.0)
    gate, seen = threading.Event(), []

    def checker(lab, workspace, say, on_result):
        say("building (native)")
        assert gate.wait(20)
        try:
            say("[2/9] compiling lab/kernel.cpp")  # the build's next step, after the screen has gone
        except Stopped:
            seen.append("stopped")
            raise
        seen.append("went on")
        return LabVerdict(lab.id, VERDICT, 1.0)

    app = lab_app(checker=checker)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: "building (native)" in text(app.screen, "#lab-verdict"))
        await pilot.press("escape")  # leaves the lab (and this one-screen app)
        await pilot.pause(0.1)
        gate.set()
    for _ in range(100):
        if seen:
            break
        threading.Event().wait(0.05)
    assert seen == ["stopped"]
    assert progress_file(env)["square"].get("checks_total", 0) == 0  # a stopped check records no verdict


@async_test
async def test_start_that_cannot_make_the_workspace_says_why(env, installed_source):
    squatter = env / "labs" / "square"
    squatter.mkdir(parents=True)
    (squatter / "notes.txt").write_text("mine")
    app = lab_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("s")
        await wait_for(pilot, lambda: not screen.busy, timeout=30)
        await settle(pilot)
        assert "exists and is not empty" in text(screen, "#lab-summary")
        assert "not started" in text(screen, "#lab-progress") and (squatter / "notes.txt").read_text() == "mine"


@async_test
async def test_start_and_check_for_real(env, installed_source):
    """`s` makes the workspace (as `lab start` does), `c` runs the real checks on it: a partly right
    answer passes the visible check and fails the hidden one."""
    app = lab_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("s")
        await wait_for(pilot, lambda: not screen.busy, timeout=60)
        await settle(pilot)
        ws = env / "labs" / "square"
        assert (ws / "lab" / "sq.py").is_file(), screen.error
        assert progress_file(env)["square"]["workspace"] == str(ws)
        assert str(ws) in text(screen, "#lab-progress") and screen.check_action("start", ()) is False
        (ws / "lab" / "sq.py").write_text("import torch\n\n\ndef square(x):\n    return torch.pow(x, 2.0)\n")
        await pilot.press("c")
        await wait_for(pilot, lambda: not screen.busy, timeout=90)
        await settle(pilot)
        shown = results_text(screen)
        assert "test_sq::test_square" in shown and "test_hidden::test_keeps_dtype  (hidden)" in shown
        assert "integer" in shown, shown
        assert screen.verdict is not None and not screen.verdict.passed
        saved = progress_file(env)["square"]
        assert saved["checks_total"] == 3 and saved["checks_passed"] == 2 and saved["passed_at"] == 0


def test_snapshot_a_checked_lab(snap_compare, env, monkeypatch):
    # a fixed workspace path (said to be there), a fake checker (no timings of a real run), a hint shown
    write_progress(env, workspace=WORKSPACE, started=1.0)
    monkeypatch.setattr("torchatlas.explorer.lab_screen.workspace_present", lambda path: True)

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot, 0.2)

    assert snap_compare(lab_app(checker=fake_checker()), terminal_size=SIZE, run_before=run_before)


def test_a_workspace_started_on_the_checkout_variant_shows_the_variants_task(env, tmp_path):
    from torchatlas.explorer.lab_screen import LabScreen
    folder = Path(__import__("os").environ["TORCHATLAS_LABS_PATH"]) / "square"
    variant = folder / "checkout"
    shutil.copytree(folder / "checks", variant / "checks")
    for name in ("starter.patch", "solution.patch"):
        shutil.copy(folder / name, variant / name)
    (variant / "lab.yaml").write_text((folder / "lab.yaml").read_text().replace(
        "Implement square.", "Fix the checkout's own square kernel."))
    ws = tmp_path / "ws"
    (ws / ".lab").mkdir(parents=True)
    info = {"lab_id": "square", "kind": "checkout", "source_root": str(tmp_path / "pytorch"), "version": "2.6.0a0",
            "pristine": "a" * 40, "starter": "b" * 40, "branch": "torchatlas/lab/square", "variant": "checkout",
            "sync": []}
    (ws / ".lab" / "workspace.json").write_text(json.dumps(info))
    assert "Implement square." in LabScreen("square").lab.task  # not started: the lab itself
    write_progress(env, workspace=str(ws))
    lab = LabScreen("square").lab
    assert lab.variant == "checkout" and "Fix the checkout's own square kernel." in lab.task
    info["variant"] = ""
    (ws / ".lab" / "workspace.json").write_text(json.dumps(info))
    assert LabScreen("square").lab.variant == ""
