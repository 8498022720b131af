"""`lab dev check`: prove a lab honest. In a throwaway workspace: the starter must fail its checks,
the reference solution must pass them, and the solution with any one of its hunks left out must
fail (a partial solution is not a pass). A lab whose checks need a missing library is skipped,
with the reason, never silently.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import patchfile
from .model import Lab, LabVerdict
from .runner import verify
from .workspace import (PatchDoesNotApply, WorkspaceError, apply_patch, check_root, create_workspace,
                        remove_checkout_workspace, reset_workspace)


@dataclass(frozen=True)
class Stage:
    name: str  # "starter", "solution", "solution without <file> hunk k/n (line L)"
    expect_pass: bool
    verdict: LabVerdict | None
    problem: str = ""  # set when the stage could not run (a patch that does not apply)

    @property
    def ok(self) -> bool:
        if self.problem or self.verdict is None:
            return False
        return self.verdict.passed == self.expect_pass

    def why(self) -> str:
        if self.problem:
            return self.problem
        if self.ok:
            return ""
        if self.expect_pass:
            bad = [r for r in self.verdict.results if not r.passed]
            return "expected every check to pass; failing: " + "; ".join(
                f"{r.name}: {r.message.splitlines()[0] if r.message else ''}" for r in bad[:3])
        return "expected a check to fail, but every check passed"

    def to_json(self) -> dict:
        return {"stage": self.name, "expect": "pass" if self.expect_pass else "fail", "ok": self.ok,
                "why": self.why(), "seconds": round(self.verdict.seconds, 2) if self.verdict else 0,
                "checks": [r.to_json() for r in self.verdict.results] if self.verdict else []}


@dataclass(frozen=True)
class DevReport:
    lab: str
    stages: tuple[Stage, ...]
    seconds: float
    skipped: str = ""  # why the lab could not be checked here

    @property
    def ok(self) -> bool:
        return not self.skipped and bool(self.stages) and all(s.ok for s in self.stages)

    def to_json(self) -> dict:
        return {"lab": self.lab, "ok": self.ok, "skipped": self.skipped, "seconds": round(self.seconds, 1),
                "stages": [s.to_json() for s in self.stages]}


def missing_requirements(lab: Lab) -> list[str]:
    return [m for m in lab.requires if importlib.util.find_spec(m) is None]


def install_hint(lab: Lab, missing: list[str]) -> str:
    """Why a lab cannot be checked here and what to install: the lab's own extra when it names one
    (lab.yaml `extra:`), else the `labs` extra that unions them all."""
    extra = lab.extra or "labs"
    return f"needs {', '.join(missing)}: pip install -e '.[{extra}]'"


def dev_check(lab: Lab, source, *, partial: bool = True, workdir: Path | None = None, on_stage=None) -> DevReport:
    start = time.monotonic()
    missing = missing_requirements(lab)
    if missing:
        return DevReport(lab.id, (), 0.0, skipped=install_hint(lab, missing))
    try:
        solution = patchfile.parse(lab.solution_patch.read_text(encoding="utf-8"))
    except (OSError, patchfile.PatchError) as e:
        return DevReport(lab.id, (Stage("solution.patch", True, None, problem=f"unreadable: {e}"),), 0.0)
    tmp = Path(tempfile.mkdtemp(prefix=f"torchatlas-dev-{lab.id}-", dir=workdir))
    stages: list[Stage] = []
    ws = None

    def add(stage: Stage) -> None:
        stages.append(stage)
        if on_stage:
            on_stage(stage)

    try:
        try:
            # a branch of its own on a checkout: a learner's `torchatlas/lab/<id>` stays untouched
            ws = create_workspace(lab, source, tmp / "ws", branch=f"torchatlas/dev/{lab.id}-{os.getpid()}")
        except WorkspaceError as e:
            add(Stage("starter", False, None, problem=f"the starter does not apply: {e}"))
            return DevReport(lab.id, tuple(stages), time.monotonic() - start)
        add(Stage("starter", False, verify(lab, check_root(ws)[0])))
        variants = [("solution", True, solution.render())]
        if partial and solution.hunk_count > 1:
            for i, label in enumerate(solution.hunk_labels()):
                variants.append((f"solution without {label}", False, solution.without_hunk(i).render()))
        elif partial:
            pass  # one hunk: leaving it out is the starter, already shown to fail
        for name, expect, text in variants:
            reset_workspace(ws)
            try:
                apply_patch(ws.root, text, name, kind=ws.kind)
            except PatchDoesNotApply as e:
                add(Stage(name, expect, None, problem=f"does not apply: {e}"))
                continue
            add(Stage(name, expect, verify(lab, check_root(ws)[0])))
        return DevReport(lab.id, tuple(stages), time.monotonic() - start)
    finally:
        if ws is not None and ws.kind == "checkout":
            remove_checkout_workspace(Path(ws.source_root), ws.root, ws.branch)
        shutil.rmtree(tmp, ignore_errors=True)
