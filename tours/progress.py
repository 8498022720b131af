"""Progress per user: which step of each tour was seen last, kept as JSON in the user state dir.

`TORCHATLAS_STATE_DIR` overrides the folder (tests, shared machines). A missing or unreadable
file is an empty progress, never an error: progress is a convenience.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from torchatlas.indexes.cache_dir import state_dir, write_json_atomically

FILE = "tours-progress.json"




@dataclass
class TourProgress:
    step: int = 1  # the step to show next (1-based)
    seen: list[int] = field(default_factory=list)
    finished: bool = False
    updated: float = 0.0


class Progress:
    def __init__(self, path: Path | None = None):
        self.path = path or state_dir() / FILE
        self.warning = ""
        self.tours: dict[str, TourProgress] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for tid, d in (data.get("tours") or {}).items():
                self.tours[tid] = TourProgress(step=int(d.get("step", 1)), seen=[int(x) for x in d.get("seen", [])],
                                               finished=bool(d.get("finished")), updated=float(d.get("updated", 0)))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError, AttributeError) as e:
            self.warning = f"progress file {self.path} is unreadable ({e}); starting afresh"

    def get(self, tour_id: str) -> TourProgress:
        return self.tours.get(tour_id) or TourProgress()

    def mark_seen(self, tour_id: str, step: int, total: int) -> TourProgress:
        p = self.tours.setdefault(tour_id, TourProgress())
        if step not in p.seen:
            p.seen = sorted(p.seen + [step])
        p.step = step + 1 if step < total else step
        p.finished = p.finished or len(set(p.seen)) >= total
        p.updated = time.time()
        return p

    def reset(self, tour_id: str) -> None:
        self.tours.pop(tour_id, None)

    def save(self) -> None:
        data = {"version": 1, "tours": {tid: p.__dict__ for tid, p in self.tours.items()}}
        try:
            write_json_atomically(self.path, data)
        except OSError as e:
            self.warning = f"could not save progress to {self.path}: {e}"
