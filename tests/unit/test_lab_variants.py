"""A lab's checkout variant (`checkout/lab.yaml`): loaded with the lab, reported by file and line
when malformed, and chosen only on a checkout whose release is the installed torch's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from torchatlas.contrib.loader import load_labs
from torchatlas.contrib.model import BuildMode
from torchatlas.contrib.variants import for_source, for_workspace, release

ASSETS = Path(__file__).parent.parent / "assets" / "labs"

VARIANT_YAML = """\
id: square
title: Square, on the checkout's own file
theme: 3
difficulty: beginner
minutes: 5
mode: native
summary: fix the checkout's kernel
task: Fix it.
hints: [look at the diagonal]
edits: [aten/src/ATen/native/Sq.cpp]
build:
  name: lab_sq
  sources: [aten/src/ATen/native/Sq.cpp, lab/reg.cpp]
checks:
  - checks/test_sq.py
  - file: checks/test_hidden.py
    hidden: true
"""


def _labs_with_variant(tmp_path: Path, variant_yaml: str = VARIANT_YAML) -> Path:
    root = tmp_path / "labs"
    shutil.copytree(ASSETS / "square", root / "square")
    v = root / "square" / "checkout"
    shutil.copytree(ASSETS / "square" / "checks", v / "checks")
    for name in ("starter.patch", "solution.patch"):
        shutil.copy(ASSETS / "square" / name, v / name)
    (v / "lab.yaml").write_text(variant_yaml)
    return root


def test_the_variant_loads_with_its_lab(tmp_path):
    cat = load_labs([str(_labs_with_variant(tmp_path))], builtin=False)
    assert not cat.errors, cat.errors
    lab = cat.labs["square"]
    assert lab.variant == "" and lab.mode is BuildMode.PYTHON
    v = lab.on_checkout
    assert v is not None and v.variant == "checkout" and v.id == "square" and v.mode is BuildMode.NATIVE
    assert v.folder == lab.folder / "checkout" and v.starter_patch == lab.folder / "checkout" / "starter.patch"
    assert v.build.sources == ("aten/src/ATen/native/Sq.cpp", "lab/reg.cpp")


@pytest.mark.parametrize("change, line, words", [
    (("id: square", "id: cube"), 1, "differs from its folder's name 'square'"),
    (("mode: native", "mode: turbo"), 6, "unknown mode 'turbo'"),
    (("build:\n  name: lab_sq\n  sources: [aten/src/ATen/native/Sq.cpp, lab/reg.cpp]\n", ""), 0, "needs 'build'"),
])
def test_a_bad_variant_is_reported_at_its_own_file_and_line(tmp_path, change, line, words):
    root = _labs_with_variant(tmp_path, VARIANT_YAML.replace(*change))
    cat = load_labs([str(root)], builtin=False)
    assert "square" not in cat.labs, "a lab whose variant is malformed must not load half"
    [err] = cat.errors
    assert err.path.endswith("square/checkout/lab.yaml") and words in err.message, str(err)
    if line:
        assert err.line == line, str(err)


def test_release_reads_the_three_numbers():
    assert release("2.6.0+cu124") == release("2.6.0a0") == release("2.6.0") == "2.6.0"
    assert release("2.6.1") != release("2.6.0")
    assert release("unknown") == "" and release("") == ""


def test_the_variant_runs_only_on_a_checkout_of_the_installed_release(tmp_path):
    lab = load_labs([str(_labs_with_variant(tmp_path))], builtin=False).labs["square"]
    chosen, note = for_source(lab, "checkout", "2.6.0a0", "2.6.0+cu124")
    assert chosen is lab.on_checkout and "aten/src/ATen/native/Sq.cpp" in note
    chosen, note = for_source(lab, "checkout", "2.7.0a0", "2.6.0+cu124")
    assert chosen is lab and "torch==2.7.0" in note and "2.6.0+cu124" in note
    assert for_source(lab, "package", "2.6.0", "2.6.0") == (lab, "")  # the installed torch has no aten/ sources
    assert for_source(lab, "checkout", "unknown", "unknown")[0] is lab  # no release to compare
    assert for_source(lab, "checkout", "2.6.0", None)[0] is lab  # no torch installed
    plain = load_labs([str(ASSETS)], builtin=False).labs["square"]
    assert for_source(plain, "checkout", "2.6.0", "2.6.0") == (plain, "")


def test_a_workspace_keeps_the_variant_it_was_started_with(tmp_path):
    lab = load_labs([str(_labs_with_variant(tmp_path))], builtin=False).labs["square"]
    assert for_workspace(lab, "checkout") is lab.on_checkout
    assert for_workspace(lab, "") is lab
    plain = load_labs([str(ASSETS)], builtin=False).labs["square"]
    assert for_workspace(plain, "checkout") is plain
