"""Verify a workspace: build what the lab's mode needs, then run its checks; one verdict.

A build that fails is the learner's to fix: its diagnostics (the compiler's or torchgen's own
message at the learner's file:line) become the first verdict, and the checks are reported as not
run rather than as failures they did not cause.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import builders, checks
from .model import CheckResult, Lab, LabVerdict


def verify(lab: Lab, root: Path, *, progress=None, on_result=None, only_visible: bool = False) -> LabVerdict:
    start = time.monotonic()
    say = progress or (lambda msg: None)
    warm = None
    if lab.mode.value != "python":
        say(f"building ({lab.mode.value})")
        group = tuple(c for c in lab.checks if not (only_visible and c.hidden))
        warm = checks.WarmChecks(lab, Path(root), group)  # imports torch while the compiler works
    try:
        return _verify(lab, Path(root), say, progress, on_result, only_visible, warm, start)
    finally:
        if warm is not None:
            warm.close()


def _verify(lab, root, say, progress, on_result, only_visible, warm, start) -> LabVerdict:
    result = builders.build(lab, root, progress=progress)
    results: list[CheckResult] = []
    if lab.mode.value != "python":
        results.append(_build_result(result))
        if on_result:
            on_result(results[-1])
    if not result.ok:
        for c in lab.checks:
            if only_visible and c.hidden:
                continue
            r = CheckResult(Path(c.file).stem, False, "not run: the build failed", hidden=c.hidden)
            results.append(r)
            if on_result:
                on_result(r)
        return LabVerdict(lab.id, tuple(results), time.monotonic() - start)
    say("running the checks")
    results += checks.run_checks(lab, root, result.env(), only_visible=only_visible, on_result=on_result, warm=warm)
    return LabVerdict(lab.id, tuple(results), time.monotonic() - start)


def _build_result(result) -> CheckResult:
    if result.ok:
        what = "up to date" if result.cached else f"built in {result.seconds:.1f} s"
        return CheckResult("build", True, f"{result.mode}: {what}" + (f"\n{result.summary}" if result.summary else ""),
                           seconds=result.seconds)
    shown = [str(d) for d in result.diagnostics if d.severity == "error"][:8] or \
        [str(d) for d in result.diagnostics][:8]
    message = "\n".join(shown) if shown else (result.summary or _tail(result.log))
    return CheckResult("build", False, message, seconds=result.seconds)


def _tail(log: str, n: int = 15) -> str:
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:]) or "the build failed without a message"
