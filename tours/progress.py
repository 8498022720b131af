"""Progress per user: which step of each tour was seen last, the answers to its checked questions
and the exercises passed, kept as JSON in the user state dir.

A step is done when it was seen, each of its checked questions was answered right (or its answer
was asked for after trying: `revealed`), and its exercise, if any, passed.

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




DONE_STATES = ("right", "revealed")


@dataclass
class TourProgress:
    step: int = 1  # the step to show next (1-based)
    seen: list[int] = field(default_factory=list)
    finished: bool = False
    updated: float = 0.0
    quiz: dict = field(default_factory=dict)  # "step:question" (1-based) -> {"state", "given", "at"}
    exercises: dict = field(default_factory=dict)  # "step" -> {"passed", "at"}

    def question_state(self, step: int, question: int) -> str:
        """right | wrong | revealed | "" (not answered)."""
        return (self.quiz.get(f"{step}:{question}") or {}).get("state", "")

    def exercise_passed(self, step: int) -> bool:
        return bool((self.exercises.get(str(step)) or {}).get("passed"))

    def step_done(self, step: int, questions: int, has_exercise: bool) -> bool:
        if step not in self.seen:
            return False
        if any(self.question_state(step, k) not in DONE_STATES for k in range(1, questions + 1)):
            return False
        return self.exercise_passed(step) or not has_exercise

    def done_steps(self, tour) -> list[int]:
        return [i for i, s in enumerate(tour.steps, 1) if self.step_done(i, len(s.quiz), s.exercise is not None)]


class Progress:
    def __init__(self, path: Path | None = None):
        self.path = path or state_dir() / FILE
        self.warning = ""
        self.tours: dict[str, TourProgress] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            for tid, d in (data.get("tours") or {}).items():
                self.tours[tid] = TourProgress(step=int(d.get("step", 1)), seen=[int(x) for x in d.get("seen", [])],
                                               finished=bool(d.get("finished")), updated=float(d.get("updated", 0)),
                                               quiz=dict(d.get("quiz") or {}),
                                               exercises=dict(d.get("exercises") or {}))
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

    def record_answer(self, tour_id: str, step: int, question: int, given: str, right: bool,
                      revealed: bool = False) -> None:
        """A right answer stays right; asking for the answer after a wrong one marks it revealed."""
        p = self.tours.setdefault(tour_id, TourProgress())
        key = f"{step}:{question}"
        old = (p.quiz.get(key) or {}).get("state", "")
        state = "right" if right else ("revealed" if revealed else "wrong")
        if old == "right" and state != "right":
            state = "right"
        p.quiz[key] = {"state": state, "given": given, "at": time.time()}
        p.updated = time.time()

    def record_exercise(self, tour_id: str, step: int, passed: bool) -> None:
        p = self.tours.setdefault(tour_id, TourProgress())
        if passed or not p.exercise_passed(step):
            p.exercises[str(step)] = {"passed": passed, "at": time.time()}
        p.updated = time.time()

    def reset(self, tour_id: str) -> None:
        self.tours.pop(tour_id, None)

    def save(self) -> None:
        data = {"version": 1, "tours": {tid: p.__dict__ for tid, p in self.tours.items()}}
        try:
            write_json_atomically(self.path, data)
        except OSError as e:
            self.warning = f"could not save progress to {self.path}: {e}"
