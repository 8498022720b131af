"""The built-in tours against real sources: every step resolves on the installed torch (steps that
need a checkout show what the package ships, or are skipped there with a GitHub link, and only
those) and on the full v2.6.0 tree; every `run:` snippet runs, every `check: assert:` holds, every
quiz answer is proved and every exercise's starter fails and solution passes on the installed
torch; the CLI plays and checks.

The tree's index is built once per test session and shared by the xdist workers (the index lock
serialises them; the second finds it up to date)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from torchatlas.tours.anchors import AnchorContext
from torchatlas.tours.engine import check_tours, prove_exercises, prove_pictures, prove_quizzes, snippet_jobs, summarize
from torchatlas.tours.loader import load_catalog
from torchatlas.tours.pictures import picture_jobs
from torchatlas.tours.runner import missing_modules, needs_note, run_snippets

BUILTIN = load_catalog(builtin=True, user=False)
TOUR_IDS = list(BUILTIN.tours)


def _context(db):
    from torchatlas.indexes.store import Index
    return AnchorContext.of(Index(db))


def _describe(reports):
    return "\n".join(f"{r.tour} step {r.number} ({r.step.title}): {r.resolution.status}: {r.resolution.reason} "
                     f"candidates={list(r.resolution.candidates)}" for r in reports
                     if r.resolution.status == "unresolved")


@pytest.mark.live
def test_installed_torch_every_step_resolves_and_the_cli_plays(installed_db, tmp_path):
    # One test for everything that needs the installed index, so that one xdist worker builds it.
    _every_step_resolves_on_the_installed_torch(installed_db)
    _cli_check_and_show_on_the_installed_torch(installed_db, tmp_path)


def _every_step_resolves_on_the_installed_torch(installed_db):
    ctx = _context(installed_db)
    reports = check_tours(BUILTIN.ordered(), ctx)
    counts = summarize(reports)
    assert counts["unresolved"] == 0, _describe(reports)
    for r in reports:
        res = r.resolution
        if res.status == "skipped":  # the package has no .cpp files, or the step is for other versions
            assert r.step.requires == "checkout" or res.reason.startswith("applies to torch"), (r.tour, r.number)
            if r.step.requires == "checkout":
                assert res.link.startswith("https://github.com/pytorch/pytorch/"), (r.tour, r.number, res.link)
        elif r.step.requires == "checkout":  # an alternative resolves in what the package ships
            assert "installed package" in res.reason, (r.tour, r.number)
    assert counts["resolved_pct"] == 100.0 and counts["resolved"] >= 80


@pytest.mark.source
def test_every_step_resolves_on_the_source_tree(tree_db):
    ctx = _context(tree_db)
    assert ctx.layout == "checkout" and ctx.version.startswith("2.6")
    reports = check_tours(BUILTIN.ordered(), ctx)
    counts = summarize(reports)
    assert counts["unresolved"] == 0 and counts["skipped"] == 0, _describe(reports)


@pytest.mark.source
def test_excerpts_show_the_anchor_line_on_the_tree(tree_db):
    ctx = _context(tree_db)
    for r in check_tours([BUILTIN.tours["dispatch"], BUILTIN.tours["autograd"]], ctx, with_excerpts=True):
        ex = r.excerpt
        assert ex is not None and ex.lines, (r.tour, r.number)
        assert any(n == ex.anchor_line for n, _ in ex.lines)


def _needs(tour) -> None:
    """Skip, naming what to install, when the tour's `needs:` are missing (the labs extra has them;
    CI installs it, so there these tests run)."""
    missing = missing_modules(tour.needs)
    if missing:
        pytest.skip(needs_note(tour.id, missing) + " (pip install -e '.[labs]' installs them)")


@pytest.mark.live
@pytest.mark.parametrize("tour_id", TOUR_IDS)
def test_quiz_answers_and_exercises_hold_on_the_installed_torch(tour_id, installed_source):
    tour = BUILTIN.tours[tour_id]
    _needs(tour)
    quiz = prove_quizzes([tour], python=sys.executable)
    failed = [f"step {i} question {q.number} ({q.kind}): {q.detail}" for (_t, i), qs in quiz.items() for q in qs
              if not q.ok]
    exercises = prove_exercises([tour], python=sys.executable)
    failed += [f"step {i} exercise: {c.detail}\n{c.solution.output[-1500:]}" for (_t, i), c in exercises.items()
               if not c.ok]
    assert not failed, "\n".join(failed)
    assert sum(len(qs) for qs in quiz.values()) == tour.questions and len(exercises) == tour.exercises


@pytest.mark.live
@pytest.mark.parametrize("tour_id", TOUR_IDS)
def test_snippets_run_and_assertions_hold_on_the_installed_torch(tour_id, installed_source):
    tour = BUILTIN.tours[tour_id]
    _needs(tour)
    jobs = snippet_jobs(tour)
    assert jobs, f"{tour_id} has no snippets"
    results = prove_pictures(run_snippets(jobs + picture_jobs(tour), python=sys.executable))
    failed = {k: r.output[-1500:] for k, r in results.items() if not r.ok}
    assert not failed, "\n\n".join(f"{k}:\n{v}" for k, v in failed.items())


def _cli_check_and_show_on_the_installed_torch(installed_db, tmp_path):
    env_state = {"TORCHATLAS_STATE_DIR": str(tmp_path / "state")}
    import os
    env = {**os.environ, **env_state}
    env.pop("TORCHATLAS_TOURS_PATH", None)
    run = lambda *a: subprocess.run([sys.executable, "-m", "torchatlas.cli", "tours", *a, "--db", str(installed_db)],
                                    capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    check = run("check", "--json")
    assert check.returncode == 0, check.stderr
    data = json.loads(check.stdout)
    assert data["summary"]["unresolved"] == 0 and data["errors"] == []
    assert {t["id"] for t in data["tours"]} >= set(TOUR_IDS)
    text = run("check", "dispatch")
    assert text.returncode == 0
    dispatch = next(t for t in data["tours"] if t["id"] == "dispatch")
    skipped = [s["step"] for s in dispatch["steps"] if s["status"] == "skipped"]
    if skipped:
        assert "needs a checkout" in text.stdout
    shown = run("show", "dispatch", "--step", "6")
    assert shown.returncode == 0, shown.stderr
    assert "step 6 of" in shown.stdout and "Dispatcher::call" in shown.stdout
    assert any(line.lstrip().startswith("> ") and "Dispatcher::call(" in line for line in shown.stdout.splitlines())
    if skipped:
        shown = run("show", "dispatch", "--step", str(skipped[0]), "--no-run")
        assert shown.returncode == 0 and "skipped here" in shown.stdout and "github.com/pytorch/pytorch" in shown.stdout
