"""Hidden: the override is exactly one kernel at one key; the mode forwards everything faithfully."""

import os

import pytest
import torch

import lab.dispatch_lab as dl
from lab.dispatch_lab import OpCounter

HERE = os.path.join("lab", "dispatch_lab.py")


def _entries(op):
    return {line.split(":", 1)[0]: line for line in torch._C._dispatch_dump_table(op).splitlines() if ":" in line}


@pytest.fixture
def lib():
    lib = dl.install_strict_sqrt()
    yield lib
    lib._destroy()


def test_only_the_cpu_key_of_the_default_overload(lib):
    table = _entries("aten::sqrt")
    mine = sorted(k for k, line in table.items() if HERE in line)
    assert mine == ["CPU"], f"keys of aten::sqrt registered from {HERE}: {mine}; expected only CPU"
    for op in ("aten::sqrt.out", "aten::sqrt_"):
        assert not any(HERE in line for line in _entries(op).values()), f"{op} should keep its own kernels"
    out = torch.empty(1)
    torch.sqrt(torch.tensor([-1.0]), out=out)  # sqrt.out: original kernel
    assert torch.isnan(out).all()
    assert torch.sqrt(torch.empty(3, device="meta")).shape == (3,), "the Meta kernel should be untouched"


def test_dtypes_shapes_and_nan(lib):
    cases = [
        (torch.tensor([4, 9, 0]), torch.float32),
        (torch.tensor([2.25], dtype=torch.float64), torch.float64),
        (torch.tensor(16.0), torch.float32),
        (torch.empty(0, 2), torch.float32),
    ]
    for x, dtype in cases:
        got = torch.sqrt(x)
        assert got.dtype == dtype and got.shape == x.shape, (
            f"sqrt of {x.dtype} {tuple(x.shape)} gave {got.dtype} {tuple(got.shape)}, expected {dtype} {tuple(x.shape)}"
        )
        assert torch.allclose(got, x.to(dtype) ** 0.5)
    got = torch.sqrt(torch.tensor([float("nan"), 4.0]))
    assert torch.isnan(got[0]) and got[1] == 2.0, f"nan should pass through: {got}"


def test_mode_sits_above_the_override(lib):
    with OpCounter() as counter:
        with pytest.raises(dl.NegativeSqrtError):
            torch.sqrt(torch.tensor([-4.0]))
    assert counter.counts.get("aten::sqrt") == 1, (
        f"the mode (Python key) sees aten::sqrt before the CPU kernel raises; counts: {dict(counter.counts)}"
    )


def test_kwargs_and_in_place_results_are_forwarded():
    with OpCounter() as counter:
        ones = torch.ones(3, dtype=torch.float64)
        ar = torch.arange(5, dtype=torch.int16)
        x = torch.zeros(3)
        same = x.add_(1)
    assert ones.dtype == torch.float64 and ar.dtype == torch.int16, (
        f"dtype= was lost under the mode ({ones.dtype}, {ar.dtype}): pass kwargs through to func"
    )
    assert same is x, "x.add_(1) must return x itself under the mode: return func's result, not a copy"
    assert counter.counts.get("aten::add_.Tensor") == 1, f"in-place ops have their own overloads: {dict(counter.counts)}"


def test_counts_are_exact_and_modes_nest():
    gen = torch.Generator().manual_seed(7)
    n = int(torch.randint(3, 9, (1,), generator=gen))
    a = torch.rand(3)
    with OpCounter() as outer:
        with OpCounter() as inner:
            for _ in range(n):
                torch.exp(a)
        torch.exp(a)
    assert inner.counts == {"aten::exp": n}, f"inner counter: {dict(inner.counts)}, expected aten::exp x{n}"
    assert outer.counts == {"aten::exp": n + 1}, (
        f"outer counter: {dict(outer.counts)}, expected aten::exp x{n + 1}: when the inner mode calls "
        "func, the call goes on to the next mode on the stack"
    )
