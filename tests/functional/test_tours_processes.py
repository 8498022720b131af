"""Tours: the slow half of tests/unit/test_tours.py (2-5 s each): the snippet runner in real Python
subprocesses with their timeouts, and the CLI driven as a process. The tiny index and the helpers
are the unit tests' own."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from torchatlas.tours.engine import play_steps
from torchatlas.tours.loader import parse_tour
from torchatlas.tours.runner import Job, run_snippet, run_snippets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_tours import cli, tour_text  # noqa: E402 - the unit tests' helpers
from test_tours import tiny  # noqa: E402,F401 - and their tiny index (a fixture)


def test_snippets_run_isolated_and_a_raising_one_is_output(tiny):
    ctx, _root, _db = tiny
    tour = parse_tour(tour_text("""\
      - title: raises
        narrative: n
        anchor: {op: aten::add.Tensor}
        run: |
          import sys
          sys.modules["shared_state"] = 1
          print("before")
          1 / 0
      - title: goes on
        narrative: n
        anchor: {cpp: c10::Thing}
        run: |
          import sys
          print("isolated:", "shared_state" not in sys.modules)
        check:
          assert: "assert 2 + 2 == 4"
    """), "t.yaml")
    first, second = play_steps(tour, [1, 2], ctx)
    assert not first.run.ok and "before" in first.run.output and "ZeroDivisionError" in first.run.output
    assert '<snippet>", line 4' in first.run.output
    assert second.run.ok and "isolated: True" in second.run.output
    assert second.assertion.ok
    assert first.excerpt is not None and second.resolution.status == "resolved"


def test_snippet_timeout_and_exit_codes():
    results = run_snippets([Job("slow", "import time\ntime.sleep(30)", 1), Job("exit", "raise SystemExit(3)"),
                            Job("syntax", "x = ("), Job("ok", "print('hi')")], workers=2)
    assert results["slow"].timed_out and not results["slow"].ok and "timed out" in results["slow"].output
    assert results["exit"].returncode == 3
    assert "SyntaxError" in results["syntax"].output
    assert results["ok"].ok and results["ok"].output == "hi\n"


def test_run_snippet_captures_stderr_in_order():
    r = run_snippet("import sys\nprint('out')\nsys.stdout.flush()\nprint('err', file=sys.stderr)")
    assert r.ok and r.output.splitlines() == ["out", "err"]


def test_cli_list_and_malformed_user_tour(tmp_path):
    good = cli("list", "--json", tmp_path=tmp_path)
    assert good.returncode == 0
    ids = [t["id"] for t in json.loads(good.stdout)["tours"]]
    assert ids[:7] == ["source-layout", "tensors", "dispatch", "autograd", "codegen", "nn-module", "fx"]
    d = tmp_path / "mine"
    d.mkdir()
    (d / "broken.yaml").write_text(tour_text("  - title: a\n    narrative: n\n    anchor: {symbol: x}\n",
                                             id="broken"))
    out = cli("list", "--tours-dir", str(d), tmp_path=tmp_path)
    assert out.returncode == 2 and "dispatch" in out.stdout
    assert "broken.yaml:" in out.stderr and "unknown anchor kind 'symbol'" in out.stderr
    shown = cli("show", "broken", "--tours-dir", str(d), tmp_path=tmp_path)
    assert shown.returncode == 2 and "malformed" in shown.stderr


def test_cli_show_check_and_progress_on_the_tiny_index(tiny, tmp_path):
    _ctx, root, db = tiny
    d = tmp_path / "user"
    d.mkdir()
    (d / "mine.yaml").write_text(tour_text("""\
      - title: the yaml
        narrative: An operator.
        anchor: {op: aten::add.Tensor}
      - title: the struct
        narrative: A struct.
        anchor: {cpp: c10::Thing, show: whole}
        run: "print('hello from the snippet')"
      - title: gone
        narrative: This one does not resolve.
        anchor: {cpp: c10::Gone}
    """, id="mine"))
    src = ["--source", str(root), "--db", str(db), "--tours-dir", str(d)]
    first = cli("show", "mine", *src, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "step 1 of 3: the yaml" in first.stdout and "> 1 | - func: add.Tensor" in first.stdout
    assert "checked on torch 2.6" in first.stderr  # the tiny tree is torch 2.99: a warning, and it still runs
    second = cli("show", "mine", *src, tmp_path=tmp_path)  # resumes at step 2
    assert "step 2 of 3: the struct" in second.stdout and "> 3 | struct Thing {" in second.stdout
    assert "hello from the snippet" in second.stdout
    third = cli("show", "mine", *src, tmp_path=tmp_path)
    assert third.returncode == 0 and "anchor not found" in third.stdout and "the tour goes on" in third.stdout
    bad_step = cli("show", "mine", "--step", "9", *src, tmp_path=tmp_path)
    assert bad_step.returncode == 2 and "steps 1 to 3" in bad_step.stderr
    check = cli("check", "mine", "--json", *src, tmp_path=tmp_path)
    assert check.returncode == 1
    data = json.loads(check.stdout)
    assert [s["status"] for s in data["tours"][0]["steps"]] == ["resolved", "resolved", "unresolved"]
    assert data["tours"][0]["version_note"]
    listed = json.loads(cli("list", "--json", "--tours-dir", str(d), tmp_path=tmp_path).stdout)
    mine = next(t for t in listed["tours"] if t["id"] == "mine")
    assert mine["progress"]["seen"] == [1, 2, 3] and mine["origin"] == "user"



# -- checked questions and exercises, through the CLI ---------------------------------------------

ASSETS = str(Path(__file__).resolve().parents[1] / "assets" / "tours")


def test_check_run_proves_quiz_answers_and_exercises(tiny, tmp_path):
    """The test tour holds a dishonest predict answer and an exercise whose starter passes: both reported."""
    _ctx, root, db = tiny
    out = cli("check", "quizzed", "--run", "--json", "--source", str(root), "--db", str(db), "--tours-dir", ASSETS,
              tmp_path=tmp_path)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    steps = data["tours"][0]["steps"]
    assert [q["ok"] for q in steps[0]["quiz"]] == [True, True, True]
    [liar] = steps[1]["quiz"]
    assert not liar["ok"] and "'[1, 2, 3]' is not what the snippet prints: '[3, 2, 1]'" in liar["detail"]
    assert steps[2]["exercise"]["ok"] and not steps[2]["exercise"]["starter"]["passed"]
    assert steps[2]["exercise"]["solution"]["passed"]
    assert not steps[3]["exercise"]["ok"] and "the starter passes its test" in steps[3]["exercise"]["detail"]
    assert data["summary"]["questions_failed"] == 1 and data["summary"]["exercises_failed"] == 1
    assert steps[0]["missing_identifiers"] == [] and steps[1]["missing_identifiers"] == ["Thing"]
    text = cli("check", "quizzed", "--source", str(root), "--db", str(db), "--tours-dir", ASSETS,
               tmp_path=tmp_path)  # without --run: resolution and the warning only (fast)
    assert text.returncode == 0 and "warning: the narrative names `Thing`" in text.stdout


def test_show_quiz_reads_answers_from_piped_stdin_and_stops_at_eof(tiny, tmp_path):
    _ctx, root, db = tiny
    src = ["--source", str(root), "--db", str(db), "--tours-dir", ASSETS]
    out = cli("show", "quizzed", "--step", "1", "--quiz", *src, tmp_path=tmp_path, input="(12,4,1)\nb\n")
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split("your answer", 2)[1:]
    assert "right." in first and "why: a tuple prints as itself" in first
    assert "wrong: 'b' is not it." in second and "the answer: 1. AutogradCPU" in second
    assert "end of input: stopping here" in out.stdout  # the third question met EOF
    progress = json.loads((tmp_path / "state" / "tours-progress.json").read_text())["tours"]["quizzed"]
    assert progress["quiz"]["1:1"]["state"] == "right" and progress["quiz"]["1:2"]["state"] == "wrong"
    assert "1:3" not in progress["quiz"]


def test_answer_exercise_and_grade(tmp_path):
    src = ["--tours-dir", ASSETS]
    wrong = cli("answer", "quizzed", "--step", "1", "--question", "3", "three", *src, tmp_path=tmp_path)
    assert wrong.returncode == 1 and "wrong: 'three' is not it" in wrong.stdout and "the answer:" not in wrong.stdout
    right = cli("answer", "quizzed", "--step", "1", "-k", "2", "A", "--json", *src, tmp_path=tmp_path)
    assert right.returncode == 0 and json.loads(right.stdout)["right"] is True
    none = cli("answer", "quizzed", "--step", "3", "x", *src, tmp_path=tmp_path)
    assert none.returncode == 2 and "has no checked question" in none.stderr
    started = cli("exercise", "quizzed", "--json", *src, tmp_path=tmp_path)
    info = json.loads(started.stdout)
    scratch = Path(info["scratch"])
    assert info["step"] == 3 and info["created"] and scratch.read_text().startswith("def double(x):")
    assert scratch == tmp_path / "state" / "tour-exercises" / "quizzed" / "doubler.py"
    failing = cli("grade", "quizzed", *src, tmp_path=tmp_path)
    assert failing.returncode == 1 and "NotImplementedError" in failing.stdout and "not yet" in failing.stdout
    scratch.write_text("def double(x):\n    return x + x\n")
    assert json.loads(cli("exercise", "quizzed", "--step", "3", "--json", *src, tmp_path=tmp_path).stdout)[
        "created"] is False and scratch.read_text() == "def double(x):\n    return x + x\n"  # never overwritten
    passing = cli("grade", "quizzed", "--step", "3", "--json", *src, tmp_path=tmp_path)
    assert passing.returncode == 0 and json.loads(passing.stdout)["passed"]
    assert sorted(p.name for p in scratch.parent.iterdir()) == ["doubler.py"]  # no cache beside it
    listed = json.loads(cli("list", "--json", *src, tmp_path=tmp_path).stdout)
    mine = next(t for t in listed["tours"] if t["id"] == "quizzed")
    assert (mine["questions"], mine["exercises"]) == (4, 2)
    assert mine["progress"]["exercises_passed"] == 1 and mine["progress"]["questions_right"] == 1


def test_predict_grading_runs_the_snippet_once_per_session():
    from torchatlas.tours.model import Question
    from torchatlas.tours.quiz import Grader
    q = Question(ask="?", kind="predict", answer="(12, 4, 1)",
                 predict="import torch; print(torch.empty(2, 3, 4).stride())")
    warned = Question(ask="?", kind="predict", answer="1", predict="import warnings\nwarnings.warn('old API')\nprint(1)")
    broken = Question(ask="?", kind="predict", answer="1", predict="x = 1\nraise ValueError('no')")
    g = Grader()
    g.prefetch([q, warned, broken])  # one worker process for the three snippets
    assert g.grade(q, "(12, 4, 1)").right and g.grade(q, "(12,4,1)").right
    assert not g.grade(q, "(12, 4, 2)").right and not g.grade(q, "(1, 4, 12)").right
    assert len(g._live) == 3  # each snippet ran once, for all the answers
    assert g.grade(warned, "1").right  # a warning is not part of what it prints
    graded = g.grade(broken, "1")
    assert '<snippet>", line 2' in graded.error  # the snippet's own line numbers
    assert not graded.right and "cannot be graded" in graded.error and "ValueError: no" in graded.error


def test_pictures_are_proved_by_check_run_and_drawn_by_tours_picture(tiny, tmp_path):
    """A picture snippet must print DOT: check --run reports one that does not; `tours picture`
    writes the diagram where asked, and says what is wrong for a broken or missing picture."""
    _ctx, root, db = tiny
    out = cli("check", "pictured", "--run", "--json", "--source", str(root), "--db", str(db), "--tours-dir", ASSETS,
              tmp_path=tmp_path)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    steps = data["tours"][0]["steps"]
    assert steps[0]["picture"]["ok"] and not steps[1]["picture"]["ok"] and "picture" not in steps[2]
    assert "printed no DOT" in steps[1]["picture"]["output"]
    assert data["summary"]["pictures"] == 2 and data["summary"]["pictures_failed"] == 1
    dot = tmp_path / "chain.dot"
    drawn = cli("picture", "pictured", "--step", "1", "--out", str(dot), "--tours-dir", ASSETS, tmp_path=tmp_path)
    assert drawn.returncode == 0 and str(dot) in drawn.stdout
    text = dot.read_text()
    assert text.startswith("digraph chain {") and "c0 -> c1;" in text and "c1 -> c2;" in text
    assert '"first\\nhighest"' in text
    broken = cli("picture", "pictured", "--step", "2", "--out", str(tmp_path / "b.dot"), "--tours-dir", ASSETS,
                 tmp_path=tmp_path)
    assert broken.returncode == 2 and "drew nothing" in broken.stderr and not (tmp_path / "b.dot").exists()
    none = cli("picture", "pictured", "--step", "3", "--tours-dir", ASSETS, tmp_path=tmp_path)
    assert none.returncode == 1 and "steps with one: 1, 2" in none.stderr
