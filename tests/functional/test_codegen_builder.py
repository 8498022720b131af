"""The codegen builder on a workspace-shaped folder (a copy of the installed torchgen): real
torchgen runs, YAML mistakes as Diagnostics at file:line, nothing half-written, the pristine
generation made once under a lock, and a derivatives.yaml edit that keeps the ATen output."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from torchatlas.contrib.builders import codegen
from torchatlas.contrib.builders.base import BuildFailed

NF = "torchgen/packaged/ATen/native/native_functions.yaml"
DY = "torchgen/packaged/autograd/derivatives.yaml"

NEW_OP = """\
- func: squareplus.out(Tensor self, Scalar b=4, *, Tensor(a!) out) -> Tensor(a!)
  structured: True
  structured_inherits: TensorIteratorBase
  dispatch:
    CPU: squareplus_out

- func: squareplus(Tensor self, Scalar b=4) -> Tensor
  structured_delegate: squareplus.out
  variants: function, method

"""
DERIVATIVE = """\
- name: squareplus(Tensor self, Scalar b=4) -> Tensor
  self: grad * 0.5 * (1 + self / (self * self + b).sqrt())
  result: auto_element_wise

"""


@pytest.fixture
def ws(tmp_path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(codegen.installed_torchgen(), root / "torchgen", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _insert(path: Path, before: str, text: str) -> int:
    """Insert text before the line starting with `before`; the 1-based line of the insertion."""
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith(before))
    lines[at:at] = [text]
    path.write_text("".join(lines))
    return at + 1


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


def test_yaml_mistake_is_a_diagnostic_at_the_line_and_nothing_is_written(ws):
    line = _insert(ws / NF, "- func: hardshrink_backward.grad_input", NEW_OP.replace("Scalar b=4) -> Tensor\n", "Scalr b=4) -> Tensor\n"))
    with pytest.raises(codegen.GenerationFailed) as e:
        codegen.run_torchgen(ws / "torchgen", ws / "out", timeout=120)
    d = e.value.diagnostics[0]
    assert (d.file, d.line) == (NF, line + 6), e.value.diagnostics
    assert "unrecognized type Scalr" in d.message and "squareplus(Tensor self, Scalr b=4)" in d.message
    assert len(e.value.diagnostics) == 1, "ATen and autograd report the same mistake once"
    assert not (ws / "out").exists() and not _leftovers(ws)


def test_yaml_syntax_error_names_pyyaml_problem(ws):
    line = _insert(ws / DY, "- name: hardshrink_backward(", "- name: [broken\n")
    with pytest.raises(codegen.GenerationFailed) as e:
        codegen.run_torchgen(ws / "torchgen", ws / "out", aten=False, timeout=120)
    d = e.value.diagnostics[0]
    assert d.file == DY and d.line in (line, line + 1) and d.column > 0, d
    assert "while parsing" in d.message


def test_derivative_of_an_unknown_schema_points_at_its_entry(ws):
    line = _insert(ws / DY, "- name: hardshrink_backward(", DERIVATIVE)
    with pytest.raises(codegen.GenerationFailed) as e:
        codegen.run_torchgen(ws / "torchgen", ws / "out", aten=False, timeout=120)
    d = e.value.diagnostics[0]
    assert (d.file, d.line) == (DY, line), d
    assert "could not find ATen function for schema: squareplus(Tensor self, Scalar b=4) -> Tensor" in d.message


def test_timeout_stops_torchgen_and_leaves_the_output_as_it_was(ws):
    (ws / "out" / "aten").mkdir(parents=True)
    (ws / "out" / "aten" / "keep.h").write_text("old")
    with pytest.raises(BuildFailed, match="did not finish"):
        codegen.run_torchgen(ws / "torchgen", ws / "out", timeout=0.5)
    assert (ws / "out" / "aten" / "keep.h").read_text() == "old"
    assert not _leftovers(ws)


def test_pristine_is_generated_once_under_a_lock(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []

    def fake(root, out, **kw):
        calls.append(out)
        time.sleep(0.5)  # the second caller arrives while this one holds the lock
        (out / "aten").mkdir(parents=True)

    monkeypatch.setattr(codegen, "run_torchgen", fake)
    got = []
    threads = [threading.Thread(target=lambda: got.append(codegen.pristine_output(ws / "torchgen"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(got)) == 1 and len(got) == 2
    assert got[0].parent == tmp_path / "cache" / "torchatlas" / "labs" / "torchgen"
    assert (got[0] / "stamp.json").is_file()
    assert codegen.pristine_output(ws / "torchgen") == got[0] and len(calls) == 1


@pytest.mark.slow_lab  # compiles / runs torchgen for real: the slow group
def test_build_generates_diffs_caches_and_keeps_aten_on_a_derivative_edit(ws):
    _insert(ws / NF, "- func: hardshrink_backward.grad_input", NEW_OP)
    _insert(ws / DY, "- name: hardshrink_backward(", DERIVATIVE)
    r = codegen.build(None, ws)
    assert r.ok, r.diagnostics or r.log[-2000:]
    out = ws / ".lab/build/codegen/out"
    env = r.env()
    assert env["TORCHATLAS_LAB_GEN"] == str(out) and Path(env["TORCHATLAS_LAB_PRISTINE"]).is_dir()
    assert (out / "aten/ops/squareplus_meta.h").is_file()
    assert "+ headers aten/ops/squareplus{.h," in r.summary and "+ kernels of squareplus at CPU, Meta" in r.summary
    assert "+ kernels of squareplus.out at CPU, Meta" in r.summary
    assert "+ autograd node SquareplusBackward0" in r.summary and "(self * self + b).sqrt()" in r.summary

    again = codegen.build(None, ws)
    assert again.ok and again.cached and again.summary == r.summary and again.seconds < 2

    text = (ws / DY).read_text().replace("(1 + self / (self * self + b).sqrt())", "(1 + self * (self * self + b).rsqrt())")
    (ws / DY).write_text(text)
    said = []
    edited = codegen.build(None, ws, progress=said.append)
    assert edited.ok and not edited.cached
    assert any("keeping the aten output" in s for s in said), said
    assert "(self * self + b).rsqrt()" in edited.summary and (out / "aten/ops/squareplus_meta.h").is_file()

    (ws / NF).write_text((ws / NF).read_text().replace("structured_delegate: squareplus.out", "structured_delegate: squareplus.outt"))
    bad = codegen.build(None, ws)
    assert not bad.ok and bad.diagnostics[0].file == NF and "squareplus.outt is missing" in bad.diagnostics[0].message
    assert not (ws / ".lab/build/codegen/stamp.json").exists()


def test_a_comment_only_change_links_the_pristine_output(ws):
    # the pristine generation is made once per torch (by whichever test or lab asks first): made here
    # if this test runs first, so what is measured below is the workspace's own build
    codegen.pristine_output(codegen.installed_torchgen())
    _insert(ws / NF, "- func: hardshrink_backward.grad_input", "# TODO: declare an operator here\n\n")
    said = []
    r = codegen.build(None, ws, progress=said.append)
    assert r.ok and not r.cached, r.diagnostics
    assert not any(s.startswith("torchgen: generating") for s in said), said
    assert sum("linking its" in s for s in said) == 2, said
    assert "exactly what the pristine YAML generates" in r.summary and r.seconds < 15


def test_a_recent_generation_is_linked_into_another_workspace(ws, tmp_path, monkeypatch):
    """Two workspaces with the same YAML (lab dev check's solution and its variants; CI reruns):
    the second links the first one's output instead of running torchgen."""
    monkeypatch.setattr(codegen, "_recent_dir", lambda: tmp_path / "recent")
    other = tmp_path / "other"
    shutil.copytree(ws, other)
    for root in (ws, other):  # a derivatives.yaml edit: the ATen part comes from the pristine output
        text = (root / DY).read_text()
        (root / DY).write_text(text.replace("  self: hardshrink_backward(grad, self, lambd)\n",
                                            "  self: hardshrink_backward(grad, self, lambd) * 1\n", 1))
    first = codegen.build(None, ws)
    assert first.ok, first.diagnostics
    said = []
    second = codegen.build(None, other, progress=said.append)
    assert second.ok and second.summary == first.summary
    assert not any(s.startswith("torchgen: generating") for s in said), said
    assert any("as in a recent build: linking its autograd output" in s for s in said), said
    assert not (other / ".lab/build/codegen/.recalled").exists()
