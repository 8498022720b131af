"""The tour model: frozen values the loader builds and the engine reads.

A tour is a list of steps; a step shows one anchored piece of source. An anchor names *what* it
shows (an operator, a YAML entry, a C++ or Python symbol, a pattern in a file), never a line
number, so the index finds it again after the code moves. A step may list several anchors: they
are alternatives, tried in order (say, a generated header the installed package ships, then the
template a checkout holds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torchatlas.indexes.line_yaml import Problem

# What an anchor may name, and how.
ANCHOR_KINDS = ("op", "native_functions", "derivatives", "cpp", "python", "file")
ANCHOR_HELP = {
    "op": "an operator: aten::add.Tensor (its native_functions.yaml entry)",
    "native_functions": "a native_functions.yaml entry: add.out",
    "derivatives": "a derivatives.yaml entry: mul.Tensor",
    "cpp": "a C++ symbol: at::native::add_out, c10::Dispatcher::call, TORCH_IMPL_FUNC(mul_out)",
    "python": "a Python symbol: torch.nn.Module.__call__",
    "file": "a file, with an optional regex `pattern:` for the line: aten/src/ATen/native/BinaryOps.cpp",
}
REQUIRES = ("checkout",)


@dataclass(frozen=True)
class Show:
    """How much source to print around the anchor line."""

    before: int = 2
    after: int = 14
    whole: bool = False  # the whole definition, via the index's end_line (capped by max_lines)
    max_lines: int | None = None  # default: 60 for a whole definition, before + 1 + after otherwise
    focus: str | None = None  # a regex: centre the excerpt on the first matching line inside the definition


@dataclass(frozen=True)
class Anchor:
    kind: str  # one of ANCHOR_KINDS
    target: str  # the operator, entry, symbol or path
    pattern: str | None = None  # file anchors: a regex; the first matching line is the anchor line
    hint: str | None = None  # cpp/python: prefer definitions whose path contains this (`in:`)
    show: Show = field(default_factory=Show)
    line: int = 0  # where the anchor is written in the tour file

    def describe(self) -> str:
        text = f"{self.kind}: {self.target}"
        if self.pattern:
            text += f"  pattern: {self.pattern}"
        if self.hint:
            text += f"  in: {self.hint}"
        return text


@dataclass(frozen=True)
class Check:
    """A reflection question with its answer (shown, never graded), and/or an assertion run against
    the live torch."""

    question: str | None = None
    answer: str | None = None
    assertion: str | None = None  # Python code; passes when it runs without raising


QUESTION_KINDS = ("predict", "choices", "expect")


@dataclass(frozen=True)
class Question:
    """A checked question (`quiz:`): graded, never by word overlap.

    predict: the learner types what the `predict` snippet prints; right when it equals the live
    output (whitespace-normalized). choices: the learner names one choice (text, number, letter).
    expect: a Python expression over `answer` (the learner's text) that is true for a right answer.
    """

    ask: str
    kind: str  # one of QUESTION_KINDS
    answer: str  # predict: what the snippet prints; choices: one of them; expect: a right answer
    predict: str | None = None
    choices: tuple[str, ...] = ()
    expect: str | None = None
    setup: str | None = None  # expect: Python run before the expression (it may import torch)
    wrong: tuple[str, ...] = ()  # expect: answers it must reject (`tours check --run` proves it)
    why: str = ""
    line: int = 0


@dataclass(frozen=True)
class Exercise:
    """Code the learner writes in a scratch file; `test` (pytest) grades it in a fresh process."""

    file: str  # the scratch file's name: softplus_fn.py
    task: str  # Markdown
    test: str  # pytest code; the scratch file's folder is first on sys.path
    starter: str = ""  # the scratch file's first content (written once, never overwritten)
    solution: str = ""  # the reference solution: `tours check --run` proves it passes, the starter fails
    timeout: float = 120.0
    line: int = 0

    @property
    def module(self) -> str:
        return self.file.rsplit(".", 1)[0]


@dataclass(frozen=True)
class Step:
    title: str
    narrative: str
    anchors: tuple[Anchor, ...]  # alternatives, tried in order (`or:` semantics)
    requires: str | None = None  # "checkout": the code is in .cpp files the package does not ship
    run: str | None = None  # a Python snippet run with the installed torch
    check: Check | None = None
    timeout: float = 60.0
    line: int = 0  # where the step starts in the tour file
    quiz: tuple[Question, ...] = ()
    exercise: Exercise | None = None
    since: str | None = None  # the first torch version (major.minor[.patch]) the step applies to
    until: str | None = None  # the last one
    picture: str | None = None  # a snippet printing a DOT diagram of what it builds (tours/pictures.py)

    def applies_to(self, version: str) -> str:
        """Empty when the step applies to torch `version`, else why not ("applies to torch >= 2.1;
        this source is 1.13.1"). An unknown version applies."""
        mine = _release(version) if version else ()
        if not mine:
            return ""
        low = _release(self.since) if self.since else ()
        high = _release(self.until) if self.until else ()
        if (low and mine[: len(low)] < low) or (high and mine[: len(high)] > high):
            if low and high:
                rng = f"torch {self.since} to {self.until}"
            else:
                rng = f"torch >= {self.since}" if low else f"torch <= {self.until}"
            return f"applies to {rng}; this source is {version}"
        return ""


@dataclass(frozen=True)
class Tour:
    id: str
    title: str
    theme: str
    minutes: int
    steps: tuple[Step, ...]
    prerequisites: tuple[str, ...] = ()
    checked_on: tuple[str, ...] = ()  # PyTorch versions (major.minor[.patch]) the tour was checked on
    summary: str = ""
    path: str = ""  # the file it was read from
    origin: str = "builtin"  # builtin | user
    # Python modules its snippets, quizzes and exercises import beyond torch (onnxscript): where
    # one is missing, `tours show`/`check --run` say what to install instead of failing on it
    needs: tuple[str, ...] = ()

    @property
    def questions(self) -> int:
        """How many checked questions (quiz entries) the tour has."""
        return sum(len(s.quiz) for s in self.steps)

    @property
    def exercises(self) -> int:
        return sum(1 for s in self.steps if s.exercise is not None)

    def checked_on_version(self, version: str) -> bool:
        """Whether `version` (say 2.6.0a0 or 2.13.0+cpu) matches one of `checked_on`."""
        if not self.checked_on:
            return True
        mine = _release(version)
        for v in self.checked_on:
            want = _release(v)
            if mine[: len(want)] == want:
                return True
        return False


def _release(version: str) -> tuple[int, ...]:
    """(2, 6, 0) of '2.6.0a0+git123'; the numeric components only."""
    out = []
    for part in version.split("+")[0].split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
        if digits != part:
            break
    return tuple(out)


@dataclass(frozen=True)
class TourError(Problem):
    """A malformed tour file: where, which field, what is wrong."""


@dataclass(frozen=True)
class Resolution:
    """What an anchor resolved to on one source."""

    status: str  # resolved | unresolved | skipped
    reason: str = ""
    anchor: Anchor | None = None  # the alternative that resolved (or the first one tried)
    path: str | None = None  # relative to the source root
    line: int = 0
    end_line: int = 0
    label: str = ""  # what was found: "method c10::Dispatcher::call"
    candidates: tuple[str, ...] = ()  # closest names when unresolved
    link: str = ""  # a checkout-only step on the installed package: the file on GitHub at its commit

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.path else ""

    def as_json(self) -> dict:
        return {"status": self.status, "reason": self.reason, "location": self.location or None,
                "end_line": self.end_line or None, "label": self.label,
                "anchor": self.anchor.describe() if self.anchor else None, "candidates": list(self.candidates),
                "link": self.link or None}


@dataclass(frozen=True)
class RunResult:
    """The outcome of one snippet run in a subprocess."""

    ok: bool
    output: str
    returncode: int | None
    timed_out: bool = False
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"ok": self.ok, "output": self.output, "returncode": self.returncode, "timed_out": self.timed_out,
                "seconds": round(self.seconds, 2)}
