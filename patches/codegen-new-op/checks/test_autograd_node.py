"""What the derivatives.yaml entry generated: the autograd node SquareplusBackward0 (Functions.h),
its backward formula (Functions.cpp), and the Autograd kernel in VariableType that creates it."""

import os
import re
from pathlib import Path

GEN = Path(os.environ["TORCHATLAS_LAB_GEN"])
DY = "torchgen/packaged/autograd/derivatives.yaml"


def _read(rel: str) -> str:
    path = GEN / rel
    assert path.is_file(), f"torchgen did not write {rel} (looked in {GEN})"
    return path.read_text(encoding="utf-8")


def _node_struct() -> str:
    text = _read("autograd/Functions.h")
    m = re.search(r"struct TORCH_API SquareplusBackward0 : public TraceableFunction \{(.*?)\n\};", text, re.S)
    assert m, (
        "autograd/Functions.h has no `struct SquareplusBackward0`: torchgen makes one autograd node per "
        f"`- name:` entry of {DY} (named after the operator, CamelCase, + Backward0). Is there an entry "
        "`- name: squareplus(Tensor self, Scalar b=4) -> Tensor` (the functional's schema, verbatim)?")
    return m.group(1)


def test_node_exists():
    body = _node_struct()
    saved = re.findall(r"^  (?:SavedVariable|at::Scalar|c10::\S+|int64_t|double|bool) (\w+);$", body, re.M)
    assert saved, (
        "SquareplusBackward0 saves nothing: the formula must read the inputs it needs (`self`, `b`) "
        "or `result`; torchgen saves exactly the names the formula uses")


def test_backward_formula_generated():
    text = _read("autograd/Functions.cpp")
    m = re.search(r"SquareplusBackward0_apply_functional\((.*?)\n\}", text, re.S)
    assert m, "autograd/Functions.cpp has no SquareplusBackward0_apply_functional: no backward was generated"
    formulas = re.findall(r"any_grad_defined \? \((.*)\) : Tensor\(\);", m.group(1))
    assert formulas, (
        f"SquareplusBackward0 computes no gradient: give `self:` a formula in {DY} "
        "(the gradient of the input `self`, in terms of `grad`)")
    assert "grad" in formulas[0], (
        f"the formula for self is `{formulas[0]}`, which does not use `grad`: the backward returns "
        "grad * d(squareplus)/dx (the chain rule)")


def test_autograd_kernel_records_the_node():
    text = _read("autograd/VariableTypeEverything.cpp")
    assert 'm.impl("squareplus",' in text, (
        "VariableType registers no Autograd kernel for squareplus: it exists for every operator, "
        "check that the functional entry is in native_functions.yaml")
    assert "c10::make_intrusive<SquareplusBackward0>()" in text, (
        "the Autograd kernel of squareplus (autograd/VariableTypeEverything.cpp) does not create a "
        f"SquareplusBackward0: without a {DY} entry, torchgen makes the op non-differentiable")
