"""libclang on demand: precise answers for one symbol, and the fallback when clang is unavailable."""

from __future__ import annotations

import sys

import pytest

from torchatlas.indexes.pipeline import build_index
from torchatlas.indexes.precise import compile_flags, precise
from torchatlas.indexes.sources import open_source
from torchatlas.indexes.store import Index


@pytest.fixture(scope="module")
def tree_index(tree_db):
    idx = Index(tree_db)
    yield idx
    idx.close()


def test_libclang_resolves_callees_with_types(tree_index):
    pytest.importorskip("clang.cindex", reason="libclang is a declared dependency; install it to run this")
    a = precise(tree_index, "at::native::mul_kernel")
    assert a.engine == "libclang", a.note
    assert a.signature.startswith("void at::native::") and "TensorIteratorBase" in a.signature
    names = {c.name for c in a.callees}
    assert "at::TensorIteratorBase::common_dtype" in names
    assert any(m.startswith("AT_DISPATCH") or m.startswith("_AT_DISPATCH") for m in a.macros)


def test_falls_back_to_the_bulk_index_without_libclang(tree_index, monkeypatch):
    monkeypatch.setitem(sys.modules, "clang.cindex", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "clang", None)
    a = precise(tree_index, "at::native::structured_mul_out::impl")
    assert a.engine.startswith("tree-sitter") and "libclang is not installed" in a.note
    assert "mul_stub" in {c.name for c in a.callees}


def test_flags_derived_from_a_checkout(source_tree):
    flags, origin = compile_flags(source_tree, "checkout", "aten/src/ATen/native/cpu/BinaryOpsKernel.cpp")
    assert f"-I{source_tree}/aten/src" in flags and "-std=c++17" in flags and "derived" in origin


def test_signatures_keep_qualifiers_rows_are_unique_and_paths_short(installed_index):
    """`precise` on the installed headers: `const` kept, one row per callee with its count, system
    headers named as an #include names them (not /../lib/gcc/...)."""
    pytest.importorskip("clang.cindex", reason="libclang is a declared dependency; install it to run this")
    from torchatlas.indexes.precise import precise
    a = precise(installed_index, "c10::TensorImpl::sizes")
    if a.engine != "libclang":
        pytest.skip(f"libclang could not parse here: {a.note}")
    assert a.signature.endswith(") const"), a.signature
    b = precise(installed_index, "_check_layer_norm_inputs")
    names = [c.name for c in b.callees]
    assert len(names) == len(set(names)), names
    assert any(c.count > 1 for c in b.callees)
    assert not [c.declared_at for c in a.callees + b.callees if c.declared_at and "/../" in c.declared_at]
