"""The lab model: frozen values the loader builds and the runner, builders and presenters read.

A lab is a change to real PyTorch code: a starter patch puts TODO stubs into real files (or new
files under `lab/` in the workspace), the learner fills them in, a builder builds only what the
change needs (`BuildMode`), and checks (pytest files run in fresh subprocesses) say precisely
whether it works. The reference solution is a patch on top of the starter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from torchatlas.indexes.line_yaml import Problem


class BuildMode(str, enum.Enum):
    """What has to be built before a lab's checks can run."""

    PYTHON = "python"  # nothing to compile: the workspace's .py files are imported as they are
    EXTENSION = "extension"  # C++ operators (TORCH_LIBRARY) built with torch.utils.cpp_extension
    CODEGEN = "codegen"  # native_functions.yaml / derivatives.yaml changed: torchgen regenerates
    NATIVE = "native"  # aten:: code compiled into an overlay library loaded into the installed torch

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


DIFFICULTIES = ("beginner", "intermediate", "advanced")


@dataclass(frozen=True)
class Check:
    """One pytest file of the lab's `checks/` folder. Hidden checks are never copied into the
    workspace: the learner sees their verdicts and messages, not their code (nbgrader's idea)."""

    file: str  # relative to the lab folder, e.g. "checks/test_backward.py"
    hidden: bool = False
    timeout: float = 120.0  # seconds for the whole file, in its own subprocess
    line: int = 0


@dataclass(frozen=True)
class BuildSpec:
    """What the builder of an extension or native lab compiles (paths relative to the workspace)."""

    name: str = ""  # the library: <name>.so in the build folder
    sources: tuple[str, ...] = ()
    per_capability: tuple[str, ...] = ()  # native: kernel files compiled once per CPU capability
    extra_cflags: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Lab:
    id: str
    title: str
    theme: int  # a theme number of the training program (CURRICULUM.md)
    difficulty: str  # one of DIFFICULTIES
    minutes: int
    mode: BuildMode
    summary: str
    task: str  # what to do (Markdown)
    hints: tuple[str, ...]  # progressive: shown one at a time
    edits: tuple[str, ...]  # the files the learner edits, relative to the workspace root
    checks: tuple[Check, ...]
    folder: Path  # the lab's folder (lab.yaml, starter.patch, solution.patch, checks/)
    build: BuildSpec = field(default_factory=BuildSpec)
    requires: tuple[str, ...] = ()  # Python modules a check needs beyond torch (e.g. "torchvision")
    extra: str = ""  # the pyproject extra that installs `requires` (pip install -e ".[extra]")
    path: str = ""  # lab.yaml, for messages
    # "checkout": this is the variant a lab folder keeps in `checkout/lab.yaml`, run on a checkout
    # whose version is the installed torch's (it changes the checkout's own files); "" otherwise
    variant: str = ""
    on_checkout: "Lab | None" = None  # that variant, on the lab it belongs to

    @property
    def starter_patch(self) -> Path:
        return self.folder / "starter.patch"

    @property
    def solution_patch(self) -> Path:
        return self.folder / "solution.patch"


@dataclass(frozen=True)
class LabError(Problem):
    """A malformed lab file: where, which field, what is wrong."""


@dataclass(frozen=True)
class CheckResult:
    """One verdict: a test function of a check file, a build step, or a live verification."""

    name: str
    passed: bool
    message: str = ""  # why it failed (the assertion's message), or what it showed
    hidden: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"name": self.name, "passed": self.passed, "message": self.message}


@dataclass(frozen=True)
class LabVerdict:
    """Everything `lab check` says about one workspace."""

    lab: str
    results: tuple[CheckResult, ...]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def to_json(self) -> dict:
        return {"lab": self.lab, "passed": self.passed, "checks": [r.to_json() for r in self.results]}
