"""OpCounter: a TorchDispatchMode at the Python key sees every aten op, forward and backward."""

import torch
import torch.nn.functional as F

from lab.dispatch_lab import OpCounter


def _count(fn):
    with OpCounter() as counter:
        out = fn()
    return counter.counts, out


def test_counts_forward_ops_by_overload_name():
    a, b = torch.rand(4) + 1, torch.rand(4)
    counts, _ = _count(lambda: (torch.sqrt(a) + b * 2).sum())
    expected = {"aten::sqrt": 1, "aten::mul.Tensor": 1, "aten::add.Tensor": 1, "aten::sum": 1}
    assert dict(counts) == expected, (
        f"counts for (sqrt(a) + b * 2).sum() are {dict(counts)}, expected {expected}. Count "
        "func.name() (the overload's full name, as in the dispatcher's table), once per call"
    )


def test_results_are_returned_unchanged():
    torch.manual_seed(0)
    a = torch.randn(3, 3)
    expected = (a @ a.T).relu()
    _, out = _count(lambda: (a @ a.T).relu())
    assert isinstance(out, torch.Tensor) and torch.equal(out, expected), (
        f"under OpCounter the program returned {out!r}, expected {expected!r}: __torch_dispatch__ "
        "must return what func(*args, **kwargs) returns"
    )


def test_backward_ops_go_through_the_dispatcher_too():
    x = (torch.rand(5) + 1).requires_grad_()
    y = torch.sqrt(x).sum()
    counts, _ = _count(lambda: y.backward())
    assert x.grad is not None and torch.allclose(x.grad, 0.5 / x.detach().sqrt()), "backward under OpCounter gave a wrong x.grad"
    # SqrtBackward0 computes grad / (2 * result): autograd calls aten ops, the mode sees them
    assert counts.get("aten::div.Tensor", 0) >= 1 and counts.get("aten::mul.Scalar", 0) >= 1, (
        f"counts during y.backward() are {dict(counts)}; expected the ops of sqrt's derivative "
        "(aten::mul.Scalar, aten::div.Tensor) among them: backward runs through the dispatcher too"
    )


def test_composite_ops_arrive_decomposed():
    torch.manual_seed(0)
    x, w, b = torch.randn(2, 3), torch.randn(4, 3), torch.randn(4)
    counts, out = _count(lambda: F.linear(x, w, b))
    assert torch.allclose(out, x @ w.T + b)
    assert "aten::linear" not in counts and counts.get("aten::addmm") == 1 and counts.get("aten::t") == 1, (
        f"counts for F.linear(x, w, b) are {dict(counts)}; expected aten::t and aten::addmm and no "
        "aten::linear: linear is CompositeImplicitAutograd, it decomposes above the Python key"
    )
