"""The checks a push to a pull request runs: a pluggable `Checker`, its results posted as statuses.

The server knows nothing of lint or tests: `contrib/pr` hands it a checker (lint + the tests the
change selects). A checker gets the bare repository and the head commit and returns one
`CheckRun` per check; the summary is what a learner reads (file:line for lint, the failing test's
name), so it should say what was expected and where to look. A checker that raises becomes one
failing run that names the exception, never a silent green.
"""

from __future__ import annotations

import subprocess
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CONCLUSIONS = ("success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required")
PASSING = ("success", "neutral", "skipped")


@dataclass(frozen=True)
class CheckRun:
    name: str
    conclusion: str  # one of CONCLUSIONS
    summary: str = ""

    def __post_init__(self):
        if self.conclusion not in CONCLUSIONS:
            raise ValueError(f"check {self.name!r}: conclusion {self.conclusion!r} is not one of {CONCLUSIONS}")

    @property
    def state(self) -> str:
        """The commit-status state GitHub gives this conclusion."""
        return "success" if self.conclusion in PASSING else "failure"


Checker = Callable[[Path, str], "list[CheckRun]"]


def _default_base(repo: Path, head: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(repo), "merge-base", "HEAD", head], capture_output=True, text=True)
    return proc.stdout.strip() or None


def diff_check(repo: Path, head: str) -> list[CheckRun]:
    """`git diff --check` between the default branch and the head: whitespace errors as file:line."""
    base = _default_base(repo, head)
    if base is None:
        return [CheckRun("lint: whitespace", "neutral", "no common history with the default branch")]
    proc = subprocess.run(["git", "-C", str(repo), "diff", "--check", f"{base}..{head}"],
                          capture_output=True, text=True)
    findings = [line for line in proc.stdout.splitlines() if not line.startswith(("+", "-"))]
    if proc.returncode == 0:
        return [CheckRun("lint: whitespace", "success", "no whitespace errors in the change")]
    return [CheckRun("lint: whitespace", "failure",
                     "\n".join(findings[:50]) or proc.stderr.strip() or "git diff --check failed")]


def run_checker(checker: Checker, repo: Path, head: str) -> list[CheckRun]:
    try:
        runs = list(checker(repo, head))
    except Exception as e:  # a broken checker is a red check that says so, not a crashed server
        where = traceback.extract_tb(e.__traceback__)[-1]
        return [CheckRun("checks", "failure", f"the checker raised {type(e).__name__}: {e} "
                                              f"({where.filename}:{where.lineno})")]
    bad = [r for r in runs if not isinstance(r, CheckRun)]
    if bad:
        return [CheckRun("checks", "failure", f"the checker returned {type(bad[0]).__name__}, not CheckRun")]
    return runs
