"""Reverse mode: Softplus.backward agrees with finite differences (gradcheck in double)."""

import os

import torch

from lab.softplus import Softplus, softplus


def _gradcheck(fn, x):
    """gradcheck that returns (ok, message) instead of raising, so the verdict can explain."""
    try:
        ok = torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, check_forward_ad=False)
        return ok, ""
    except NotImplementedError:
        raise  # a TODO stub: let the runner show where
    except Exception as e:  # GradcheckError and any error raised inside backward
        return False, f"{type(e).__name__}: {str(e)[:900]}"


def test_lab_file_is_the_workspace_copy():
    import lab.softplus

    ws = os.path.realpath(os.environ["TORCHATLAS_LAB_WORKSPACE"])
    where = os.path.realpath(lab.softplus.__file__)
    assert where.startswith(ws + os.sep), f"lab.softplus was imported from {where}, not from the workspace {ws}"


def test_output_goes_through_the_function():
    x = torch.randn(5, dtype=torch.double, requires_grad=True)
    y = softplus(x, 2.0)
    name = type(y.grad_fn).__name__
    assert name == "SoftplusBackward", (
        f"softplus(x).grad_fn is {name}, expected SoftplusBackward (the node autograd makes for "
        "Softplus.apply): the output must come from the Function so that your backward is used"
    )


def test_backward_matches_finite_differences():
    torch.manual_seed(0)
    for beta in (1.0, 0.5, 3.0):
        x = (torch.randn(4, 3, dtype=torch.double) * 3).requires_grad_()
        ok, msg = _gradcheck(lambda t: Softplus.apply(t, beta), x)
        assert ok, (
            f"gradcheck of Softplus (beta={beta}) failed in double precision. The gradient for x is "
            f"grad_output * sigmoid(beta * x); backward returns one value per forward input "
            f"(x, beta), None for beta. {msg}"
        )


def test_backward_through_a_larger_graph():
    torch.manual_seed(1)
    x = torch.randn(6, dtype=torch.double, requires_grad=True)
    w = torch.randn(6, dtype=torch.double)
    (softplus(x, 1.5) * w).sum().backward()
    expected = w * torch.sigmoid(1.5 * x.detach())
    assert x.grad is not None, "x.grad is None after backward: did backward return a gradient for x?"
    assert torch.allclose(x.grad, expected), (
        f"x.grad for sum(w * softplus(x, 1.5)) is {x.grad.tolist()}, expected w * sigmoid(1.5 * x) = "
        f"{expected.tolist()}: multiply the local derivative by grad_output"
    )
