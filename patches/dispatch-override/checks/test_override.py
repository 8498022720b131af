"""install_strict_sqrt: a kernel of aten::sqrt at the CPU key, visible in the live dispatch table."""

import os

import pytest
import torch

import lab.dispatch_lab as dl


def _cpu_line(op="aten::sqrt"):
    for line in torch._C._dispatch_dump_table(op).splitlines():
        if line.startswith("CPU:"):
            return line
    return ""


@pytest.fixture
def installed():
    before = _cpu_line()
    lib = dl.install_strict_sqrt()
    assert lib is not None, "install_strict_sqrt() returned None: return the Library, the registration lives as long as it does"
    yield before, lib
    lib._destroy()


def test_live_table_names_your_file(installed):
    before, lib = installed
    after = _cpu_line()
    here = os.path.join("lab", "dispatch_lab.py")
    assert "RegisterCPU" in before, f"before install, CPU of aten::sqrt was: {before}"
    assert here in after, (
        f"torch._C._dispatch_dump_table('aten::sqrt') shows\n  {after}\nexpected the CPU entry to be "
        f"registered at {here}: use torch.library.Library('aten', 'IMPL') and lib.impl('sqrt', ..., 'CPU')"
    )
    assert torch._C._dispatch_has_kernel_for_dispatch_key("aten::sqrt", "CPU")


def test_kernel_computes_sqrt(installed):
    x = torch.rand(6, dtype=torch.float64) * 100
    expected = torch.tensor([float(v) ** 0.5 for v in x.tolist()], dtype=torch.float64)
    try:
        got = torch.sqrt(x)
    except RecursionError:
        raise AssertionError(
            "RecursionError: strict_sqrt calls aten::sqrt on CPU, which is now strict_sqrt itself; "
            "compute the root with another op (pow with exponent 0.5)"
        ) from None
    assert got.dtype == torch.float64 and torch.allclose(got, expected), f"torch.sqrt(x) gave {got}, expected {expected}"


def test_negative_input_raises(installed):
    x = torch.tensor([4.0, -1.0, 9.0, -2.0])
    with pytest.raises(dl.NegativeSqrtError) as info:
        torch.sqrt(x)
    assert "2" in str(info.value), f"the message should say how many elements are negative (2): {info.value}"


def test_autograd_kernel_above_is_untouched(installed):
    x = torch.tensor([4.0, 9.0], requires_grad=True)
    y = torch.sqrt(x)
    assert type(y.grad_fn).__name__ == "SqrtBackward0", (
        f"grad_fn is {type(y.grad_fn).__name__}: the Autograd kernel (above CPU) should still record SqrtBackward0"
    )
    y.sum().backward()
    assert torch.allclose(x.grad, torch.tensor([0.25, 1 / 6])), f"x.grad is {x.grad}"


def test_destroying_the_library_restores_the_original(installed):
    before, lib = installed
    lib._destroy()
    assert _cpu_line() == before, f"after lib._destroy() the CPU entry is {_cpu_line()}, expected {before}"
    assert torch.isnan(torch.sqrt(torch.tensor([-1.0]))).all(), "the original kernel returns nan for sqrt(-1)"
