"""The explorer shows the history of `torchatlas pr rehearse`: found by search, each rehearsal's
steps and what the bot said."""

from __future__ import annotations

import json

from tui_helpers import async_test, settle, wait_for

SIZE = (120, 40)


def _recording(folder, name, *, merged: bool):
    steps = [{"at": "2026-12-06T18:00:00Z", "action": "push", "detail": "pushed alice/lab-square", "ok": True,
              "bot": "", "seconds": 0.4},
             {"at": "2026-12-06T18:00:01Z", "action": "comment", "detail": "@pytorchbot merge", "ok": merged,
              "bot": "" if merged else "Merge refused: this PR has no `release notes:` or `topic:` label", "seconds": 0}]
    if merged:
        steps.append({"at": "2026-12-06T18:00:02Z", "action": "merge", "detail": "squashed into main", "ok": True,
                      "bot": "Merged", "seconds": 0.2})
    (folder / name).write_text(json.dumps({"title": f"lab square ({name})", "started": "2026-12-06T18:00:00Z",
                                           "steps": steps, "ok": merged}))


@async_test
async def test_the_explorer_lists_rehearsals_and_what_the_bot_said(make_app, tmp_path, monkeypatch):
    from textual.widgets import OptionList, Static

    from torchatlas.explorer.data import Target
    from torchatlas.explorer.rehearsals_screen import RehearsalsScreen
    monkeypatch.setenv("TORCHATLAS_LABS_HOME", str(tmp_path / "labs"))
    folder = tmp_path / "forge" / "rehearsals"
    folder.mkdir(parents=True)
    _recording(folder, "20261206-1800-a.json", merged=False)
    _recording(folder, "20261206-1900-b.json", merged=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(*"rehears")
        panel = app.view.query_one("SearchPanel")
        await wait_for(pilot, lambda: panel.query_shown == "rehears")
        assert panel.query_one("LinkList").current.target == Target("rehearsals", "rehearsals")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RehearsalsScreen)
        options = screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels[0].startswith("✓ 12-06 18:00") and "1900" in labels[0], labels
        assert labels[1].startswith("✗") and "1800" in labels[1], labels
        detail = str(screen.query_one("#rehearsal-detail", Static).render())
        assert "✓ merge: squashed into main" in detail
        options.focus()
        await pilot.press("down")
        await settle(pilot)
        detail = str(screen.query_one("#rehearsal-detail", Static).render())
        assert "✗ comment: @pytorchbot merge" in detail and "bot: Merge refused" in detail
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RehearsalsScreen)


@async_test
async def test_no_rehearsal_yet_says_how_to_make_one(tmp_path, monkeypatch, make_app):
    from textual.widgets import Static

    from torchatlas.explorer.rehearsals_screen import RehearsalsScreen
    monkeypatch.setenv("TORCHATLAS_LABS_HOME", str(tmp_path / "labs"))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(RehearsalsScreen())
        await settle(pilot)
        detail = str(app.screen.query_one("#rehearsal-detail", Static).render())
        assert "No rehearsal recorded yet" in detail and "torchatlas pr rehearse --lab" in detail
