"""What torchgen's ATen generator made of the squareplus entries: per-op headers, schemas, the
C++ API (function and method), and the structured kernel classes.

Reads the generated files (TORCHATLAS_LAB_GEN, the workspace's generation; TORCHATLAS_LAB_PRISTINE,
the unmodified YAML's)."""

import os
import re
from pathlib import Path

GEN = Path(os.environ["TORCHATLAS_LAB_GEN"])
PRISTINE = Path(os.environ["TORCHATLAS_LAB_PRISTINE"])
NF = "torchgen/packaged/ATen/native/native_functions.yaml"


def _read(rel: str) -> str:
    path = GEN / rel
    assert path.is_file(), f"torchgen did not write {rel} (looked in {GEN})"
    return path.read_text(encoding="utf-8")


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_per_operator_headers():
    wanted = ["squareplus.h", "squareplus_ops.h", "squareplus_native.h", "squareplus_meta.h",
              "squareplus_cpu_dispatch.h", "squareplus_meta_dispatch.h"]
    missing = [h for h in wanted if not (GEN / "aten/ops" / h).is_file()]
    assert not missing, (
        f"torchgen wrote no aten/ops/{', '.join(missing)}: with --per-operator-headers it writes one set "
        f"of headers per operator declared in {NF} (at::squareplus in squareplus.h, the dispatcher entry in "
        "_ops.h, the kernel declarations in _native.h, the structured meta class in _meta.h, the per-key "
        "entry points in _cpu_dispatch.h / _meta_dispatch.h). Is there a `- func: squareplus...` entry?")
    stale = [h for h in wanted if (PRISTINE / "aten/ops" / h).is_file()]
    assert not stale, f"the pristine generation already has {stale}: the workspace's torchgen is not the one expected"


def test_schemas_registered():
    text = _read("aten/RegisterSchema.cpp")
    want = {
        "squareplus(Tensor self, Scalar b=4) -> Tensor": "the functional",
        "squareplus.out(Tensor self, Scalar b=4, *, Tensor(a!) out) -> Tensor(a!)": "the out= overload",
    }
    got = re.findall(r'm\.def\("(squareplus[^"]*)"', text)
    for schema, what in want.items():
        assert schema in got, (
            f"aten/RegisterSchema.cpp has no m.def(\"{schema}\") ({what}); schemas found for squareplus: "
            f"{got or 'none'}. The `func:` line of the entry is the schema, copied verbatim: argument types "
            "and names, the default `b=4`, and for out=: `*` then `Tensor(a!) out` and `-> Tensor(a!)`.")


def test_function_and_method_api():
    api = _squash(_read("aten/ops/squareplus.h"))
    for decl in ("inline at::Tensor squareplus(const at::Tensor & self, const at::Scalar & b=4)",
                 "inline at::Tensor & squareplus_out(at::Tensor & out, const at::Tensor & self, const at::Scalar & b=4)"):
        assert decl in api, (
            f"aten/ops/squareplus.h does not declare `{decl}`: the C++ function API comes from the "
            "schema (out= functions are spelled `<name>_out(out, ...)` with out first, and `_outf` with it last)")
    body = _squash(_read("aten/core/TensorBody.h"))
    assert "at::Tensor squareplus(const at::Scalar & b=4) const;" in body, (
        "Tensor has no method squareplus (aten/core/TensorBody.h): the functional entry needs "
        "`variants: function, method` (without it only at::squareplus exists)")


def test_structured_meta_class():
    meta = _squash(_read("aten/ops/squareplus_meta.h"))
    assert "struct TORCH_API structured_squareplus : public TensorIteratorBase" in meta, (
        "aten/ops/squareplus_meta.h has no `struct structured_squareplus : public TensorIteratorBase`: "
        "`structured: True` on squareplus.out makes torchgen write the meta class (what "
        "TORCH_META_FUNC(squareplus) defines), and `structured_inherits: TensorIteratorBase` its base. "
        f"Found: {meta[:400]}")
    assert "void meta(const at::Tensor & self, const at::Scalar & b);" in meta, (
        "structured_squareplus does not declare `void meta(const at::Tensor & self, const at::Scalar & b)`: "
        "the meta function takes the schema's inputs, not `out`")


def test_structured_impl_class():
    native = _squash(_read("aten/ops/squareplus_native.h"))
    assert "struct TORCH_API structured_squareplus_out : public at::meta::structured_squareplus" in native, (
        "aten/ops/squareplus_native.h has no `struct structured_squareplus_out : public "
        "at::meta::structured_squareplus`: the class TORCH_IMPL_FUNC(squareplus_out) defines is named after "
        "the CPU dispatch entry's kernel (`dispatch: CPU: squareplus_out`) and derives from the meta class. "
        f"Found: {native[:400]}")
    assert "void impl(const at::Tensor & self, const at::Scalar & b, const at::Tensor & out);" in native, (
        "structured_squareplus_out does not declare `void impl(self, b, out)`")
    own = re.search(r"TORCH_API at::Tensor squareplus\(", native)
    assert own is None, (
        "aten/ops/squareplus_native.h declares a separate kernel `at::native::squareplus(...)` for the "
        "functional: it should have none, its kernel is generated from the out= one "
        "(`structured_delegate: squareplus.out`, and no `dispatch:` on the functional entry)")
