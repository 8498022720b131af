"""The learner's side of a tour in text: `tours show --quiz`, `tours answer`, `tours exercise`,
`tours grade`. Grading is quiz.py's and exercises.py's; this module asks, prints and saves the
results with the progress (progress.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from torchatlas.indexes.errors import AtlasError

from .exercises import ensure_scratch, run_test, scratch_path
from .model import Question, Tour
from .progress import Progress
from .quiz import Grade, Grader, label_choices


def _step(tour: Tour, number: int | None) -> int:
    n = len(tour.steps)
    if number is None or not 1 <= number <= n:
        raise AtlasError(f"tour {tour.id!r} has steps 1 to {n}, not {number}")
    return number


def _question(tour: Tour, step: int, k: int) -> Question:
    quiz = tour.steps[step - 1].quiz
    if not quiz:
        with_quiz = [i for i, s in enumerate(tour.steps, 1) if s.quiz]
        raise AtlasError(f"step {step} of tour {tour.id!r} has no checked question",
                         hint=f"steps with questions: {', '.join(map(str, with_quiz))}" if with_quiz else
                         "this tour has no checked questions")
    if not 1 <= k <= len(quiz):
        raise AtlasError(f"step {step} of tour {tour.id!r} has questions 1 to {len(quiz)}, not {k}")
    return quiz[k - 1]


def print_question(q: Question, k: int, total: int) -> None:
    lead = f"  question {k} of {total}: " if total > 1 else "  question: "
    print(lead + q.ask)
    if q.kind == "predict":
        print("  what does this print?")
        print("\n".join("    | " + ln for ln in q.predict.rstrip().splitlines()))
    for line in label_choices(q):
        print(f"    {line}")


def print_grade(g: Grade, reveal: bool = True) -> None:
    if g.error:
        print(f"  cannot grade: {g.error}")
    elif g.right:
        print("  right.")
    elif g.given:
        print(f"  wrong: {g.given!r} is not it.")
    if reveal or g.right:
        expected = g.expected if "\n" not in g.expected else "\n" + textwrap.indent(g.expected, "    ")
        print(f"  the answer: {expected}")
        if g.why:
            print(f"  why: {g.why}")


# -- show --quiz ----------------------------------------------------------------------------------

class Asker:
    """Asks a tour's checked questions on stdin, one line each; an empty line shows the answer."""

    def __init__(self, tour: Tour, progress: Progress, stdin=None, grader: Grader | None = None):
        self.tour, self.progress = tour, progress
        self.stdin = stdin if stdin is not None else sys.stdin
        self.grader = grader or Grader()

    def prefetch(self, numbers: list[int]) -> None:
        self.grader.prefetch([q for i in numbers for q in self.tour.steps[i - 1].quiz])

    def ask_step(self, number: int) -> bool:
        """Ask every question of the step; False at the end of the input."""
        quiz = self.tour.steps[number - 1].quiz
        if not quiz:
            return True
        print()
        for k, q in enumerate(quiz, 1):
            print_question(q, k, len(quiz))
            print("  your answer (enter alone shows it): ", end="", flush=True)
            line = self.stdin.readline()
            if not line:
                print()
                return False
            given = line.rstrip("\n")
            if not given.strip():
                g = self.grader.grade(q, "")
                print("  the answer:", g.expected if "\n" not in g.expected else "\n" + g.expected)
                if g.why:
                    print(f"  why: {g.why}")
                self.progress.record_answer(self.tour.id, number, k, "", False, revealed=True)
                continue
            g = self.grader.grade(q, given)
            print_grade(g)
            if not g.error:
                self.progress.record_answer(self.tour.id, number, k, given, g.right)
        return True


# -- answer ---------------------------------------------------------------------------------------

def answer(args: argparse.Namespace, tour: Tour) -> int:
    """Grade one answer; the empty answer shows the answer and why (the question is then `revealed`)."""
    step = _step(tour, args.step)
    q = _question(tour, step, args.question)
    progress = Progress()
    text = args.text or ""
    g = Grader().grade(q, text)
    reveal = args.reveal or not text.strip()
    if not g.error:
        progress.record_answer(tour.id, step, args.question, g.given, g.right, revealed=reveal)
    progress.save()
    if args.json:
        print(json.dumps({"tour": tour.id, "step": step, "question": args.question, "kind": q.kind, **g.as_json()},
                         indent=2))
    else:
        print(f"{tour.id}, step {step}, question {args.question}: {q.ask}")
        print_grade(g, reveal=reveal)
        if not g.right and not g.error and not reveal:
            print("  try again; an empty answer (\"\") or --reveal shows the answer and why")
    if progress.warning:
        print(f"torchatlas: {progress.warning}", file=sys.stderr)
    return 0 if g.right or (not g.error and not text.strip()) else 1


# -- exercise / grade -----------------------------------------------------------------------------

def _exercise_step(tour: Tour, number: int | None, progress: Progress) -> int:
    with_ex = [i for i, s in enumerate(tour.steps, 1) if s.exercise is not None]
    if not with_ex:
        raise AtlasError(f"tour {tour.id!r} has no exercise")
    if number is None:
        p = progress.get(tour.id)
        started = [i for i in with_ex if not p.exercise_passed(i) and
                   scratch_path(tour.id, tour.steps[i - 1].exercise).exists()]
        todo = [i for i in with_ex if not p.exercise_passed(i)]
        return (started or todo or with_ex)[0]
    _step(tour, number)
    if tour.steps[number - 1].exercise is None:
        raise AtlasError(f"step {number} of tour {tour.id!r} has no exercise",
                         hint=f"steps with exercises: {', '.join(map(str, with_ex))}")
    return number


def exercise(args: argparse.Namespace, tour: Tour) -> int:
    progress = Progress()
    step = _exercise_step(tour, args.step, progress)
    ex = tour.steps[step - 1].exercise
    try:
        path, created = ensure_scratch(tour.id, ex)
    except OSError as e:
        raise AtlasError(f"cannot create the scratch file {scratch_path(tour.id, ex)}: {e}",
                         hint="set TORCHATLAS_STATE_DIR to a writable folder") from None
    if args.json:
        print(json.dumps({"tour": tour.id, "step": step, "file": ex.file, "scratch": str(path), "created": created,
                          "task": ex.task, "passed": progress.get(tour.id).exercise_passed(step)}, indent=2))
        return 0
    print(f"{tour.id}, step {step}: {tour.steps[step - 1].title}")
    print(f"scratch file: {path}" + ("   (created from the starter)" if created else "   (yours: left as it is)"))
    print()
    print(textwrap.indent(textwrap.dedent(ex.task).rstrip(), "  "))
    print()
    print(f"edit it, then: torchatlas tours grade {tour.id} --step {step}")
    return 0


def grade(args: argparse.Namespace, tour: Tour) -> int:
    progress = Progress()
    step = _exercise_step(tour, args.step, progress)
    ex = tour.steps[step - 1].exercise
    path = scratch_path(tour.id, ex)
    if not path.exists():
        raise AtlasError(f"no scratch file for step {step} of tour {tour.id!r} yet ({path})",
                         hint=f"create it: torchatlas tours exercise {tour.id} --step {step}")
    result = run_test(ex, path.parent)
    progress.record_exercise(tour.id, step, result.passed)
    progress.save()
    if args.json:
        print(json.dumps({"tour": tour.id, "step": step, "scratch": str(path), **result.as_json()}, indent=2))
    else:
        print(f"{tour.id}, step {step}: {ex.file}  ({path})")
        print(result.output.rstrip())
        if result.passed:
            print(f"\npassed ({result.seconds:.1f} s). Step {step} is done" +
                  (" once its questions are answered." if tour.steps[step - 1].quiz else "."))
        elif result.timed_out:
            print(f"\nthe test did not finish in {ex.timeout:g} s")
        else:
            print("\nnot yet: the test above fails. Edit the file and grade again.")
    if progress.warning:
        print(f"torchatlas: {progress.warning}", file=sys.stderr)
    return 0 if result.passed else 1
