"""Tour exercises: the learner's scratch file, and its test run in a fresh pytest process.

The scratch file is `<state dir>/tour-exercises/<tour id>/<file>` (the state dir of the progress
file; `TORCHATLAS_STATE_DIR` overrides it). It is created once from the exercise's `starter:` and
never overwritten: it is the learner's work.

A test runs in its own `python -m pytest` subprocess (torch is imported there, never here), with
the scratch file's folder first on sys.path, in a temporary folder (nothing is written beside the
learner's file: no bytecode, no pytest cache), and a timeout after which its process group is
killed. `tours check --run` uses the same runner to prove that the starter fails and the solution
passes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .model import Exercise

MAX_LINES = 40

_PREAMBLE = "import sys as _sys\n_sys.path.insert(0, {folder!r})\n"


def scratch_dir(tour_id: str) -> Path:
    from torchatlas.indexes.cache_dir import state_dir
    return state_dir() / "tour-exercises" / tour_id


def scratch_path(tour_id: str, ex: Exercise) -> Path:
    return scratch_dir(tour_id) / ex.file


def ensure_scratch(tour_id: str, ex: Exercise) -> tuple[Path, bool]:
    """The scratch file, created from the starter when missing. (path, created now?)"""
    path = scratch_path(tour_id, ex)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as f:  # never overwrite: a race leaves the other one's file
        f.write(ex.starter)
    return path, True


@dataclass(frozen=True)
class TestRun:
    passed: bool
    output: str  # trimmed to the failing assertion and the summary
    returncode: int | None
    timed_out: bool = False
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"passed": self.passed, "output": self.output, "returncode": self.returncode,
                "timed_out": self.timed_out, "seconds": round(self.seconds, 2)}


def run_test(ex: Exercise, folder: Path, python: str | None = None) -> TestRun:
    """Run the exercise's test against `<folder>/<ex.file>` in a fresh pytest process."""
    python = python or sys.executable
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="torchatlas-exercise-") as tmp:
        test = Path(tmp) / f"test_{ex.module}_exercise.py"
        test.write_text(_PREAMBLE.format(folder=str(folder)) + ex.test, encoding="utf-8")
        (Path(tmp) / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # no ini from above applies
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(folder)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                             if p])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env.pop("PYTHONSTARTUP", None)
        argv = [python, "-m", "pytest", "-q", "--tb=short", "--no-header", "-p", "no:cacheprovider",
                "-c", str(Path(tmp) / "pytest.ini"), "--rootdir", tmp, str(test)]
        try:
            proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", start_new_session=True)
        except OSError as e:
            return TestRun(False, f"[cannot start {python}: {e}]", None)
        try:
            out, _ = proc.communicate(timeout=ex.timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            out, _ = proc.communicate()
            return TestRun(False, trim(out or "") + f"\n[timed out after {ex.timeout:g} s]", None, True,
                           time.monotonic() - t0)
    out = out.replace(str(test), test.name)
    return TestRun(proc.returncode == 0, trim(out), proc.returncode, False, time.monotonic() - t0)


def run_code(ex: Exercise, code: str, python: str | None = None) -> TestRun:
    """Run the test against `code` written as the scratch file in a temporary folder (the starter
    or the solution, for `tours check --run`)."""
    with tempfile.TemporaryDirectory(prefix="torchatlas-exercise-code-") as tmp:
        (Path(tmp) / ex.file).write_text(code, encoding="utf-8")
        return run_test(ex, Path(tmp), python)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):
        proc.kill()


def trim(out: str) -> str:
    """pytest's output cut to what says why: the failing lines (> and E), their file:line, and the
    summary. Short outputs (a passing run, a collection error) are kept as they are."""
    lines = out.rstrip().splitlines()
    if len(lines) <= 15:
        return "\n".join(lines)
    keep = []
    for ln in lines:
        if (ln.startswith(("E ", ">", "FAILED", "ERROR")) or re.match(r"^\S+\.py:\d+: ", ln)
                or re.match(r"^=* ?\d+ (passed|failed|error)", ln) or re.match(r"^_{3,} ", ln)):
            keep.append(ln)
    if len(keep) > MAX_LINES:
        keep = keep[: MAX_LINES - 1] + [f"... ({len(keep) - MAX_LINES + 1} more lines)"]
    return "\n".join(keep) if keep else "\n".join(lines[-MAX_LINES:])


@dataclass(frozen=True)
class ExerciseCheck:
    """`tours check --run` on one exercise: the starter must fail its test, the solution pass it."""

    starter: TestRun
    solution: TestRun

    @property
    def ok(self) -> bool:
        return (not self.starter.passed) and self.solution.passed and not self.starter.timed_out

    @property
    def detail(self) -> str:
        problems = []
        if self.starter.passed:
            problems.append("the starter passes its test (the test proves nothing)")
        elif self.starter.timed_out:
            problems.append("the starter's test timed out")
        if not self.solution.passed:
            last = (self.solution.output.strip().splitlines() or ["(no output)"])[-1]
            problems.append(f"the solution fails its test: {last[:200]}")
        return "; ".join(problems)

    def as_json(self) -> dict:
        return {"ok": self.ok, "detail": self.detail or None, "starter": self.starter.as_json(),
                "solution": self.solution.as_json()}


def verify_exercise(ex: Exercise, python: str | None = None) -> ExerciseCheck:
    return ExerciseCheck(run_code(ex, ex.starter, python), run_code(ex, ex.solution, python))
