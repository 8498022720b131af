"""The v2.6.0 tree (TORCHATLAS_TEST_SOURCE): a checkout indexes, and its C++ is used."""

from __future__ import annotations

import shutil

import pytest

from torchatlas.indexes.pipeline import build_index
from torchatlas.indexes.sources import open_source
from torchatlas.indexes.store import Index


@pytest.fixture(scope="module")
def tree_index(tree_db):
    idx = Index(tree_db)
    yield idx, idx.problems()
    idx.close()


def test_checkout_is_recognised(source_tree):
    s = open_source(str(source_tree))
    assert s.layout == "checkout" and s.info.version.startswith("2.6")


def test_yaml_read_by_the_trees_torchgen(tree_index, source_tree):
    idx, problems = tree_index
    assert idx.meta["yaml_reader"] == "torchgen"
    rec = idx.op("aten::add.Tensor")
    path, line = rec["defined_at"].rsplit(":", 1)
    assert path == "aten/src/ATen/native/native_functions.yaml"
    text = (source_tree / path).read_text().splitlines()[int(line) - 1]
    assert text.startswith("- func: add.Tensor(")
    ag = rec["autograd"]
    dpath, dline = ag["formula_at"].rsplit(":", 1)
    assert ag["node"] == "AddBackward0"
    assert (source_tree / dpath).read_text().splitlines()[int(dline) - 1].startswith("- name: add.Tensor(")
    assert not [p for p in problems if p.severity == "error"]


def test_hand_written_cpp_registrations_and_fallbacks_come_from_the_tree(tree_index):
    idx, _ = tree_index
    e = idx.dispatch("aten::quantized_lstm.input", ["CPU"])["CPU"]
    assert (e.kind, e.registered_in, e.kernel) == ("kernel", "aten/src/ATen/native/RNN.cpp", "quantized_lstm_input")
    fb = idx.dispatch("aten::add.Tensor", ["AutogradMeta"])["AutogradMeta"]
    assert fb.kind == "autograd"
    meta = idx.dispatch("aten::nonzero", ["Meta"])["Meta"]
    assert meta.registered_in in ("torch/_meta_registrations.py", "aten/src/ATen/core/MetaFallbackKernel.cpp",
                                  "RegisterMeta.cpp")
    manual = idx.dispatch("aten::detach", ["AutogradCPU"])["AutogradCPU"]
    assert manual.registered_in == "torch/csrc/autograd/VariableTypeManual.cpp"


def test_defined_at_points_at_the_kernel(tree_index, source_tree):
    idx, _ = tree_index
    e = idx.dispatch("aten::add.Tensor", ["SparseCPU"])["SparseCPU"]
    path, line = e.defined_at.rsplit(":", 1)
    assert "add_sparse" in (source_tree / path).read_text().splitlines()[int(line) - 1]


def test_old_tree_without_torchgen_uses_the_fallback_reader(source_tree, tmp_path):
    root = tmp_path / "old"
    (root / "aten/src/ATen/native").mkdir(parents=True)
    (root / "tools/autograd").mkdir(parents=True)
    shutil.copy(source_tree / "aten/src/ATen/native/native_functions.yaml", root / "aten/src/ATen/native/")
    shutil.copy(source_tree / "tools/autograd/derivatives.yaml", root / "tools/autograd/")
    (root / "version.txt").write_text("1.9.0\n")
    db = tmp_path / "old.sqlite"
    summary = build_index(open_source(str(root)), db)
    idx = Index(db)
    assert idx.meta["yaml_reader"] == "fallback"
    assert any("fallback" in p.message for p in summary.problems)
    assert idx.count("ops") > 2500
    cpu = idx.dispatch("aten::mm", ["CPU"])["CPU"]
    assert cpu.kind == "kernel" and cpu.registered_in == "RegisterCPU.cpp"
