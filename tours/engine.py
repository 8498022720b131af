"""Check tours against a source, and prepare steps for playing: resolve anchors, run snippets.

`check_tours` is what `torchatlas tours check` and the tests use: every step of every tour is
resolved / unresolved / skipped (needs a checkout, or another torch version), with the reason, and
the identifiers its narrative names in backquotes that its excerpt does not show (a warning). With
`run=True` each `run:` snippet and `check: assert:` also runs on the installed torch, every checked
question's answer is proved (quiz.verify_questions) and every exercise's starter must fail its test
and its solution pass (exercises.verify_exercise).
"""

from __future__ import annotations

import difflib
import keyword
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from .anchors import AnchorContext, Excerpt, excerpt
from .exercises import ExerciseCheck, verify_exercise
from .model import Resolution, RunResult, Step, Tour
from .quiz import QuestionCheck, verify_questions
from .pictures import dot_of, picture_jobs
from .runner import Job, run_snippets
from .showing import resolve as resolve_step


@dataclass(frozen=True)
class StepReport:
    tour: str
    number: int  # 1-based
    step: Step
    resolution: Resolution
    excerpt: Excerpt | None = None
    run: RunResult | None = None
    assertion: RunResult | None = None
    questions: tuple[QuestionCheck, ...] = ()  # check --run: each quiz answer proved (or not)
    exercise: ExerciseCheck | None = None  # check --run: starter fails, solution passes
    missing: tuple[str, ...] = ()  # identifiers the narrative names in backquotes, absent from the excerpt
    picture: RunResult | None = None  # check --run: the step's picture snippet (ok = it printed DOT)

    @property
    def run_failed(self) -> bool:
        return ((self.run is not None and not self.run.ok) or (self.assertion is not None and not self.assertion.ok)
                or any(not q.ok for q in self.questions) or (self.exercise is not None and not self.exercise.ok)
                or (self.picture is not None and not self.picture.ok))

    def as_json(self) -> dict:
        d = {"tour": self.tour, "step": self.number, "title": self.step.title, **self.resolution.as_json(),
             "requires": self.step.requires, "since": self.step.since, "until": self.step.until,
             "questions": len(self.step.quiz), "has_exercise": self.step.exercise is not None,
             "missing_identifiers": list(self.missing)}
        if self.run is not None:
            d["run"] = self.run.as_json()
        if self.assertion is not None:
            d["assert"] = self.assertion.as_json()
        if self.questions:
            d["quiz"] = [q.as_json() for q in self.questions]
        if self.exercise is not None:
            d["exercise"] = self.exercise.as_json()
        if self.picture is not None:
            d["picture"] = self.picture.as_json()
        return d


_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_IDENT = re.compile(r"^[A-Za-z_~][\w:.<>~ ]*$")
_NOT_CODE = {"True", "False", "None", "self", "cls"}


def named_identifiers(narrative: str) -> list[str]:
    """The code identifiers a narrative names in backquotes: `computeDispatchTable`,
    `kernel.template call`, `at::native::add_out()` (values, shell commands and expressions aside)."""
    out: list[str] = []
    for span in _CODE_SPAN.findall(narrative):
        s = re.sub(r"\((\.\.\.)?\)$", "", span.strip())
        if (len(s) < 3 or len(s) > 60 or s in _NOT_CODE or keyword.iskeyword(s) or not _IDENT.match(s)
                or len(s.split()) > 3 or s.startswith(("torchatlas ", "pip ", "python ")) or s in out):
            continue
        if not re.search(r"[A-Za-z]{2}", s):
            continue
        out.append(s)
    return out


_FILE_NAME = re.compile(r"\.(py|pyi|cpp|cc|cu|cuh|h|hpp|so|yaml|yml|txt|md|json|toml|in)$")


def _shows(name: str, text: str) -> bool:
    last = re.split(r"::|\.", name)[-1].strip()
    return name in text or (len(last) >= 3 and last in text)


def missing_identifiers(step: Step, ex: Excerpt | None, definition: list[str] | None = None) -> tuple[str, ...]:
    """The names of `named_identifiers` that the excerpt does not show (neither whole nor by their
    last . or :: component) although the anchored definition (`definition`: its lines) has them: the
    excerpt is cut before (or after) what the narrative discusses. Names the definition does not
    have either (other files, concepts), the step's own snippet's and file names are not asked for."""
    if ex is None:
        return ()
    text = "\n".join(t for _ln, t in ex.lines)
    whole = "\n".join(definition) if definition is not None else None
    missing = []
    for name in named_identifiers(step.narrative):
        if _FILE_NAME.search(name) or _shows(name, text) or name in (step.run or ""):
            continue
        if whole is not None and not _shows(name, whole):
            continue
        missing.append(name)
    return tuple(missing)


def version_note(tour: Tour, version: str) -> str:
    """A warning when the tour was not checked on this version (it still runs)."""
    if not version or tour.checked_on_version(version):
        return ""
    return (f"tour {tour.id!r} was checked on torch {', '.join(tour.checked_on)}; this source is torch {version}. "
            "Anchors resolve by name, so most steps should still work; narratives may describe another version.")


def snippet_jobs(tour: Tour, numbers: list[int] | None = None) -> list[Job]:
    jobs = []
    for i, s in enumerate(tour.steps, 1):
        if numbers is not None and i not in numbers:
            continue
        if s.run:
            jobs.append(Job(f"{tour.id}:{i}:run", s.run, s.timeout))
        if s.check and s.check.assertion:
            jobs.append(Job(f"{tour.id}:{i}:assert", s.check.assertion, s.timeout))
    return jobs


def check_tours(tours: list[Tour], ctx: AnchorContext | None, run: bool = False, workers: int = 1,
                python: str | None = None, with_excerpts: bool = True,
                not_run: frozenset[str] = frozenset()) -> list[StepReport]:
    """Resolve every step of every tour on `ctx` (None: resolve nothing, only run snippets); with
    `run`, also run the snippets and assertions and prove the quizzes and exercises, except those
    of the tours in `not_run` (whose `needs:` are missing here)."""
    results: dict[str, RunResult] = {}
    quiz: dict[tuple[str, int], list[QuestionCheck]] = {}
    exercises: dict[tuple[str, int], ExerciseCheck] = {}
    if run:
        runnable = [t for t in tours if t.id not in not_run]
        jobs = [j for t in runnable for j in snippet_jobs(t) + picture_jobs(t)]
        results = prove_pictures(run_snippets(jobs, python=python, workers=workers))
        quiz = prove_quizzes(runnable, python=python, workers=workers)
        exercises = prove_exercises(runnable, python=python, workers=workers)
    out = []
    for t in tours:
        for i, s in enumerate(t.steps, 1):
            res = resolve_step(s, ctx) if ctx is not None else Resolution("skipped", "no source", s.anchors[0])
            ex = excerpt(res, ctx) if (with_excerpts and ctx is not None) else None
            out.append(StepReport(t.id, i, s, res, ex, results.get(f"{t.id}:{i}:run"),
                                  results.get(f"{t.id}:{i}:assert"), tuple(quiz.get((t.id, i), ())),
                                  exercises.get((t.id, i)), missing_identifiers(s, ex, _around(res, ctx)),
                                  results.get(f"{t.id}:{i}:picture")))
    return out


def prove_pictures(results: dict[str, RunResult]) -> dict[str, RunResult]:
    """A picture snippet passes when it ran AND printed DOT (a snippet that prints nothing draws nothing)."""
    out = dict(results)
    for key, r in results.items():
        if key.endswith(":picture") and r.ok and dot_of(r.output) is None:
            out[key] = replace(r, ok=False, output=r.output + "\n(the picture snippet printed no DOT: call "
                                                           "draw_autograd / draw_modules / draw_chain, or print a digraph)")
    return out


AROUND = 150  # lines after the anchor line taken as "its definition" when the index knows no end


def _around(res: Resolution, ctx: AnchorContext | None) -> list[str] | None:
    """The anchored definition's lines (its extent in the index, else the next AROUND lines)."""
    if ctx is None or res.status != "resolved" or not res.path:
        return None
    lines = ctx.lines(res.path) or []
    end = res.end_line if res.end_line > res.line else res.line + AROUND
    return lines[max(res.line - 1 - 20, 0): end]


def prove_quizzes(tours: list[Tour], python: str | None = None,
                  workers: int = 1) -> dict[tuple[str, int], list[QuestionCheck]]:
    """Every checked question of every tour, proved in one batch of snippet runs."""
    where = [(t.id, i, s) for t in tours for i, s in enumerate(t.steps, 1) for _q in s.quiz]
    questions = [q for t in tours for s in t.steps for q in s.quiz]
    if not questions:
        return {}
    checks = verify_questions(questions, python=python, workers=workers)
    out: dict[tuple[str, int], list[QuestionCheck]] = {}
    for (tid, i, s), c in zip(where, checks):
        k = len(out.setdefault((tid, i), [])) + 1
        out[(tid, i)].append(QuestionCheck(k, c.kind, c.ok, c.detail))
    return out


def prove_exercises(tours: list[Tour], python: str | None = None,
                    workers: int = 1) -> dict[tuple[str, int], ExerciseCheck]:
    """Every exercise: its starter must fail and its solution pass, each in a fresh pytest process."""
    todo = [((t.id, i), s.exercise) for t in tours for i, s in enumerate(t.steps, 1) if s.exercise is not None]
    if not todo:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
        checks = list(pool.map(lambda item: verify_exercise(item[1], python), todo))
    return {key: c for (key, _ex), c in zip(todo, checks)}


def play_steps(tour: Tour, numbers: list[int], ctx: AnchorContext, run: bool = True,
               python: str | None = None) -> list[StepReport]:
    """The steps to show, resolved, with their excerpts and (with `run`) their snippets' output."""
    results = run_snippets(snippet_jobs(tour, numbers), python=python) if run else {}
    out = []
    for i in numbers:
        s = tour.steps[i - 1]
        res = resolve_step(s, ctx)
        out.append(StepReport(tour.id, i, s, res, excerpt(res, ctx), results.get(f"{tour.id}:{i}:run"),
                              results.get(f"{tour.id}:{i}:assert")))
    return out


def suggest_tours(query: str, ids: list[str], titles: dict[str, str]) -> list[str]:
    close = difflib.get_close_matches(query, ids, n=3, cutoff=0.5)
    q = query.lower()
    close += [i for i in ids if i not in close and (q in i or q in titles.get(i, "").lower())]
    return close[:5]


def summarize(reports: list[StepReport]) -> dict:
    counts = {"steps": len(reports), "resolved": 0, "unresolved": 0, "skipped": 0}
    for r in reports:
        counts[r.resolution.status] += 1
    ran = [r for r in reports if r.run is not None or r.assertion is not None]
    if ran:
        counts["snippets_run"] = sum((r.run is not None) + (r.assertion is not None) for r in ran)
        counts["snippets_failed"] = sum((r.run is not None and not r.run.ok) +
                                        (r.assertion is not None and not r.assertion.ok) for r in ran)
    counts["questions"] = sum(len(r.step.quiz) for r in reports)
    counts["exercises"] = sum(r.step.exercise is not None for r in reports)
    if any(r.questions for r in reports):
        counts["questions_failed"] = sum(not q.ok for r in reports for q in r.questions)
    if any(r.exercise is not None for r in reports):
        counts["exercises_failed"] = sum(r.exercise is not None and not r.exercise.ok for r in reports)
    pictures = [r.picture for r in reports if r.picture is not None]
    if pictures:
        counts["pictures"] = len(pictures)
        counts["pictures_failed"] = sum(not p.ok for p in pictures)
    counts["missing_identifier_warnings"] = sum(len(r.missing) for r in reports)
    applicable = counts["resolved"] + counts["unresolved"]
    counts["resolved_pct"] = round(100.0 * counts["resolved"] / applicable, 1) if applicable else 100.0
    return counts
