"""Tours: the format, bad input, the anchor resolver on a tiny hand-made index, the snippet runner,
progress, and the CLI's exit codes. Hermetic except the runner tests (a Python subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from torchatlas.tours.anchors import AnchorContext, layout_paths, resolve_anchor, resolve_step
from torchatlas.tours.engine import check_tours, summarize, version_note
from torchatlas.tours.loader import BUILTIN_DIR, load_catalog, parse_tour, TourLoadError
from torchatlas.tours.model import Anchor, Show, Step, Tour, TourError
from torchatlas.tours.progress import Progress

MINIMUM_STEPS = {"dispatch": 12, "autograd": 12, "codegen": 12, "source-layout": 8, "tensors": 8,
                 "nn-module": 8, "fx": 8}


def tour_text(steps: str, **top) -> str:
    head = {"id": "t", "title": "T", "theme": "x", "minutes": 5, "checked_on": '["2.6"]'}
    head.update(top)
    lines = [f"{k}: {v}" for k, v in head.items()]
    return "\n".join(lines) + "\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")


GOOD_STEPS = """\
  - title: one
    narrative: text
    anchor: {op: aten::add.Tensor}
"""


# -- the built-in tours ---------------------------------------------------------------------------

def test_builtin_tours_load_cleanly_and_are_deep_enough():
    cat = load_catalog(builtin=True, user=False)
    assert cat.errors == [], [str(e) for e in cat.errors]
    assert set(MINIMUM_STEPS) <= set(cat.tours)
    for tid, minimum in MINIMUM_STEPS.items():
        tour = cat.tours[tid]
        assert len(tour.steps) >= minimum, f"{tid}: {len(tour.steps)} steps"
        assert {"2.6", "2.13"} <= set(tour.checked_on)
        for s in tour.steps:
            assert s.narrative.strip() and s.anchors and s.title
    # every curriculum tour ships in the package data
    assert {p.stem for p in BUILTIN_DIR.glob("*.yaml")} >= set(MINIMUM_STEPS)


def test_builtin_prerequisites_name_tours():
    cat = load_catalog(builtin=True, user=False)
    for tour in cat.tours.values():
        for pre in tour.prerequisites:
            assert pre in cat.tours, f"{tour.id}: unknown prerequisite {pre}"


# -- malformed tours ------------------------------------------------------------------------------

def test_malformed_tour_names_file_line_and_field_and_the_others_still_load(tmp_path):
    (tmp_path / "good.yaml").write_text(tour_text(GOOD_STEPS, id="good"))
    bad = tour_text("""\
      - title: one
        narrative: text
        anchor: {op: aten::add.Tensor}
      - narrative: no title here
        anchor: {op: aten::mul.Tensor}
    """, id="bad")
    (tmp_path / "bad.yaml").write_text(bad)
    cat = load_catalog([str(tmp_path)], builtin=False, user=False)
    assert list(cat.tours) == ["good"]
    [err] = cat.errors
    assert err.path.endswith("bad.yaml")
    assert err.field == "steps[2].title"
    assert err.line == bad.splitlines().index("  - narrative: no title here") + 1
    assert f"bad.yaml:{err.line}: [steps[2].title]" in str(err)


def test_invalid_yaml_reports_its_line(tmp_path):
    text = tour_text(GOOD_STEPS) + "  - title: [unclosed\n"
    with pytest.raises(TourLoadError) as ei:
        parse_tour(text, "x.yaml")
    assert ei.value.error.line >= len(text.splitlines()) - 1
    assert "not valid YAML" in ei.value.error.message


def test_unknown_anchor_kind_is_an_error_with_its_line():
    text = tour_text("""\
      - title: one
        narrative: text
        anchor:
          symbol: at::add
    """)
    with pytest.raises(TourLoadError) as ei:
        parse_tour(text, "t.yaml")
    e = ei.value.error
    assert e.field == "steps[1].anchor.symbol"
    assert "unknown anchor kind 'symbol'" in e.message and "cpp" in e.message
    assert e.line == text.splitlines().index("      symbol: at::add") + 1


@pytest.mark.parametrize("steps, field, words", [
    ("  - title: a\n    narrative: n\n    anchor: {op: x, cpp: y}\n", "steps[1].anchor.cpp", "one kind"),
    ("  - title: a\n    narrative: n\n    anchor: {file: f.cpp, pattern: '('}\n", "steps[1].anchor.pattern",
     "regular expression"),
    ("  - title: a\n    narrative: n\n    anchor: {cpp: x, pattern: 'y'}\n", "steps[1].anchor.pattern", "'file'"),
    ("  - title: a\n    narrative: n\n    anchor: {op: x}\n    requires: gpu\n", "steps[1].requires", "gpu"),
    ("  - title: a\n    narrative: n\n    anchor: {op: x}\n    check: {assert: 'x ==='}\n", "steps[1].check.assert",
     "not valid Python"),
    ("  - title: a\n    narrative: n\n    anchor: {op: x}\n    picture: 'draw_chain(['\n", "steps[1].picture",
     "not valid Python"),
    ("  - title: a\n    narrative: n\n    anchor: {op: x}\n    check: {question: q}\n", "steps[1].check.answer",
     "needs an 'answer'"),
    ("  - title: a\n    narrative: n\n    anchor: {op: x}\n    naration: typo\n", "steps[1].naration",
     "did you mean 'narrative'"),
    ("  - title: a\n    narrative: n\n    anchor: {op: x, show: {before: -1}}\n", "steps[1].anchor.show.before",
     "whole number"),
    ("  - title: a\n    narrative: n\n", "steps[1].anchor", "missing"),
    ("  - title: a\n    title: b\n    narrative: n\n    anchor: {op: x}\n", "title", "duplicate key"),
])
def test_malformed_fields(steps, field, words):
    with pytest.raises(TourLoadError) as ei:
        parse_tour(tour_text(steps), "t.yaml")
    assert ei.value.error.field == field
    assert words in ei.value.error.message
    assert ei.value.error.line > 0


def test_top_level_fields_are_checked():
    with pytest.raises(TourLoadError) as ei:
        parse_tour(tour_text(GOOD_STEPS, id="Bad Id"), "t.yaml")
    assert ei.value.error.field == "id"
    with pytest.raises(TourLoadError) as ei:
        parse_tour(tour_text(GOOD_STEPS, minutes="soon"), "t.yaml")
    assert ei.value.error.field == "minutes"
    with pytest.raises(TourLoadError) as ei:
        parse_tour("- just a list\n", "t.yaml")
    assert "one mapping" in ei.value.error.message


def test_duplicate_ids_in_one_folder_and_user_override(tmp_path):
    (tmp_path / "a.yaml").write_text(tour_text(GOOD_STEPS, id="same"))
    (tmp_path / "b.yaml").write_text(tour_text(GOOD_STEPS, id="same"))
    cat = load_catalog([str(tmp_path)], builtin=False, user=False)
    assert list(cat.tours) == ["same"] and len(cat.errors) == 1 and cat.errors[0].field == "id"
    over = tmp_path / "over"
    over.mkdir()
    (over / "d.yaml").write_text(tour_text(GOOD_STEPS, id="dispatch", title="Mine"))
    cat = load_catalog([str(over)], builtin=True, user=False)
    assert cat.tours["dispatch"].title == "Mine" and cat.notes


def test_user_tours_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text(tour_text(GOOD_STEPS, id="mine"))
    monkeypatch.setenv("TORCHATLAS_TOURS_PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    cat = load_catalog()
    assert "mine" in cat.tours and cat.tours["mine"].origin == "user"


# -- versions -------------------------------------------------------------------------------------

def test_version_matching_and_warning():
    tour = parse_tour(tour_text(GOOD_STEPS, checked_on='["2.6", "2.13"]'), "t.yaml")
    assert tour.checked_on_version("2.6.0a0") and tour.checked_on_version("2.13.0+cpu")
    assert not tour.checked_on_version("2.5.1") and not tour.checked_on_version("2.61.0")
    assert version_note(tour, "2.13.0+cpu") == ""
    note = version_note(tour, "2.5.1")
    assert "checked on torch 2.6, 2.13" in note and "2.5.1" in note


# -- a tiny hand-made index -----------------------------------------------------------------------

NF_TEXT = """\
- func: add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor
  structured_delegate: add.out
  variants: function, method

- func: add.out(Tensor self, Tensor other, *, Scalar alpha=1, Tensor(a!) out) -> Tensor(a!)
  structured: True
"""
DERIV_TEXT = "- name: add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor\n  self: grad\n"
CPP_TEXT = "#pragma once\nnamespace c10 {\nstruct Thing {\n  int x;\n  int y;\n};\n}  // namespace c10\n"
PY_TEXT = "class Module:\n    def __call__(self, x):\n        return x\n\n    def forward(self, x):\n        raise NotImplementedError\n"
KERNEL_TEXT = "// kernels\n\nTORCH_IMPL_FUNC(add_out) (const Tensor& a) {\n  add_stub(a);\n}\n"


@pytest.fixture
def tiny(tmp_path):
    """A checkout-layout tree and an index of it written by hand (no parser, no torch)."""
    from torchatlas.indexes.model import SourceInfo
    from torchatlas.indexes.store import Index, IndexWriter
    root = tmp_path / "tree"
    files = {"aten/src/ATen/native/native_functions.yaml": NF_TEXT, "tools/autograd/derivatives.yaml": DERIV_TEXT,
             "c10/core/Thing.h": CPP_TEXT, "torch/nn/modules/module.py": PY_TEXT,
             "aten/src/ATen/native/cpu/Kernels.cpp": KERNEL_TEXT, "version.txt": "2.99.0\n"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    db = tmp_path / "tiny.sqlite"
    w = IndexWriter(db)
    w.set_meta(source=SourceInfo(kind="tree", root=str(root), version="2.99.0").as_json())
    ids = {}
    for rel in files:
        lang = "cpp" if rel.endswith((".h", ".cpp")) else "python" if rel.endswith(".py") else "yaml"
        ids[rel] = w.con.execute("INSERT INTO files (path, lang, status) VALUES (?, ?, 'ok')", (rel, lang)).lastrowid
    defs = [("c10/core/Thing.h", "Thing", "c10::Thing", "struct", 3, 6, "struct Thing"),
            ("torch/nn/modules/module.py", "Module", "torch.nn.modules.module.Module", "class", 1, 6, ""),
            ("torch/nn/modules/module.py", "__call__", "torch.nn.modules.module.Module.__call__", "method", 2, 3, ""),
            ("torch/nn/modules/module.py", "forward", "torch.nn.modules.module.Module.forward", "method", 5, 6, "")]
    w.con.executemany("INSERT INTO defs VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                      [(ids[p], n, q, k, a, b, s) for p, n, q, k, a, b, s in defs])
    w.con.execute("INSERT INTO code_regs VALUES (?, 'TORCH_IMPL_FUNC', 'add_out', 3, "
                  "'at::native::structured_add_out::impl', NULL, NULL)", (ids["aten/src/ATen/native/cpu/Kernels.cpp"],))
    nf = "aten/src/ATen/native/native_functions.yaml"
    w.add_ops([("aten::add.Tensor", "add", "Tensor", {"op": "aten::add.Tensor", "defined_at": f"{nf}:1"}),
               ("aten::add.out", "add", "out", {"op": "aten::add.out", "defined_at": f"{nf}:5"})])
    w.add_derivatives([("aten::add.Tensor", "AddBackward0", "Default",
                        {"op": "aten::add.Tensor", "node": "AddBackward0",
                         "defined_at": "tools/autograd/derivatives.yaml:1"})])
    w.commit()
    index = Index(db)
    yield AnchorContext.of(index), root, db
    index.close()


def A(kind, target, **kw):
    return Anchor(kind=kind, target=target, **kw)


def test_anchors_resolve_by_name(tiny):
    ctx, _root, _db = tiny
    r = resolve_anchor(A("op", "aten::add.Tensor"), ctx)
    assert (r.status, r.location, r.end_line) == ("resolved", "aten/src/ATen/native/native_functions.yaml:1", 3)
    assert resolve_anchor(A("native_functions", "add.out"), ctx).line == 5
    assert resolve_anchor(A("derivatives", "add.Tensor"), ctx).location == "tools/autograd/derivatives.yaml:1"
    r = resolve_anchor(A("cpp", "c10::Thing"), ctx)
    assert (r.location, r.end_line, r.label) == ("c10/core/Thing.h:3", 6, "struct c10::Thing")
    assert resolve_anchor(A("cpp", "TORCH_IMPL_FUNC(add_out)"), ctx).location == \
        "aten/src/ATen/native/cpu/Kernels.cpp:3"
    # a public alias of a Python definition
    assert resolve_anchor(A("python", "torch.nn.Module.forward"), ctx).location == "torch/nn/modules/module.py:5"
    r = resolve_anchor(A("file", "aten/src/ATen/native/cpu/Kernels.cpp", pattern=r"add_stub\("), ctx)
    assert r.location == "aten/src/ATen/native/cpu/Kernels.cpp:4"


def test_unresolved_anchors_name_the_closest_candidates(tiny):
    ctx, _root, _db = tiny
    r = resolve_anchor(A("op", "aten::add.Tensr"), ctx)
    assert r.status == "unresolved" and "aten::add.Tensor" in r.candidates
    r = resolve_anchor(A("cpp", "c10::Thingy"), ctx)
    assert r.status == "unresolved" and "no C++ definition" in r.reason
    r = resolve_anchor(A("file", "c10/core/Thing.h", pattern="struct Thong"), ctx)
    assert r.status == "unresolved" and any("struct Thing" in c for c in r.candidates)
    r = resolve_anchor(A("derivatives", "add.out"), ctx)
    assert r.status == "unresolved" and "add.Tensor" in r.candidates
    r = resolve_anchor(A("native_functions", "sub.out"), ctx)
    assert r.status == "unresolved"


def test_a_moved_file_is_found_by_name(tiny):
    ctx, _root, _db = tiny
    r = resolve_anchor(A("file", "aten/src/ATen/native/Kernels.cpp", pattern="TORCH_IMPL_FUNC"), ctx)
    assert r.status == "resolved" and r.path == "aten/src/ATen/native/cpu/Kernels.cpp" and "moved" in r.reason


def test_alternatives_and_requires_checkout(tiny):
    ctx, _root, _db = tiny
    step = Step("s", "n", (A("cpp", "nothing::here"), A("cpp", "c10::Thing")))
    r = resolve_step(step, ctx)
    assert r.status == "resolved" and "alternative 2 of 2" in r.reason
    skipped = Step("s", "n", (A("cpp", "c10::Thing"),), requires="checkout")
    assert resolve_step(skipped, ctx).status == "resolved"  # a checkout: it applies
    pkg = AnchorContext(index=ctx.index, root=ctx.root, layout="package")
    r = resolve_step(skipped, pkg)
    assert r.status == "skipped" and "needs a checkout" in r.reason


def test_layout_path_mapping():
    assert layout_paths("aten/src/ATen/core/Tensor.h", "package")[-1] == "torch/include/ATen/core/Tensor.h"
    assert layout_paths("c10/core/TensorImpl.h", "package")[-1] == "torch/include/c10/core/TensorImpl.h"
    assert layout_paths("tools/autograd/derivatives.yaml", "package")[-1] == \
        "torchgen/packaged/autograd/derivatives.yaml"
    assert layout_paths("torch/include/torch/csrc/autograd/engine.h", "checkout")[-1] == \
        "torch/csrc/autograd/engine.h"
    assert layout_paths("torch/nn/modules/module.py", "package") == ["torch/nn/modules/module.py"]


def test_check_reports_every_step(tiny):
    ctx, _root, _db = tiny
    tour = parse_tour(tour_text("""\
      - title: ok
        narrative: n
        anchor: {op: aten::add.Tensor}
      - title: missing
        narrative: n
        anchor: {cpp: does::not::exist}
      - title: only in a checkout
        narrative: n
        requires: checkout
        anchor: {cpp: c10::Thing}
    """), "t.yaml")
    reports = check_tours([tour], ctx)
    assert [r.resolution.status for r in reports] == ["resolved", "unresolved", "resolved"]
    pkg = AnchorContext(index=ctx.index, root=ctx.root, layout="package")
    reports = check_tours([tour], pkg)
    counts = summarize(reports)
    # a checkout-only step on the package shows what the package ships where an anchor resolves there
    assert (counts["resolved"], counts["unresolved"], counts["skipped"]) == (2, 1, 0)
    assert "the installed package has no .cpp files" in reports[2].resolution.reason


# -- the snippet runner ---------------------------------------------------------------------------


# -- progress -------------------------------------------------------------------------------------

def test_progress_is_saved_and_resumed(tmp_path):
    path = tmp_path / "p.json"
    p = Progress(path)
    assert p.get("dispatch").step == 1
    p.mark_seen("dispatch", 1, 3)
    p.mark_seen("dispatch", 2, 3)
    p.save()
    q = Progress(path)
    assert q.get("dispatch").step == 3 and q.get("dispatch").seen == [1, 2] and not q.get("dispatch").finished
    q.mark_seen("dispatch", 3, 3)
    assert q.get("dispatch").finished


def test_a_corrupt_progress_file_starts_afresh(tmp_path):
    path = tmp_path / "p.json"
    path.write_text("{not json")
    p = Progress(path)
    assert p.warning and p.get("x").step == 1


# -- the CLI --------------------------------------------------------------------------------------

def cli(*args, env_extra=None, tmp_path=None, input=None):
    import os
    env = dict(os.environ)
    env["TORCHATLAS_STATE_DIR"] = str(tmp_path / "state") if tmp_path else env.get("TORCHATLAS_STATE_DIR", "")
    env.pop("TORCHATLAS_TOURS_PATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "torchatlas.cli", "tours", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120, input=input if input is not None else "")


def test_cli_show_unknown_tour_suggests(tmp_path):
    out = cli("show", "dispach", tmp_path=tmp_path)
    assert out.returncode == 1 and "no tour named 'dispach'" in out.stderr and "dispatch" in out.stderr


def test_cli_needs_an_action(tmp_path):
    out = cli(tmp_path=tmp_path)
    assert out.returncode == 2 and "needs an action" in out.stderr


def test_tours_do_not_import_torch():
    code = ("import sys, torchatlas.tours.cli, torchatlas.tours.engine, torchatlas.tours.anchors, "
            "torchatlas.tours.runner; print([m for m in ('torch', 'textual') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_tour_value_is_frozen():
    tour = parse_tour(tour_text(GOOD_STEPS), "t.yaml")
    assert isinstance(tour, Tour)
    with pytest.raises(Exception):
        tour.id = "other"  # type: ignore[misc]


# -- checked questions, exercises, versions, focus (the teaching part of a tour) ------------------

ASSET_TOURS = Path(__file__).resolve().parents[1] / "assets" / "tours"


def load_error(steps: str) -> TourError:
    with pytest.raises(TourLoadError) as e:
        parse_tour(tour_text(steps), "t.yaml")
    return e.value.error


def line_of(steps: str, needle: str) -> int:
    """The line of `needle` in the tour file tour_text(steps) writes."""
    return next(i for i, ln in enumerate(tour_text(steps).splitlines(), 1) if needle in ln)


@pytest.mark.parametrize("quiz, field, message, needle", [
    ('- {ask: "Which?", choices: [A, B], answer: C}', "steps[1].quiz[1].answer", "answer 'C' is not one of the "
     "choices", "ask:"),
    ('- {ask: "What?", answer: x}', "steps[1].quiz[1]", "exactly one of 'predict'", "ask:"),
    ('- {ask: "What?", predict: "print(1)", choices: [a, b], answer: a}', "steps[1].quiz[1]",
     "this one has predict and choices", "ask:"),
    ('- {ask: "What?", choices: [a, b], answer: a, wrong: [b]}', "steps[1].quiz[1].wrong",
     "'wrong' goes with an 'expect' question only", "ask:"),
    ('- {ask: "What?", expect: "answer ==", answer: a}', "steps[1].quiz[1].expect", "not valid an expression",
     "ask:"),
    ('- {ask: "What?", choices: [a], answer: a}', "steps[1].quiz[1].choices", "at least 2", "ask:"),
    ('- {ask: "What?", expect: "answer == \'a\'", answer: a, wrong: [a]}', "steps[1].quiz[1].wrong",
     "both the answer and a wrong answer", "ask:"),
])
def test_quiz_errors_name_the_line_and_the_field(quiz, field, message, needle):
    steps = f"""\
      - title: one
        narrative: text
        anchor: {{op: aten::add.Tensor}}
        quiz:
          {quiz}
    """
    err = load_error(steps)
    assert err.field == field and message in err.message, str(err)
    assert err.line == line_of(steps, needle)
    assert f"t.yaml:{err.line}: [{field}]" in str(err)


def test_exercise_version_and_focus_errors():
    base = "  - title: one\n    narrative: text\n    anchor: {op: aten::add.Tensor}\n"
    err = load_error(base + "    exercise: {file: my-fn.py, task: t, test: 'x = 1', solution: 'y = 2'}\n")
    assert err.field == "steps[1].exercise.file" and "imports as a module" in err.message
    err = load_error(base + "    exercise: {file: f.py, task: t, test: 'x = 1'}\n")
    assert err.field == "steps[1].exercise.solution" and "missing" in err.message
    err = load_error(base + "    exercise: {file: f.py, task: t, test: 'def (', solution: 'y = 2'}\n")
    assert err.field == "steps[1].exercise.test" and "not valid Python" in err.message
    twice = "    exercise: {file: f.py, task: t, test: 'x = 1', solution: 'y = 2'}\n"
    err = load_error(base + twice + base + twice)
    assert err.field == "steps[2].exercise.file" and "also the scratch file of step 1" in err.message
    err = load_error(base + "    since: 2.10\n")
    assert err.field == "steps[1].since" and 'in quotes: since: "2.1"' in err.message
    err = load_error(base + '    since: "2.5"\n    until: "2.1"\n')
    assert err.field == "steps[1].until" and "before 'since'" in err.message
    err = load_error("  - title: one\n    narrative: text\n    anchor: {op: aten::add.Tensor, show: {focus: '('}}\n")
    assert err.field == "steps[1].anchor.show.focus" and "regular expression" in err.message


def test_the_test_tour_loads_with_its_questions_and_exercises():
    tour = load_catalog([str(ASSET_TOURS)], builtin=False, user=False).tours["quizzed"]
    assert (tour.questions, tour.exercises) == (4, 2)
    q1, q2, q3 = tour.steps[0].quiz
    assert (q1.kind, q2.kind, q3.kind) == ("predict", "choices", "expect")
    assert q2.choices == ("AutogradCPU", "CPU", "Python") and q3.wrong == ("4", "three")
    assert tour.steps[2].exercise.file == "doubler.py" and tour.steps[2].exercise.timeout == 60


def test_predicted_output_is_compared_exactly_up_to_whitespace():
    from torchatlas.tours.quiz import predict_right
    live = "(12, 4, 1)\n"
    assert predict_right("(12, 4, 1)", live) and predict_right("(12,4,1)", live) and predict_right("  (12,  4, 1) ", live)
    assert not predict_right("(12, 4, 2)", live)  # one digit off
    assert not predict_right("(1, 4, 12)", live)  # reversed
    assert not predict_right("stride (12, 4, 1)", live) and not predict_right("12 4 1", live)
    assert not predict_right("", "") and not predict_right("(12, 4, 1))", live)
    assert predict_right("torch.Size([2, 3]) 6", "torch.Size([2, 3])\n6\n")  # lines: whitespace too


def test_choices_by_text_number_or_letter():
    from torchatlas.tours.quiz import Grader, choice_index
    q = parse_tour(tour_text("""\
      - title: one
        narrative: text
        anchor: {op: aten::add.Tensor}
        quiz:
          - {ask: "Which?", choices: ["AutogradCPU", "CPU", "Python"], answer: "CPU", why: "because"}
    """), "t.yaml").steps[0].quiz[0]
    for right in ("CPU", " cpu ", "2", "b", "B", "(b)", "2."):
        g = Grader().grade(q, right)
        assert g.right and g.expected == "2. CPU" and g.why == "because", right
    for wrong in ("AutogradCPU", "1", "a", "c", "4", "e", "", "CPU or Python"):
        assert not Grader().grade(q, wrong).right, wrong
    numbers = q.__class__(ask="?", kind="choices", answer="1", choices=("2", "1"))
    assert choice_index(numbers, "1") == 1  # a choice's own text wins over its number


def test_expect_checks_and_their_proof():
    from torchatlas.tours.quiz import Grader, verify_questions
    tour = parse_tour(tour_text("""\
      - title: one
        narrative: text
        anchor: {op: aten::add.Tensor}
        quiz:
          - {ask: "How many?", expect: "int(answer) == 3", answer: "3", wrong: ["4", "three"]}
          - {ask: "Loose", expect: "len(answer) > 0", answer: "3", wrong: ["4"]}
          - {ask: "Liar", expect: "answer == 'x'", answer: "y"}
    """), "t.yaml")
    honest, loose, liar = tour.steps[0].quiz
    g = Grader()
    assert g.grade(honest, "3").right and g.grade(honest, " 3\n").right
    assert not g.grade(honest, "4").right and not g.grade(honest, "three").right and not g.grade(honest, "").right
    checks = verify_questions([honest, loose, liar])
    assert [c.ok for c in checks] == [True, False, False]
    assert "accepts the wrong answer '4'" in checks[1].detail
    assert "rejects the tour's answer 'y'" in checks[2].detail


def test_versions_skip_a_step_with_the_reason(tiny):
    from torchatlas.tours.showing import resolve
    ctx, _root, _db = tiny  # torch 2.99.0
    old = Step("s", "n", (A("cpp", "c10::Thing"),), until="2.5")
    r = resolve(old, ctx)
    assert r.status == "skipped" and r.reason == "applies to torch <= 2.5; this source is 2.99.0"
    new = Step("s", "n", (A("cpp", "c10::Thing"),), since="3.1")
    assert resolve(new, ctx).reason == "applies to torch >= 3.1; this source is 2.99.0"
    assert resolve(Step("s", "n", (A("cpp", "c10::Thing"),), since="2.1", until="2.99"), ctx).status == "resolved"
    assert Step("s", "n", (), since="2.1").applies_to("1.13.1") == "applies to torch >= 2.1; this source is 1.13.1"
    assert Step("s", "n", (), since="2.1").applies_to("2.1.0a0+git12") == ""
    reports = check_tours([Tour("t", "T", "x", 1, (old,))], ctx)
    assert summarize(reports)["skipped"] == 1 and summarize(reports)["unresolved"] == 0


def test_focus_centres_the_excerpt_inside_the_definition(tiny):
    from torchatlas.tours.anchors import excerpt
    from torchatlas.tours.showing import resolve
    ctx, _root, _db = tiny
    step = Step("s", "n", (A("cpp", "c10::Thing", show=Show(before=0, after=1, focus=r"int y")),))
    r = resolve(step, ctx)
    ex = excerpt(r, ctx)
    assert r.line == 5 and ex.anchor_line == 5 and [ln for ln, _t in ex.lines] == [5, 6]
    nowhere = Step("s", "n", (A("cpp", "c10::Thing", show=Show(focus=r"namespace")),))  # outside the struct
    r = resolve(nowhere, ctx)
    assert r.line == 3 and "matches no line of c10/core/Thing.h:3-6" in r.reason


def test_checkout_only_steps_on_the_package_link_to_github(tiny):
    from torchatlas.tours.showing import resolve
    ctx, root, _db = tiny
    (root / "torch").mkdir(exist_ok=True)
    (root / "torch" / "version.py").write_text("__version__ = '2.99.0'\ngit_version = 'cf30153c4c131c8164ee7798e5022d810682e2cb'\n")
    pkg = AnchorContext(index=ctx.index, root=ctx.root, layout="package")
    gone = Step("s", "n", (A("file", "aten/src/ATen/native/Missing.cpp", pattern="x"),), requires="checkout")
    r = resolve(gone, pkg)
    assert r.status == "skipped" and r.link == ("https://github.com/pytorch/pytorch/blob/"
                                                "cf30153c4c131c8164ee7798e5022d810682e2cb/aten/src/ATen/native/Missing.cpp")
    header = Step("s", "n", (A("file", "aten/src/ATen/native/Missing.cpp"), A("cpp", "c10::Thing")), requires="checkout")
    r = resolve(header, pkg)
    assert r.status == "resolved" and r.path == "c10/core/Thing.h" and "installed package" in r.reason


def test_check_warns_about_backquoted_names_missing_from_the_excerpt(tiny):
    from torchatlas.tours.engine import named_identifiers
    ctx, _root, _db = tiny
    tour = load_catalog([str(ASSET_TOURS)], builtin=False, user=False).tours["quizzed"]
    first, second = check_tours([tour], ctx)[:2]
    assert first.missing == ()  # `add.Tensor` is in the excerpt, `NoSuchNameAnywhere` not in the definition
    assert second.missing == ("Thing",)  # in the struct, but the focused excerpt is its line 4 only
    assert [ln for ln, _t in second.excerpt.lines] == [4]
    assert named_identifiers("`kernel.template call` and `computeDispatchTable()` but not `(12, 4, 1)`, `x = 1`, "
                             "`torchatlas tours check`, `None`") == ["kernel.template call", "computeDispatchTable"]
    assert summarize([first, second])["missing_identifier_warnings"] == 1


def test_a_step_is_done_when_its_questions_and_exercise_are(tmp_path):
    tour = load_catalog([str(ASSET_TOURS)], builtin=False, user=False).tours["quizzed"]
    p = Progress(tmp_path / "p.json")
    for i in range(1, 5):
        p.mark_seen("quizzed", i, 4)
    assert p.get("quizzed").done_steps(tour) == []
    p.record_answer("quizzed", 1, 1, "(12,4,1)", True)
    p.record_answer("quizzed", 1, 2, "b", False)
    p.record_answer("quizzed", 1, 3, "", False, revealed=True)
    p.record_answer("quizzed", 2, 1, "[3, 2, 1]", True)
    p.record_exercise("quizzed", 3, False)
    p.save()
    q = Progress(tmp_path / "p.json").get("quizzed")
    assert q.done_steps(tour) == [2] and q.question_state(1, 2) == "wrong"
    p.record_answer("quizzed", 1, 2, "a", True)
    p.record_answer("quizzed", 1, 2, "b", False)  # a right answer stays right
    p.record_exercise("quizzed", 3, True)
    p.record_exercise("quizzed", 3, False)  # and a passed exercise stays passed
    assert p.get("quizzed").done_steps(tour) == [1, 2, 3]


# -- needs: modules a tour's code imports beyond torch ----------------------------------------------

def test_needs_lists_modules_and_a_bad_name_is_an_error_with_its_line():
    tour = parse_tour(tour_text(GOOD_STEPS, needs="[onnxscript, onnx.reference]"), "t.yaml")
    assert tour.needs == ("onnxscript", "onnx.reference")
    with pytest.raises(TourLoadError) as e:
        parse_tour(tour_text(GOOD_STEPS, needs='[onnxscript, "pip install onnx"]'), "t.yaml")
    err = e.value.error
    assert err.field == "needs" and "'pip install onnx' is not a Python module name" in err.message
    assert err.line == next(i for i, ln in enumerate(tour_text(GOOD_STEPS, needs="x").splitlines(), 1)
                            if ln.startswith("needs:"))


def test_missing_needs_are_named_with_the_install_command_and_the_tour_is_not_run():
    from torchatlas.tours.runner import missing_modules, needs_note
    assert missing_modules(("json", "torchatlas_no_such_module")) == ("torchatlas_no_such_module",)
    assert missing_modules(()) == ()
    note = needs_note("t", ("torchatlas_no_such_module",))
    assert "imports torchatlas_no_such_module" in note and "-m pip install torchatlas_no_such_module" in note
    steps = """\
      - title: one
        narrative: text
        anchor: {op: aten::add.Tensor}
        run: "raise SystemExit(3)"
    """
    tour = parse_tour(tour_text(steps, needs="[torchatlas_no_such_module]"), "t.yaml")
    skipped = check_tours([tour], None, run=True, not_run=frozenset({"t"}))
    assert skipped[0].run is None  # not run: its code would only fail on the import
    ran = check_tours([tour], None, run=True)
    assert ran[0].run is not None and ran[0].run.returncode == 3
