"""Grade the checked questions of a tour (`quiz:`): predict-the-output, multiple choice, check expressions.

Never by word overlap: "(12,4,1)" is not "(12, 4, 2)", and a reversed answer is wrong.

- predict: right when the learner's text equals what the snippet prints on the installed torch,
  after whitespace normalization (runs of spaces and line breaks are one space, lines stripped,
  spaces after a comma dropped; nothing more lenient). The live output is computed by the tour
  runner, in a subprocess (torchatlas never imports torch), once per `Grader`, with Python
  warnings silenced: a deprecation warning of one torch release is not part of what it prints.
- choices: right when the learner names the answer: its text, its number (1-based) or its letter.
- expect: right when the Python expression is true with `answer` bound to the learner's text
  (stripped); raising is wrong. With a `setup:` (which may import torch) it runs in a subprocess.

`verify_question` is what `tours check --run` uses: it proves the tour's own answer is right (and
each `wrong:` answer and the empty answer wrong), so a dishonest or stale answer is reported.
"""

from __future__ import annotations

import builtins
import json
import re
import string
from dataclasses import dataclass

from .model import Question, RunResult
from .runner import Job, run_snippets

LETTERS = string.ascii_lowercase
# run before a predict snippet (on its first line, so that its line numbers stay the snippet's own)
PREDICT_PRELUDE = "import warnings as _quiz_warnings; _quiz_warnings.simplefilter('ignore'); "


def predict_job(key: str, q: Question, timeout: float = 60.0) -> Job:
    future = q.predict.lstrip().startswith("from __future__")  # must stay the first statement
    return Job(key, q.predict if future else PREDICT_PRELUDE + q.predict, timeout)


def normalize_output(text: str) -> str:
    """The comparable form of an output: lines stripped, whitespace runs (line breaks too) one
    space, no space after a comma."""
    lines = [re.sub(r"\s+", " ", ln).strip() for ln in text.strip().splitlines()]
    return re.sub(r", +", ",", " ".join(ln for ln in lines if ln))


def predict_right(given: str, output: str) -> bool:
    """Whether a predicted output is the real one (whitespace-normalized); the empty answer never is."""
    return bool(given.strip()) and normalize_output(given) == normalize_output(output)


@dataclass(frozen=True)
class Grade:
    """One graded answer. `error` is set when it could not be graded (the snippet failed on this
    torch, the check expression's setup raised): neither right nor a mistake of the learner."""

    right: bool
    given: str
    expected: str  # what a right answer is (shown after answering)
    why: str = ""
    error: str = ""

    def as_json(self) -> dict:
        return {"right": self.right, "given": self.given, "expected": self.expected, "why": self.why,
                "error": self.error or None}


def choice_index(q: Question, text: str) -> int | None:
    """Which choice (0-based) the learner's text names: its text (whitespace and case aside), its
    number (1-based), or its letter ('b', 'B', 'b)', '2.'). None when it names none."""
    t = text.strip()
    norm = " ".join(t.split())
    for i, c in enumerate(q.choices):  # the text first: a choice may itself be "2"
        if " ".join(c.split()) == norm:
            return i
    lowered = [i for i, c in enumerate(q.choices) if " ".join(c.split()).lower() == norm.lower()]
    if len(lowered) == 1:
        return lowered[0]
    m = re.fullmatch(r"\(?([0-9]+|[A-Za-z])[.)]?", t)
    if not m:
        return None
    key = m.group(1)
    n = int(key) - 1 if key.isdigit() else LETTERS.index(key.lower())
    return n if 0 <= n < len(q.choices) else None


def label_choices(q: Question) -> list[str]:
    return [f"{i}. {c}" for i, c in enumerate(q.choices, 1)]


def _eval_expect(expect: str, answer: str, glb: dict | None = None) -> tuple[bool, str]:
    """(true?, why it raised). The same semantics as the subprocess script below."""
    g = dict(glb) if glb is not None else {"__builtins__": builtins}
    g["answer"] = answer
    try:
        return bool(eval(compile(expect, "<expect>", "eval"), g)), ""  # noqa: S307 - the tour's own check
    except Exception as e:  # noqa: BLE001 - raising means wrong
        return False, f"{type(e).__name__}: {e}"


_EXPECT_SCRIPT = '''
import json as _json
_answers = _json.loads({answers!r})
_g = {{"__name__": "__quiz__"}}
exec(compile({setup!r}, "<setup>", "exec"), _g)
_out = []
for _a in _answers:
    _g["answer"] = _a
    try:
        _out.append([bool(eval(compile({expect!r}, "<expect>", "eval"), _g)), ""])
    except Exception as _e:
        _out.append([False, type(_e).__name__ + ": " + str(_e)])
print("@@QUIZ@@" + _json.dumps(_out))
'''


def expect_job(key: str, q: Question, answers: list[str], timeout: float = 60.0) -> Job:
    code = _EXPECT_SCRIPT.format(answers=json.dumps(answers), setup=q.setup or "", expect=q.expect)
    return Job(key, code, timeout)


def parse_expect(result: RunResult, n: int) -> list[tuple[bool, str]] | str:
    """The verdicts an expect job printed, or why there are none (its setup raised, it timed out)."""
    for line in reversed(result.output.splitlines()):
        if line.startswith("@@QUIZ@@"):
            try:
                out = json.loads(line[len("@@QUIZ@@"):])
            except ValueError:
                break
            if len(out) == n:
                return [(bool(a), str(b)) for a, b in out]
    last = (result.output.strip().splitlines() or ["(no output)"])[-1]
    return f"the check's setup failed on the installed torch: {last[:200]}"


def in_process(q: Question) -> bool:
    """An expect check without setup that names no torch is evaluated here, without a subprocess."""
    return q.kind == "expect" and not q.setup and "torch" not in q.expect and "__import__" not in q.expect


class Grader:
    """Grades answers; runs each predict snippet once (per Grader: a session) with the installed torch."""

    def __init__(self, python: str | None = None):
        self.python = python
        self._live: dict[str, RunResult] = {}

    def prefetch(self, questions: list[Question], timeout: float = 60.0) -> None:
        """Run every predict snippet not run yet, in one batch (one torch import)."""
        todo = {q.predict: q for q in questions if q.kind == "predict" and q.predict not in self._live}
        if not todo:
            return
        jobs = [predict_job(f"p{i}", q, timeout) for i, q in enumerate(todo.values())]
        results = run_snippets(jobs, python=self.python)
        for job, code in zip(jobs, todo):
            self._live[code] = results[job.key]

    def live_output(self, q: Question, timeout: float = 60.0) -> RunResult:
        self.prefetch([q], timeout)
        return self._live[q.predict]

    def grade(self, q: Question, text: str, timeout: float = 60.0) -> Grade:
        given = text.strip()
        if q.kind == "choices":
            i = choice_index(q, given)
            right = i is not None and q.choices[i] == q.answer
            n = q.choices.index(q.answer) + 1
            return Grade(right, given, f"{n}. {q.answer}", q.why)
        if q.kind == "predict":
            live = self.live_output(q, timeout)
            if not live.ok:
                return Grade(False, given, q.answer, q.why,
                             "the snippet failed on the installed torch, so this answer cannot be graded:\n"
                             + live.output.strip()[-800:])
            return Grade(predict_right(given, live.output), given, live.output.strip(), q.why)
        if in_process(q):
            right, _why = _eval_expect(q.expect, given)
            return Grade(right, given, q.answer, q.why)
        result = run_snippets([expect_job("e", q, [given], timeout)], python=self.python)["e"]
        verdicts = parse_expect(result, 1)
        if isinstance(verdicts, str):
            return Grade(False, given, q.answer, q.why, verdicts)
        return Grade(verdicts[0][0], given, q.answer, q.why)


@dataclass(frozen=True)
class QuestionCheck:
    """`tours check --run` on one question: does the tour's answer hold on this torch?"""

    number: int  # 1-based, within the step
    kind: str
    ok: bool
    detail: str = ""  # what is wrong

    def as_json(self) -> dict:
        return {"question": self.number, "kind": self.kind, "ok": self.ok, "detail": self.detail or None}


def verify_questions(questions: list[Question], python: str | None = None, timeout: float = 60.0,
                     workers: int = 1) -> list[QuestionCheck]:
    """Prove every question's answer: predict answers equal the live output, choice answers are among
    the choices, expect accepts `answer` and rejects every `wrong` and the empty answer. The snippets
    and expect checks of all questions run in one batch."""
    jobs = []
    for k, q in enumerate(questions):
        if q.kind == "predict":
            jobs.append(predict_job(f"{k}", q, timeout))
        elif q.kind == "expect" and not in_process(q):
            jobs.append(expect_job(f"{k}", q, [q.answer, *q.wrong, ""], timeout))
    results = run_snippets(jobs, python=python, workers=workers) if jobs else {}
    out = []
    for k, q in enumerate(questions):
        out.append(_verify(k, q, results.get(f"{k}")))
    return out


def _verify(k: int, q: Question, result: RunResult | None) -> QuestionCheck:
    if q.kind == "choices":
        ok = q.answer in q.choices
        return QuestionCheck(k + 1, q.kind, ok, "" if ok else f"answer {q.answer!r} is not one of the choices")
    if q.kind == "predict":
        assert result is not None
        if not result.ok:
            last = (result.output.strip().splitlines() or ["(no output)"])[-1]
            return QuestionCheck(k + 1, q.kind, False, f"the snippet failed on the installed torch: {last[:200]}")
        if not predict_right(q.answer, result.output):
            return QuestionCheck(k + 1, q.kind, False, f"the answer {q.answer!r} is not what the snippet prints: "
                                                       f"{result.output.strip()[:300]!r}")
        return QuestionCheck(k + 1, q.kind, True)
    answers = [q.answer, *q.wrong, ""]
    if result is None:
        verdicts = [_eval_expect(q.expect, a) for a in answers]
    else:
        parsed = parse_expect(result, len(answers))
        if isinstance(parsed, str):
            return QuestionCheck(k + 1, q.kind, False, parsed)
        verdicts = parsed
    problems = []
    if not verdicts[0][0]:
        problems.append(f"expect rejects the tour's answer {q.answer!r}"
                        + (f" ({verdicts[0][1]})" if verdicts[0][1] else ""))
    for a, (v, _e) in zip(q.wrong, verdicts[1:-1]):
        if v:
            problems.append(f"expect accepts the wrong answer {a!r}")
    if verdicts[-1][0]:
        problems.append("expect accepts the empty answer")
    return QuestionCheck(k + 1, q.kind, not problems, "; ".join(problems))
