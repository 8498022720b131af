"""Hidden: the derivative formulas torchgen generated are right, evaluated numerically.

The C++ expressions are read from the generated code (the backward in autograd/Functions.cpp, the
forward-mode one in VariableType) and evaluated with torch tensors in double precision: both are
plain tensor arithmetic in C++ and in Python (`at::` spelled `torch.`). Any correct spelling passes
(`sqrt`, `rsqrt`, `pow(-0.5)`, through `result` ...); a formula that merely exists does not."""

import os
import re
from pathlib import Path

import torch

GEN = Path(os.environ["TORCHATLAS_LAB_GEN"])
DY = "torchgen/packaged/autograd/derivatives.yaml"
BS = (4.0, 1.0, 0.25)


class _Scalar(float):
    """at::Scalar's methods a formula may call."""

    def toDouble(self):  # noqa: N802 (the C++ name)
        return float(self)


def _squareplus(x, b):
    return (x + (x * x + b).sqrt()) / 2


def _derivative(x, b):
    return 0.5 * (1 + x / (x * x + b).sqrt())


def _evaluate(formula: str, names: dict):
    if re.search(r"std::|->|\?|::(?!\w)", formula):
        raise AssertionError(
            f"the formula `{formula}` uses C++ this check cannot evaluate (std::, ?:, ->): write it with "
            "tensor methods and at:: functions (at::where, .sqrt(), .rsqrt(), .pow(...))")
    expr = formula.replace("at::", "torch.")
    try:
        return eval(expr, {"__builtins__": {}}, dict(names, torch=torch))  # the learner's own formula
    except NameError as e:
        raise AssertionError(
            f"the generated formula `{formula}` uses a name that is not an input of squareplus, `grad` or "
            f"`result` ({e}): the C++ would not compile") from None
    except Exception as e:
        raise AssertionError(f"evaluating the generated formula `{formula}` failed: {type(e).__name__}: {e}") from None


def _inputs(b: float):
    torch.manual_seed(int(b * 100))
    x = torch.cat([torch.randn(40, dtype=torch.double) * 3, torch.tensor([0.0, -50.0, 50.0], dtype=torch.double)])
    return x, _squareplus(x, b)


def test_backward_formula_is_the_derivative():
    text = (GEN / "autograd/Functions.cpp").read_text(encoding="utf-8")
    m = re.search(r"SquareplusBackward0_apply_functional\((.*?)\n\}", text, re.S)
    assert m, f"no SquareplusBackward0 was generated: add the squareplus entry to {DY}"
    formulas = re.findall(r"any_grad_defined \? \((.*)\) : Tensor\(\);", m.group(1))
    assert formulas, f"SquareplusBackward0 has no formula for self ({DY})"
    for b in BS:
        x, result = _inputs(b)
        grad = torch.randn_like(x)
        got = _evaluate(formulas[0], {"grad": grad, "self": x, "b": _Scalar(b), "result": result})
        want = grad * _derivative(x, b)
        assert isinstance(got, torch.Tensor) and got.shape == want.shape, (
            f"the backward formula `{formulas[0]}` gives {got!r}, expected a tensor shaped like self")
        err = (got - want).abs().max().item()
        assert err < 1e-9, (
            f"the backward formula `{formulas[0]}` is wrong at b={b}: max error {err:.3g} against "
            "grad * (1 + x / sqrt(x * x + b)) / 2 (e.g. at x=0 the slope is 0.5, at x=50 almost 1)")


def test_forward_mode_formula():
    text = (GEN / "autograd/VariableTypeEverything.cpp").read_text(encoding="utf-8")
    m = re.search(r"\nat::Tensor squareplus\(c10::DispatchKeySet ks, const at::Tensor & self, "
                  r"const at::Scalar & b\) \{(.*?)\n\}", text, re.S)
    assert m, "VariableType has no Autograd kernel for squareplus: is the functional entry declared?"
    body = m.group(1)
    fw = re.search(r"^ +result_new_fw_grad_opt = (?!::std::nullopt)(.*);$", body, re.M)
    assert fw, (
        "squareplus has no forward-mode derivative (no result_new_fw_grad_opt in its VariableType kernel): "
        f"add `result: auto_element_wise` to its {DY} entry (or write the formula over self_t and self_p), "
        "else torch.func.jvp and forward_ad fail with 'not implemented'")
    for b in BS:
        x, result = _inputs(b)
        tangent = torch.randn_like(x)
        names = {"self_t": tangent, "self_p": x, "self": x, "b": _Scalar(b), "result": result}
        got = _evaluate(fw.group(1), names)
        want = tangent * _derivative(x, b)
        err = (got - want).abs().max().item()
        assert err < 1e-9, (
            f"the forward-mode formula `{fw.group(1)}` is wrong at b={b}: max error {err:.3g} against "
            "self_t * (1 + x / sqrt(x * x + b)) / 2")
