"""The in-place bug: gate_and_logprob must run backward, with correct gradients and the same values."""

import torch

from lab.softplus import EPS, gate_and_logprob


def _reference(x):
    p = torch.sigmoid(x)
    return x * p, torch.log(torch.clamp(p, EPS, 1 - EPS))


def test_backward_runs():
    x = torch.linspace(-20, 20, 11, dtype=torch.double, requires_grad=True)
    gated, logprob = gate_and_logprob(x)
    try:
        (gated.sum() + logprob.sum()).backward()
    except RuntimeError as e:
        raise AssertionError(
            "backward through gate_and_logprob still fails: "
            f"{str(e)[:400]}\nsigmoid saves its output for its own backward, and `x * p` saves p too; "
            "an in-place op on p bumps p's version counter, and autograd refuses the stale saved value. "
            "Compute the clamped gate as a new tensor instead."
        ) from None
    assert x.grad is not None and torch.isfinite(x.grad).all(), f"x.grad is {x.grad}"


def test_values_unchanged():
    x = torch.tensor([-40.0, -3.0, 0.0, 2.5, 40.0], dtype=torch.double)
    gated, logprob = gate_and_logprob(x)
    eg, el = _reference(x)
    assert torch.allclose(gated, eg, rtol=0, atol=1e-12), f"gated is {gated.tolist()}, expected x * sigmoid(x) = {eg.tolist()}"
    assert torch.allclose(logprob, el, rtol=0, atol=1e-12), (
        f"logprob is {logprob.tolist()}, expected log(clamp(sigmoid(x), EPS, 1 - EPS)) = {el.tolist()}: "
        "fix the graph, keep the clamp"
    )


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    x = (torch.randn(8, dtype=torch.double) * 3).requires_grad_()
    try:
        ok = torch.autograd.gradcheck(gate_and_logprob, (x,), check_forward_ad=False)
    except Exception as e:
        raise AssertionError(
            f"gradcheck of gate_and_logprob failed (both outputs must be differentiable in x; "
            f"detaching or no_grad hides the error but loses the gradient): {type(e).__name__}: {str(e)[:700]}"
        ) from None
    assert ok
