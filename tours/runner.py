"""Run tour snippets (`run:`) and assertions (`check: assert:`) with the installed torch.

Never in this process: torchatlas does not import torch. A worker subprocess imports torch once,
then runs each snippet in a fork of itself, so snippets start in ~10 ms instead of ~2 s and none
can leak state (grad mode, anomaly mode, a monkeypatch) into the next. Each fork has a timeout
(SIGALRM); its stdout and stderr are captured together, in order. A snippet that raises is not
an error of the tour: its traceback is its output, and the tour goes on.

Where fork is unavailable (Windows), each snippet runs in a fresh `python -c` instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .model import RunResult

MAX_OUTPUT = 20_000

_WORKER = r'''
import io, json, os, signal, sys, tempfile, time, traceback
try:
    import torch  # noqa: F401 - imported once; every snippet runs in a fork that inherits it
except Exception:
    pass
jobs = json.loads(sys.stdin.read())
results = []
for job in jobs:
    sys.stdout.flush(); sys.stderr.flush()
    fd, name = tempfile.mkstemp(prefix="torchatlas-snippet-")
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.dup2(fd, 1); os.dup2(fd, 2)
            stream = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="replace",
                                      write_through=True)
            sys.stdout = sys.stderr = stream
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(max(1, int(job["timeout"])))
            try:
                exec(compile(job["code"], "<snippet>", "exec"), {"__name__": "__main__"})
                code = 0
            except SystemExit as e:
                if e.code is None or isinstance(e.code, int):
                    code = e.code or 0
                else:
                    print(e.code)
                    code = 1
            except BaseException:
                et, ev, tb = sys.exc_info()
                traceback.print_exception(et, ev, tb.tb_next if tb is not None else None)
                code = 1
            stream.flush()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    seconds = time.monotonic() - t0
    os.close(fd)
    with open(name, encoding="utf-8", errors="replace") as f:
        out = f.read()
    os.unlink(name)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -sig
    results.append({"returncode": rc, "timed_out": sig == signal.SIGALRM, "output": out, "seconds": seconds})
sys.stdout.write(json.dumps(results))
'''


@dataclass(frozen=True)
class Job:
    key: str
    code: str
    timeout: float = 60.0


def _trim(text: str) -> str:
    if len(text) > MAX_OUTPUT:
        return text[:MAX_OUTPUT] + f"\n... ({len(text) - MAX_OUTPUT} more characters)"
    return text


def _result(d: dict, timeout: float) -> RunResult:
    out = _trim(d["output"])
    if d["timed_out"]:
        out += f"\n[timed out after {timeout:g} s]"
    elif d["returncode"] < 0:
        out += f"\n[killed by signal {-d['returncode']}]"
    return RunResult(ok=d["returncode"] == 0, output=out, returncode=d["returncode"], timed_out=d["timed_out"],
                     seconds=d["seconds"])


def _run_batch(jobs: list[Job], python: str) -> dict[str, RunResult]:
    if not hasattr(os, "fork"):
        return {j.key: _run_plain(j, python) for j in jobs}
    budget = sum(j.timeout for j in jobs) + 60
    with tempfile.TemporaryDirectory(prefix="torchatlas-run-") as cwd:
        try:
            proc = subprocess.run([python, "-c", _WORKER], input=json.dumps([j.__dict__ for j in jobs]),
                                  capture_output=True, text=True, timeout=budget, cwd=cwd, env=_env())
        except subprocess.TimeoutExpired:
            return {j.key: RunResult(False, f"[the snippet runner timed out after {budget:g} s]", None, True)
                    for j in jobs}
        except OSError as e:
            return {j.key: RunResult(False, f"[cannot start {python}: {e}]", None) for j in jobs}
    try:
        raw = json.loads(proc.stdout)
    except ValueError:
        msg = (proc.stderr or proc.stdout).strip()[-4000:]
        return {j.key: RunResult(False, f"[the snippet runner failed (exit {proc.returncode})]\n{msg}",
                                 proc.returncode) for j in jobs}
    return {j.key: _result(d, j.timeout) for j, d in zip(jobs, raw)}


def _run_plain(job: Job, python: str) -> RunResult:
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="torchatlas-run-") as cwd:
        try:
            proc = subprocess.run([python, "-c", job.code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=job.timeout, cwd=cwd, env=_env())
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            return RunResult(False, _trim(out) + f"\n[timed out after {job.timeout:g} s]", None, True,
                             time.monotonic() - t0)
    return RunResult(proc.returncode == 0, _trim(proc.stdout), proc.returncode, False, time.monotonic() - t0)


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.pop("PYTHONSTARTUP", None)
    return env


def run_snippets(jobs: list[Job], python: str | None = None, workers: int = 1) -> dict[str, RunResult]:
    """Run every job; `workers` worker processes share them. Returns {job.key: RunResult}."""
    python = python or sys.executable
    if not jobs:
        return {}
    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        return _run_batch(jobs, python)
    batches = [jobs[i::workers] for i in range(workers)]
    out: dict[str, RunResult] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(lambda b: _run_batch(b, python), batches):
            out.update(part)
    return out


def run_snippet(code: str, timeout: float = 60.0, python: str | None = None) -> RunResult:
    return run_snippets([Job("snippet", code, timeout)], python)["snippet"]


_FIND_SPECS = "import importlib.util, json, sys\nprint(json.dumps([m for m in json.loads(sys.argv[1]) if importlib.util.find_spec(m) is None]))"


def missing_modules(modules: tuple[str, ...] | list[str], python: str | None = None) -> tuple[str, ...]:
    """Which of `modules` (a tour's `needs:`) the Python that runs the snippets cannot import,
    asked of that Python (find_spec: a top-level module is not imported; a dotted one imports its
    parent package). Why: a tour whose snippets need
    onnxscript would otherwise fail on every step with a ModuleNotFoundError traceback."""
    if not modules:
        return ()
    try:
        p = subprocess.run([python or sys.executable, "-c", _FIND_SPECS, json.dumps(list(modules))],
                           capture_output=True, text=True, timeout=60)
        return tuple(json.loads(p.stdout)) if p.returncode == 0 else tuple(modules)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return tuple(modules)


def needs_note(tour_id: str, missing: tuple[str, ...], python: str | None = None) -> str:
    """What to say when a tour's snippets cannot run here: which modules, and the install command."""
    return (f"tour {tour_id!r} runs code that imports {', '.join(missing)}, which {python or sys.executable} "
            f"cannot import: its snippets, quizzes and exercises are not run. Install with: "
            f"{python or sys.executable} -m pip install {' '.join(missing)}")
