"""Check tours against a source, and prepare steps for playing: resolve anchors, run snippets.

`check_tours` is what `torchatlas tours check` and the tests use: every step of every tour is
resolved / unresolved / skipped (needs a checkout), with the reason; with `run=True` each `run:`
snippet and each `check: assert:` also runs on the installed torch.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .anchors import AnchorContext, Excerpt, excerpt, resolve_step
from .model import Resolution, RunResult, Step, Tour
from .runner import Job, run_snippets


@dataclass(frozen=True)
class StepReport:
    tour: str
    number: int  # 1-based
    step: Step
    resolution: Resolution
    excerpt: Excerpt | None = None
    run: RunResult | None = None
    assertion: RunResult | None = None

    @property
    def run_failed(self) -> bool:
        return (self.run is not None and not self.run.ok) or (self.assertion is not None and not self.assertion.ok)

    def as_json(self) -> dict:
        d = {"tour": self.tour, "step": self.number, "title": self.step.title, **self.resolution.as_json(),
             "requires": self.step.requires}
        if self.run is not None:
            d["run"] = self.run.as_json()
        if self.assertion is not None:
            d["assert"] = self.assertion.as_json()
        return d


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
                python: str | None = None, with_excerpts: bool = False) -> list[StepReport]:
    """Resolve every step of every tour on `ctx` (None: resolve nothing, only run snippets)."""
    results: dict[str, RunResult] = {}
    if run:
        jobs = [j for t in tours for j in snippet_jobs(t)]
        results = run_snippets(jobs, python=python, workers=workers)
    out = []
    for t in tours:
        for i, s in enumerate(t.steps, 1):
            res = resolve_step(s, ctx) if ctx is not None else Resolution("skipped", "no source", s.anchors[0])
            ex = excerpt(res, ctx) if (with_excerpts and ctx is not None) else None
            out.append(StepReport(t.id, i, s, res, ex, results.get(f"{t.id}:{i}:run"),
                                  results.get(f"{t.id}:{i}:assert")))
    return out


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
    applicable = counts["resolved"] + counts["unresolved"]
    counts["resolved_pct"] = round(100.0 * counts["resolved"] / applicable, 1) if applicable else 100.0
    return counts
