"""Tours: the format, bad input, the anchor resolver on a tiny hand-made index, the snippet runner,
progress, and the CLI's exit codes. Hermetic except the runner tests (a Python subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from torchatlas.tours.anchors import AnchorContext, layout_paths, resolve_anchor, resolve_step
from torchatlas.tours.engine import check_tours, summarize, version_note
from torchatlas.tours.loader import BUILTIN_DIR, load_catalog, parse_tour, TourLoadError
from torchatlas.tours.model import Anchor, Step, Tour
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
    counts = summarize(check_tours([tour], pkg))
    assert (counts["resolved"], counts["unresolved"], counts["skipped"]) == (1, 1, 1)


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

def cli(*args, env_extra=None, tmp_path=None):
    import os
    env = dict(os.environ)
    env["TORCHATLAS_STATE_DIR"] = str(tmp_path / "state") if tmp_path else env.get("TORCHATLAS_STATE_DIR", "")
    env.pop("TORCHATLAS_TOURS_PATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "torchatlas.cli", "tours", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


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
