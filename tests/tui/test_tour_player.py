"""The tour player (explorer/tour_player.py) on the installed torch's index: steps, navigation,
anchored source, unresolved anchors, snippets in a worker, check questions, progress.

Progress goes to tmp_path (TORCHATLAS_STATE_DIR); a small user tour is read from
TORCHATLAS_TOURS_PATH. Regenerate the snapshot (after looking at it) with:
    python -m pytest tests/tui/test_tour_player.py --snapshot-update
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tui_helpers import async_test, settle, wait_for

SIZE = (120, 36)

USER_TOUR = textwrap.dedent("""\
    id: tiny-test-tour
    title: "A tiny tour for the tests"
    theme: "tests"
    minutes: 1
    steps:
      - title: "An operator that is not there"
        narrative: "This anchor names an operator this index does not have."
        anchor: {op: "aten::addd.Tensor"}
      - title: "aten::add.Tensor, found"
        narrative: "The YAML entry of add."
        anchor: {op: "aten::add.Tensor"}
        run: |
          print("hello from the tour", 6 * 7)
        check:
          assert: "assert 1 + 1 == 2"
      - title: "A snippet that raises"
        narrative: "Its traceback is its output."
        anchor: {op: "aten::mul.Tensor"}
        run: |
          raise ValueError("boom from the snippet")
        check:
          question: "What does the snippet raise?"
          answer: "A ValueError saying boom"
          assert: "assert 1 == 2, 'nope'"
    """)


@pytest.fixture
def env(tmp_path, monkeypatch):
    state, tours = tmp_path / "state", tmp_path / "tours"
    tours.mkdir()
    (tours / "tiny.yaml").write_text(USER_TOUR)
    monkeypatch.setenv("TORCHATLAS_STATE_DIR", str(state))
    monkeypatch.setenv("TORCHATLAS_TOURS_PATH", str(tours))
    return state


@pytest.fixture
def index(installed_db):
    from torchatlas.indexes.store import Index
    idx = Index(installed_db)
    yield idx
    idx.close()


def text(screen, selector: str) -> str:
    from textual.widgets import Static
    return str(screen.query_one(selector, Static).render())


def app_for(index, tour_id, step=None):
    from torchatlas.explorer.tour_player import TourApp
    return TourApp(index, tour_id, step)


@async_test
async def test_dispatch_steps_and_navigation(env, index):
    from textual.widgets import OptionList

    from torchatlas.tours.anchors import AnchorContext, resolve_step
    app = app_for(index, "dispatch", 1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        tour = screen.tour
        assert screen.query_one("#tour-steps", OptionList).option_count == len(tour.steps) > 10
        assert screen.current == 1
        assert text(screen, "#tour-step-title").startswith(f"Step 1 of {len(tour.steps)}: {tour.steps[0].title}")
        await pilot.press("n")
        await pilot.press("right")
        await settle(pilot)
        assert screen.current == 3
        await pilot.press("p")
        await settle(pilot)
        assert screen.current == 2
        res = resolve_step(tour.steps[1], AnchorContext.of(index))
        assert res.status == "resolved"
        assert f"{res.path}:{res.line}" in text(screen, "#tour-location")
        assert screen.query_one("#tour-code").display and screen.query_one("#tour-code").window.anchor == res.line
        await pilot.press("left")
        await settle(pilot)
        assert screen.current == 1
        await pilot.press("p")  # the start: stays
        assert screen.current == 1
        # a step that needs a checkout says so on the installed package
        skipped = next(i for i, r in enumerate(screen.resolutions, 1) if r.status == "skipped")
        screen.show_step(skipped)
        await settle(pilot)
        assert "skipped here" in text(screen, "#tour-location")
        assert "checkout" in text(screen, "#tour-missing")
        await pilot.press("q")
        await settle(pilot)
    assert app.return_value == skipped


@async_test
async def test_unresolved_anchor_shows_candidates_and_the_tour_goes_on(env, index):
    app = app_for(index, "tiny-test-tour")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.tour.origin == "user" and screen.current == 1
        assert screen.resolutions[0].status == "unresolved"
        assert "anchor not found" in text(screen, "#tour-location")
        missing = text(screen, "#tour-missing")
        assert "closest:" in missing and "aten::add.Tensor" in missing
        assert not screen.query_one("#tour-code").display
        await pilot.press("n")
        await settle(pilot)
        assert screen.current == 2
        assert screen.query_one("#tour-code").display
        assert "native_functions.yaml:" in text(screen, "#tour-location")


@async_test
async def test_run_snippet_in_a_worker(env, index):
    app = app_for(index, "tiny-test-tour", 2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "press r" in text(screen, "#tour-run")
        await pilot.press("r")
        await pilot.pause(0.05)
        assert "running" in text(screen, "#tour-run")  # the UI goes on while the worker runs
        await wait_for(pilot, lambda: "hello from the tour 42" in text(screen, "#tour-run"), timeout=90)
        assert "✓ pass" in text(screen, "#tour-check")
        await pilot.press("n")
        await pilot.press("r")
        await wait_for(pilot, lambda: "output:" in text(screen, "#tour-run"), timeout=90)
        run = text(screen, "#tour-run")
        assert "ValueError" in run and "the snippet raised" in run
        assert "✗ fail" in text(screen, "#tour-check") and "nope" in text(screen, "#tour-check")
        await pilot.press("p")  # results are kept per step
        await settle(pilot)
        assert "hello from the tour 42" in text(screen, "#tour-run")


@async_test
async def test_check_question(env, index):
    app = app_for(index, "dispatch", 2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        check = screen.tour.steps[1].check
        assert check.question and check.question.strip() in text(screen, "#tour-check")
        answer = screen.query_one("#tour-answer")
        assert answer.display
        answer.focus()
        await pilot.press(*"bananas and apples")
        await pilot.press("enter")
        await settle(pilot)
        assert "not quite" in text(screen, "#tour-feedback")
        assert screen.current == 2  # typing n, p, q into the answer does not move the tour
        answer.value = ""
        await pilot.press(*"overload resolution first, then has_torch_function")
        await pilot.press("enter")
        await settle(pilot)
        feedback = text(screen, "#tour-feedback")
        assert "right" in feedback and "parser.parse" in feedback  # the tour's answer is shown


def test_judge_answer():
    from torchatlas.explorer.tour_player import judge_answer
    ref = "Size (2, 2, 2), stride (12, 4, 2), storage offset 4"
    assert judge_answer(ref, ref)
    assert judge_answer("size 2 2 2 stride 12 4 2 offset 4", ref)
    assert not judge_answer("no idea", ref)
    assert not judge_answer("", ref)


@async_test
async def test_progress_saved_and_resumed(env, index):
    app = app_for(index, "dispatch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.current == 1  # a fresh state dir: from the start
        await pilot.press("n", "n")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
    data = json.loads((env / "tours-progress.json").read_text())
    assert data["tours"]["dispatch"]["seen"] == [1, 2, 3]
    assert data["tours"]["dispatch"]["step"] == 4
    app = app_for(index, "dispatch")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.screen.current == 4  # resumed after the last step seen
        assert "✓" in str(app.screen._step_prompt(2))


def test_snapshot_dispatcher_call(snap_compare, env, installed_db):
    # step 6, Dispatcher::call: no run:, no check, so nothing timed on screen
    from torchatlas.explorer.tour_player import TourApp

    async def run_before(pilot) -> None:
        await settle(pilot, 0.2)

    assert snap_compare(TourApp(installed_db, "dispatch", 6), terminal_size=SIZE, run_before=run_before)


@async_test
async def test_the_standalone_player_shows_the_explorers_quit_key(env, index):
    """`torchatlas tour play` says ctrl+q quits, spelled as in the explorer (Textual's own ctrl+q is hidden)."""
    app = app_for(index, "dispatch", 1)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = {b.binding.key_display or b.binding.key: b.binding.description
                 for b in app.screen.active_bindings.values() if b.binding.show}
        assert shown.get("ctrl+q") == "quit", shown
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert app._exit
