"""Rehearsals recorded: each step (what was done, its result) and what the bot said, as JSON history.

`pr rehearse --json` prints one recording; the explorer lists the history folder. Every text is
scrubbed of the secrets the recorder was given before it reaches memory or disk, so a recording
can be shared as it is.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .store import read_json, write_json


@dataclass(frozen=True)
class Step:
    at: str
    action: str  # "push" | "open_pull" | "comment" | "label" | "review" | "checks" | "merge" | ...
    detail: str
    ok: bool = True
    bot: str = ""  # what the bot answered, when it did
    seconds: float = 0.0


@dataclass
class Recorder:
    path: Path
    secrets: tuple[str, ...] = ()
    title: str = ""
    steps: list[Step] = field(default_factory=list)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text

    def step(self, action: str, detail: str, *, ok: bool = True, bot: str = "", seconds: float = 0.0) -> Step:
        s = Step(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), action, self._scrub(detail), ok,
                 self._scrub(bot), round(seconds, 3))
        self.steps.append(s)
        self.save()
        return s

    def as_json(self) -> dict:
        return {"title": self._scrub(self.title), "started": self.started,
                "steps": [asdict(s) for s in self.steps],
                "ok": all(s.ok for s in self.steps)}

    def save(self) -> None:
        write_json(Path(self.path), self.as_json())


def history(folder: Path) -> list[dict]:
    """Every recording in `folder`, oldest first (unreadable ones named, not fatal)."""
    out = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            data = read_json(path, None)
        except Exception as e:  # a damaged recording is listed as such, the others still show
            data = {"title": path.name, "error": str(e), "steps": []}
        if isinstance(data, dict):
            out.append({**data, "file": path.name})
    return out


def dumps(recording: dict) -> str:
    return json.dumps(recording, indent=2)
