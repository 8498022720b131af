"""The rehearsals of `torchatlas pr rehearse`, in the explorer: what was done, and what the bot said.

    app.push_screen(RehearsalsScreen())            # from the explorer (search "rehearsal" or "pr")

Left: every recorded rehearsal, newest first (✓ merged / ✗ not, the lab, when). Right: the steps
of the one selected (push, open the PR, checks, review, `@pytorchbot merge` ...), each with its
result and the bot's answer. The recordings are the JSON files `pr rehearse` writes
(`contrib.forge.record.history`); this screen only reads them. Keys: enter or the arrows choose,
escape/q back.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from .views import QUIT_BINDING


def rehearsals_folder() -> Path:
    from torchatlas.contrib.pr.rehearse import forge_root
    return forge_root() / "rehearsals"


def load_rehearsals(folder: Path | None = None) -> list[dict]:
    """The recordings, newest first (a damaged one is listed with its error)."""
    from torchatlas.contrib.forge.record import history
    folder = folder or rehearsals_folder()
    return list(reversed(history(folder))) if folder.is_dir() else []


def describe_steps(recording: dict) -> str:
    """One recording as text: a line per step, the bot's answer indented under it."""
    if recording.get("error"):
        return f"{recording.get('file', '')}: cannot read this recording: {recording['error']}"
    lines = [f"{recording.get('title') or recording.get('file', '')}", f"started {recording.get('started', '?')}", ""]
    for s in recording.get("steps", []):
        mark = "✓" if s.get("ok", True) else "✗"
        took = f"  ({s['seconds']:.1f} s)" if s.get("seconds") else ""
        lines.append(f"{mark} {s.get('action', '?')}: {s.get('detail', '')}{took}")
        for bot_line in (s.get("bot") or "").strip().splitlines()[:12]:
            lines.append(f"      bot: {bot_line}")
    return "\n".join(lines)


class RehearsalsScreen(Screen[None]):
    """The history of PR rehearsals."""

    BINDINGS = [Binding("escape", "app.pop_screen", "back"), Binding("q", "app.pop_screen", "back", show=False),
                QUIT_BINDING]
    # the explorer's keys that would act on the view beneath are not offered here
    HIDE_APP_ACTIONS = ("back", "forward", "search", "trace", "pick_key", "open_editor", "picture", "home")
    DEFAULT_CSS = """
    RehearsalsScreen #rehearsal-list { width: 44; border-right: solid $panel; }
    RehearsalsScreen #rehearsal-steps { padding: 0 1; }
    """

    def __init__(self, folder: Path | None = None):
        super().__init__()
        self.folder = folder
        self.recordings = load_rehearsals(folder)

    def compose(self) -> ComposeResult:
        yield Static(f" PR rehearsals ({len(self.recordings)}) — torchatlas pr rehearse --lab ID records one",
                     id="rehearsal-title")
        with Horizontal():
            options = [Option(self._label(r), id=str(i)) for i, r in enumerate(self.recordings)]
            yield OptionList(*options, id="rehearsal-list")
            with VerticalScroll(id="rehearsal-steps"):
                yield Static(self._empty() if not self.recordings else describe_steps(self.recordings[0]),
                             id="rehearsal-detail")
        yield Footer()

    @staticmethod
    def _label(r: dict) -> str:
        merged = any(s.get("action") == "merge" and s.get("ok", True) for s in r.get("steps", []))
        mark = "✓" if merged else "✗"
        when = r.get("started", "")[5:16].replace("T", " ")  # 12-06 18:45: one line in the 44-column list
        title = r.get("title") or r.get("file", "")
        return f"{mark} {when}  {title if len(title) <= 27 else title[:26] + '…'}"

    def _empty(self) -> str:
        return ("No rehearsal recorded yet.\n\nRehearse a pull request from a lab's change, offline:\n"
                "  torchatlas pr rehearse --lab fx-pass\n\nEach one is kept, with what the bot said, in\n"
                f"  {self.folder or rehearsals_folder()}")

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.query_one("#rehearsal-detail", Static).update(describe_steps(self.recordings[int(event.option.id)]))
