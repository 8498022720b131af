"""aten::logcosh from the overlay: the operator exists, computes log(cosh(x)) on both paths of the
kernel, has an out= overload, and a Meta kernel (shapes without data)."""

import os

import torch

LIB = os.environ["TORCHATLAS_LAB_LIB"]
LOAD_ERROR = ""
try:
    torch.ops.load_library(LIB)
except Exception as e:
    LOAD_ERROR = f"the overlay library did not load: {type(e).__name__}: {e}"


def _op():
    assert not LOAD_ERROR, LOAD_ERROR
    try:
        return torch.ops.aten.logcosh
    except (AttributeError, RuntimeError) as e:
        raise AssertionError(f"torch.ops.aten.logcosh does not exist after loading the overlay ({e}): the schema "
                             "comes from your native_functions.yaml entry") from None


def expected(x):
    """log(cosh(x)) in float64, without overflow: |x| + log1p(exp(-2|x|)) - log(2)."""
    a = x.double().abs()
    return (a + torch.log1p(torch.exp(-2 * a)) - torch.log(torch.tensor(2.0, dtype=torch.float64))).to(x.dtype)


def _compare(x, got, what):
    ref = expected(x)
    ok = torch.isclose(got, ref, rtol=1e-5, atol=1e-6)
    if not bool(ok.all()):
        i = int((~ok).nonzero()[0][0])
        raise AssertionError(f"{what}: {(~ok).sum().item()} of {x.numel()} values are wrong; first at index {i}: "
                             f"logcosh({x[i].item():.6g}) gave {got[i].item():.6g}, expected {ref[i].item():.6g}")


def test_small_tensor_scalar_path():
    op = _op()
    x = torch.tensor([0.0, 1.0, -2.5, 30.0, -100.0], dtype=torch.float32)
    _compare(x, op(x), "a 5-element tensor (the scalar lambda of cpu_kernel_vec)")


def test_large_tensor_vector_path():
    op = _op()
    for dtype in (torch.float32, torch.float64):
        x = torch.linspace(-40, 40, 4099, dtype=dtype)
        _compare(x, op(x), f"a contiguous 4099-element {dtype} tensor (mostly the Vectorized lambda)")


def test_out_overload():
    op = _op()
    x = torch.linspace(-3, 3, 100)
    out = torch.empty(0)
    res = op.out(x, out=out)
    assert res is out or res.data_ptr() == out.data_ptr(), "aten::logcosh.out must return the out tensor it was given"
    assert out.shape == x.shape, f"out= was not resized to {tuple(x.shape)}: {tuple(out.shape)}"
    _compare(x, out, "aten::logcosh.out")


def test_meta_kernel():
    op = _op()
    y = op(torch.empty(4, 5, device="meta"))
    assert y.device.type == "meta" and tuple(y.shape) == (4, 5), (
        f"logcosh on a meta tensor gave {y.device} {tuple(y.shape)}: the Meta kernel torchgen generates runs "
        "your TORCH_META_FUNC(logcosh)")
    z = op(torch.empty(3, dtype=torch.int64, device="meta"))
    assert z.dtype == torch.get_default_dtype(), (
        f"logcosh of an int64 tensor has dtype {z.dtype}, expected {torch.get_default_dtype()}: a unary float op "
        "promotes integers to the default float dtype (build_borrowing_unary_float_op)")
