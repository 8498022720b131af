"""Checks of labops::softclip: the CPU kernel's values, the fake kernel and the autograd formula
(torch.library.opcheck with warnings as errors), and the backward at known points.

Runs in a fresh process: the library built from lab/softclip.cpp is loaded from
TORCHATLAS_LAB_LIB, then lab/softclip.py registers the fake kernel and the autograd formula.
"""

import os
import warnings

import pytest
import torch

_loaded = {}


def _op():
    """The operator, with the learner's library loaded and lab/softclip.py imported (once)."""
    if "op" not in _loaded:
        try:
            torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])
        except OSError as e:
            pytest.fail(f"the library built from lab/softclip.cpp does not load: {e}")
        try:
            import lab.softclip  # noqa: F401  registers the fake kernel and the autograd formula
        except Exception as e:
            pytest.fail(f"importing lab/softclip.py failed: {type(e).__name__}: {e}")
        _loaded["op"] = torch.ops.labops.softclip.default
    return _loaded["op"]


def _call(op, x, limit):
    try:
        return op(x, limit)
    except RuntimeError as e:  # NotImplementedError too; reported below, without a chained traceback
        error = e
    text = str(error)
    if isinstance(error, NotImplementedError) and "CPU" in text and "backend" in text:
        pytest.fail("labops::softclip has no CPU kernel: register labops::softclip_cpu at the CPU "
                    "dispatch key with TORCH_LIBRARY_IMPL(labops, CPU, m) { m.impl(...); } in "
                    "lab/softclip.cpp")
    pytest.fail(f"labops::softclip({_show(x)}, limit={limit}) raised: {text.splitlines()[0] if text else type(error).__name__}")


def _show(x):
    return f"a {x.dtype} tensor of shape {tuple(x.shape)}{'' if x.is_contiguous() else ' (not contiguous)'}"


def _reference(x, limit):
    return limit * torch.tanh(x / limit)


def _compare(got, x, limit, what):
    want = _reference(x, limit)
    assert isinstance(got, torch.Tensor), f"{what}: the kernel returned {type(got).__name__}, not a Tensor"
    assert got.shape == x.shape, f"{what}: output shape {tuple(got.shape)}, expected {tuple(x.shape)} (x's)"
    assert got.dtype == x.dtype, f"{what}: output dtype {got.dtype}, expected {x.dtype} (x's)"
    if not torch.allclose(got, want, rtol=1e-5, atol=1e-6):
        i = (got - want).abs().flatten().argmax().item()
        pytest.fail(f"{what}: softclip(x={x.flatten()[i].item():.4g}, limit={limit}) gave "
                    f"{got.flatten()[i].item():.6g}, expected {want.flatten()[i].item():.6g} "
                    "(limit * tanh(x / limit)); look at the loop of softclip_cpu in lab/softclip.cpp")


def test_cpu_kernel_values():
    """float32 and float64 inputs (AT_DISPATCH_FLOATING_TYPES), several limits."""
    op = _op()
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        for limit in (0.5, 2.0, 10.0):
            x = torch.randn(5, 7, generator=g, dtype=dtype) * 6
            _compare(_call(op, x, limit), x, limit, f"{dtype} input, limit={limit}")
    x = torch.empty(0, 3)
    _compare(_call(op, x, 1.0), x, 1.0, "an empty input")


def test_non_contiguous_input():
    """A transposed and a strided input: the kernel must read x's elements, not its raw memory."""
    op = _op()
    base = torch.arange(12, dtype=torch.float64).reshape(3, 4) - 5
    for x, what in ((base.t(), "a transposed input"), (base[:, ::2], "a strided slice")):
        got = _call(op, x, 3.0)
        want = _reference(x, 3.0)
        assert torch.allclose(got, want), (
            f"{what} ({_show(x)}, strides {x.stride()}): got {got.tolist()}, expected {want.tolist()}; "
            "a kernel that walks data_ptr() must first make x contiguous (x.contiguous())")


def test_limit_must_be_positive():
    op = _op()
    x = torch.ones(3)
    _call(op, x, 1.0)  # a clear message when the CPU kernel is missing
    for limit in (0.0, -1.0):
        try:
            out = op(x, limit)
        except RuntimeError as e:
            assert "limit" in str(e), (f"softclip(x, limit={limit}) raised, but its message does not name "
                                       f"the limit: {str(e).splitlines()[0]!r}")
            continue
        pytest.fail(f"softclip(x, limit={limit}) returned {out.tolist()} instead of raising: check it "
                    "with TORCH_CHECK(limit > 0, \"... limit ...\") in softclip_cpu")


_OPCHECK_HINTS = {
    "test_schema": "the schema and what the kernel does disagree (does it mutate or alias x?)",
    "test_autograd_registration": "register the autograd formula (torch.library.register_autograd in lab/softclip.py)",
    "test_faketensor": "the fake kernel (_softclip_fake in lab/softclip.py) must return a tensor with the "
                       "shape, dtype and strides of the CPU kernel's output (which is contiguous)",
    "test_aot_dispatch_dynamic": "tracing forward + backward failed: look at the fake kernel, _setup_context "
                                 "and _backward in lab/softclip.py, and whether an autograd formula is registered",
}


def test_opcheck():
    """torch.library.opcheck with warnings as errors: a missing autograd formula is only a warning
    otherwise, and the operator would silently get no gradient."""
    op = _op()
    _call(op, torch.ones(1), 1.0)  # a clear message when the CPU kernel is missing
    g = torch.Generator().manual_seed(1)
    samples = [
        ((torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True), 2.0), "a float64 input that requires grad"),
        ((torch.randn(4, 3, generator=g).t(), 1.5), "a transposed float32 input"),
        ((torch.randn(6, generator=g, requires_grad=True), 0.5), "a float32 input that requires grad"),
    ]
    for args, what in samples:
        error = None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                torch.library.opcheck(op, args)
            except Exception as e:  # reported below, outside the except: no chained traceback
                error = e
        if error is not None:
            text = str(error)
            failed = next((t for t in _OPCHECK_HINTS if t in text), "")
            detail = text.split(" failed with ", 1)[-1].split("\n")[0]
            detail = detail.replace(" (scroll up for stack trace)", "")[:400]
            pytest.fail(f"opcheck on {what}: {failed or type(error).__name__} failed: {detail}"
                        + (f"\nwhere to look: {_OPCHECK_HINTS[failed]}" if failed else ""))


def test_backward_at_known_points():
    op = _op()
    x = torch.tensor([-3.0, 0.0, 1.0, 4.0], dtype=torch.float64, requires_grad=True)
    y = _call(op, x, 2.0)
    assert y.requires_grad, ("the output does not require grad although x does: no autograd formula is "
                             "registered (torch.library.register_autograd in lab/softclip.py)")
    error = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            y.backward(torch.ones_like(y))
        except Exception as e:  # reported below, without a chained traceback
            error = e
    if error is not None:
        pytest.fail(f"backward through labops::softclip failed: {type(error).__name__}: "
                    f"{(str(error).splitlines() or [''])[0][:300]}; look at _setup_context, _backward and "
                    "register_autograd in lab/softclip.py")
    want = 1 - torch.tanh(x.detach() / 2.0) ** 2
    assert x.grad is not None, "x.grad is None after backward: the autograd formula returned no gradient for x"
    assert torch.allclose(x.grad, want), (
        f"d softclip(x, 2) / dx at x={x.detach().tolist()}: got {x.grad.tolist()}, expected "
        f"{want.tolist()} (1 - tanh(x / limit)**2); look at _backward in lab/softclip.py")
