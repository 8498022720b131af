"""Hidden: torch.library.opcheck with warnings as errors (schema, autograd registration, fake
tensors, AOT dispatch with static and dynamic shapes), integer promotion, extreme values, strided
input and out= with another layout."""

import os
import warnings

import torch

torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])
import lab.logcosh_fake  # noqa: E402,F401  (the Python fake for symbolic shapes, after the library)


def expected(x):
    a = x.double().abs()
    return a + torch.log1p(torch.exp(-2 * a)) - torch.log(torch.tensor(2.0, dtype=torch.float64))


def test_opcheck():
    x = torch.randn(3, 5, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = torch.library.opcheck(torch.ops.aten.logcosh.default, (x,), raise_exception=False)
    bad = {k: v for k, v in res.items() if v != "SUCCESS"}
    assert not bad, f"torch.library.opcheck(aten::logcosh) failed: {bad}"


def test_integers_promote_to_float():
    x = torch.arange(-4, 5)
    y = torch.ops.aten.logcosh(x)
    assert y.dtype == torch.get_default_dtype(), f"logcosh(int64) has dtype {y.dtype}, expected float"
    assert torch.allclose(y.double(), expected(x), atol=1e-6), f"logcosh(int64) values: {y.tolist()}"


def test_extreme_values_and_layouts():
    x = torch.tensor([500.0, -500.0, 88.0, -1e-30, 0.0] * 7, dtype=torch.float32)
    y = torch.ops.aten.logcosh(x)
    assert torch.isfinite(y).all(), f"logcosh overflowed: {y[:5].tolist()} (cosh(500) is inf in float)"
    assert torch.allclose(y.double(), expected(x), rtol=1e-5, atol=1e-6), f"extreme values: {y[:5].tolist()}"
    base = torch.linspace(-9, 9, 400, dtype=torch.float64).reshape(20, 20)
    s = base[:, ::3]
    assert torch.allclose(torch.ops.aten.logcosh(s), expected(s)), "logcosh of a strided view is wrong"
    out = torch.empty(20, 20, dtype=torch.float64).t()
    torch.ops.aten.logcosh.out(base, out=out)
    assert torch.allclose(out, expected(base)), "logcosh.out into a transposed out tensor is wrong"
