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
        narrative: "The YAML entry of add; the dispatch tour follows it to the kernel."
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
      - title: "Checked questions"
        narrative: "Three questions, graded."
        anchor: {cpp: "c10::Dispatcher::call"}
        quiz:
          - ask: "Which key is tried first?"
            choices: ["AutogradCPU", "CPU"]
            answer: "AutogradCPU"
            why: "WHY-CHOICE: autograd keys sit above backend keys"
          - ask: "What does this print?"
            predict: "print((12, 4, 1))"
            answer: "(12, 4, 1)"
            why: "WHY-PREDICT"
          - ask: "How many dimensions?"
            expect: "int(answer) == 3"
            answer: "3"
            why: "WHY-EXPECT"
      - title: "An exercise"
        narrative: "Write double."
        anchor: {op: "aten::add.Tensor"}
        exercise:
          file: doubler.py
          task: "Write `double(x)`."
          starter: |
            def double(x):
                raise NotImplementedError
          solution: |
            def double(x):
                return 2 * x
          test: |
            from doubler import double

            def test_double():
                assert double(21) == 42
        picture: |
          draw_chain(["write", "grade"], "an exercise")
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

    from torchatlas.tours.anchors import AnchorContext
    from torchatlas.tours.showing import resolve as resolve_step
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
        # a step that needs a checkout shows what the package ships, or says so with a GitHub link
        skipped = next((i for i, r in enumerate(screen.resolutions, 1) if r.status == "skipped"), 2)
        screen.show_step(skipped)
        await settle(pilot)
        if screen.resolutions[skipped - 1].status == "skipped":
            assert "skipped here" in text(screen, "#tour-location")
            assert "checkout" in text(screen, "#tour-missing") and "github.com/pytorch/pytorch" in text(
                screen, "#tour-missing")
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
async def test_quiz_answers_are_graded_and_hidden_until_answered_or_asked(env, index):
    app = app_for(index, "tiny-test-tour", 4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        quiz = text(screen, "#tour-quiz")
        assert "1. AutogradCPU" in quiz and "2. CPU" in quiz and "print((12, 4, 1))" in quiz  # choices numbered
        assert "WHY" not in quiz and "answer:" not in quiz  # hidden until answered or asked
        answer = screen.query_one("#tour-answer")
        assert answer.display and screen.current_question() == 1
        answer.focus()
        await pilot.press("2", "enter")  # CPU: wrong
        await settle(pilot)
        assert "not quite" in text(screen, "#tour-feedback") and "WHY-CHOICE" not in text(screen, "#tour-quiz")
        assert screen.current_question() == 1 and screen.current == 4  # typed keys never move the tour
        answer.value = ""
        await pilot.press("a", "enter")  # by its letter: right
        await settle(pilot)
        assert "WHY-CHOICE" in text(screen, "#tour-quiz") and screen.current_question() == 2
        await pilot.press(*"(12,4,2)", "enter")  # a digit off: wrong, graded against the live output
        await wait_for(pilot, lambda: "not quite" in text(screen, "#tour-feedback"), timeout=90)
        assert screen.current_question() == 2
        answer.value = ""
        await pilot.press(*"(12,4,1)", "enter")
        await wait_for(pilot, lambda: screen.current_question() == 3, timeout=90)
        assert "WHY-PREDICT" in text(screen, "#tour-quiz")
        await pilot.press("enter")  # enter alone shows the answer
        await settle(pilot)
        quiz = text(screen, "#tour-quiz")
        assert "WHY-EXPECT" in quiz and "shown." in quiz and screen.current_question() is None
        assert not answer.display
        assert app.screen is screen and screen.current == 4
    data = json.loads((env / "tours-progress.json").read_text())["tours"]["tiny-test-tour"]
    assert {k: v["state"] for k, v in data["quiz"].items()} == {"4:1": "right", "4:2": "right", "4:3": "revealed"}


@async_test
async def test_escape_in_the_answer_box_stays_in_the_tour(env, index):
    app = app_for(index, "tiny-test-tour", 4)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#tour-answer").focus()
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and app.focused is screen.query_one("#tour-steps")
        shown = {b.binding.key: b.binding.description for b in screen.active_bindings.values() if b.binding.show}
        assert "x" not in shown  # no exercise on this step: no grade key
        assert "e" not in shown and "t" not in shown  # standalone: no explorer to jump into
        await pilot.press("escape")  # from the steps, escape leaves
        await settle(pilot)
        assert app.return_value == 4


@async_test
async def test_an_exercise_is_graded_from_its_scratch_file(env, index):
    app = app_for(index, "tiny-test-tour", 5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        scratch = env / "tour-exercises" / "tiny-test-tour" / "doubler.py"
        assert str(scratch) in text(screen, "#tour-exercise") and scratch.read_text().startswith("def double")
        await pilot.press("x")
        await wait_for(pilot, lambda: "not yet" in text(screen, "#tour-exercise"), timeout=120)
        assert "NotImplementedError" in text(screen, "#tour-exercise")
        scratch.write_text("def double(x):\n    return x * 2\n")
        await pilot.press("x")
        await wait_for(pilot, lambda: "✓ passed" in text(screen, "#tour-exercise"), timeout=120)
        assert screen.progress.get("tiny-test-tour").exercise_passed(5)


@async_test
async def test_g_saves_the_steps_picture(env, index, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHATLAS_PICTURES_DIR", str(tmp_path / "pictures"))
    app = app_for(index, "tiny-test-tour", 5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        pictures = tmp_path / "pictures"
        await wait_for(pilot, lambda: any(pictures.glob("torchatlas-tiny-test-tour-step5.*")), timeout=120)
        [saved] = pictures.glob("torchatlas-tiny-test-tour-step5.*")
        if saved.suffix == ".dot":
            assert saved.read_text().startswith("digraph chain")
        assert saved.stat().st_size > 0
        app.screen.show_step(4)  # a step without a picture: the key is not offered there
        await settle(pilot)
        assert app.screen.check_action("picture", ()) is False


@async_test
async def test_l_follows_a_linked_tour_and_back_returns_to_the_step(env, index):
    app = app_for(index, "tiny-test-tour", 2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.screen
        assert "the **dispatch** tour (press l)" in first._links_note(2)
        await pilot.press("l")  # one linked tour: opened at once, on top
        await wait_for(pilot, lambda: getattr(app.screen, "tour", None) is not None
                       and app.screen.tour.id == "dispatch", timeout=60)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is first and first.current == 2
        first.show_step(1)  # a step that names no tour: no key
        await settle(pilot)
        assert first.check_action("links", ()) is False


@async_test
async def test_l_with_several_linked_tours_asks_which(env, index):
    from torchatlas.explorer.tour_player import LinkedTours
    app = app_for(index, "tensors", 1)  # names the dispatch tour; its prerequisite is source-layout
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = app.screen
        assert first._links(1) == ("dispatch", "source-layout")
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, LinkedTours)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "tour", None) is not None
                       and app.screen.tour.id == "source-layout", timeout=60)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is first


@async_test
async def test_from_a_step_into_the_explorer_and_back(env, make_app):
    from torchatlas.explorer.data import Target
    app = make_app(start="aten::add.Tensor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.navigate(Target("tour", "tiny-test-tour", line=4))  # its anchor: c10::Dispatcher::call
        await settle(pilot)
        screen = app.screen
        assert type(screen).__name__ == "TourScreen" and screen.current == 4
        await pilot.press("c")  # callers
        await settle(pilot, 0.2)
        assert type(app.screen).__name__ != "TourScreen"
        view = app.view
        assert type(view).__name__ == "SymbolView" and "Dispatcher::call" in view.target.name
        from textual.widgets import TabbedContent
        assert view.query_one(TabbedContent).active == "callers"
        app.action_back()  # back: the tour, at the step it was on
        await settle(pilot)
        assert type(app.screen).__name__ == "TourScreen" and app.screen.current == 4


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
        step2 = app.screen.tour.steps[1]
        assert ("✓" if not step2.quiz and not step2.exercise else "•") in str(app.screen._step_prompt(2))


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


def test_snapshot_a_quiz_step(snap_compare, env, installed_db):
    # the test tour's step 4: three checked questions, nothing answered (no live output on screen)
    from torchatlas.explorer.tour_player import TourApp

    async def run_before(pilot) -> None:
        await settle(pilot, 0.2)

    assert snap_compare(TourApp(installed_db, "tiny-test-tour", 4), terminal_size=SIZE, run_before=run_before)


def test_tours_are_found_by_the_word_tour_and_by_their_own_words(env):
    """Searching "tour" lists every tour (the home screen says to); a tour's id, title and theme find it."""
    from torchatlas.explorer import data
    from torchatlas.tours.loader import load_catalog
    data._tour_hits.__dict__.pop("catalog", None)  # the env's user tour is read afresh
    ids = lambda q: [h.qualname for h in data._tour_hits(None, q, 100)]  # noqa: E731
    everything = set(load_catalog(builtin=True, user=True).tours)
    assert set(ids("tour")) == everything and set(ids("tours")) == everything and "tiny-test-tour" in everything
    assert ids("fsdp") == ["fsdp"] and "ddp" in ids("distributed")
    assert ids("zzz-no-tour") == []
