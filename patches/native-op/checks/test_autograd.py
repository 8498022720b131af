"""The derivative: backward runs the node torchgen generated from your derivatives.yaml entry."""

import os

import torch

torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])


def test_grad_fn_is_the_generated_node():
    x = torch.randn(6, dtype=torch.float64, requires_grad=True)
    y = torch.ops.aten.logcosh(x)
    # a node without a Python binding shows as CppFunction; name() is the C++ node's own
    name = y.grad_fn.name() if y.grad_fn is not None else None
    assert name == "LogcoshBackward0", (
        f"logcosh(x).grad_fn is {name}, expected LogcoshBackward0: the autograd node torchgen generates from a "
        "`- name: logcosh(Tensor self) -> Tensor` entry in derivatives.yaml (NotImplemented means the entry is "
        "missing)")


def test_backward_matches_the_derivative():
    x = torch.linspace(-5, 5, 41, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(torch.ops.aten.logcosh(x).sum(), x)
    want = torch.tanh(x.detach())
    assert torch.allclose(g, want, atol=1e-10), (
        f"d/dx logcosh(x) should be tanh(x); at x={x[0].item()} the gradient was {g[0].item()}, "
        f"expected {want[0].item()} (the formula for `self:` in derivatives.yaml)")


def test_gradcheck():
    x = (torch.randn(7, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(torch.ops.aten.logcosh, (x,), check_forward_ad=True), "gradcheck failed"
