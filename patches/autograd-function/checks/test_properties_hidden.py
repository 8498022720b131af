"""Hidden properties: extreme inputs, shapes, both modes agreeing, version checks on what was saved."""

import torch
import torch.autograd.forward_ad as fwAD

from lab.softplus import EPS, gate_and_logprob, softplus

EXTREMES = [-1000.0, -100.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0, 1000.0]


def _grad(x, beta):
    x = x.detach().clone().requires_grad_()
    softplus(x, beta).sum().backward()
    return x.grad


def _jvp(x, beta):
    with fwAD.dual_level():
        return fwAD.unpack_dual(softplus(fwAD.make_dual(x, torch.ones(x.shape, dtype=x.dtype)), beta)).tangent


def test_backward_is_finite_and_exact_at_extreme_inputs():
    for dtype in (torch.float32, torch.float64):
        for beta in (1.0, 2.0):
            x = torch.tensor(EXTREMES, dtype=dtype)
            g = _grad(x, beta)
            expected = torch.sigmoid(beta * x)
            assert torch.isfinite(g).all(), (
                f"backward gives {g.tolist()} for x={EXTREMES} ({dtype}, beta={beta}): exp(beta*x) "
                "overflows for large x; torch.sigmoid(beta * x) is stable everywhere"
            )
            assert torch.allclose(g, expected), f"backward at extreme x ({dtype}, beta={beta}): {g.tolist()} vs {expected.tolist()}"


def test_jvp_is_finite_and_exact_at_extreme_inputs():
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor(EXTREMES, dtype=dtype)
        t = _jvp(x, 1.0)
        assert t is not None and torch.isfinite(t).all(), f"jvp gives {t} at x={EXTREMES} ({dtype}): use a stable sigmoid"
        assert torch.allclose(t, torch.sigmoid(x)), f"jvp at extreme x ({dtype}): {t.tolist()}"


def test_shapes_and_layouts():
    torch.manual_seed(0)
    cases = {
        "0-d": torch.tensor(0.7, dtype=torch.double),
        "empty": torch.empty(0, 3, dtype=torch.double),
        "transposed (non-contiguous)": torch.randn(3, 4, 5, dtype=torch.double).transpose(0, 2),
        "expanded": torch.randn(1, 4, dtype=torch.double).expand(3, 4),
    }
    for name, x in cases.items():
        g = _grad(x, 0.7)
        assert g.shape == x.shape, f"{name}: grad shape {tuple(g.shape)} != input shape {tuple(x.shape)}"
        assert torch.allclose(g, torch.sigmoid(0.7 * x)), f"{name}: wrong gradient"
        if name == "expanded":
            continue  # forward AD refuses primals whose elements share memory
        t = _jvp(x, 0.7)
        assert t.shape == x.shape, f"{name}: tangent shape {tuple(t.shape)} != input shape {tuple(x.shape)}"
        assert torch.allclose(t, torch.sigmoid(0.7 * x)), f"{name}: wrong tangent"


def test_reverse_and_forward_mode_agree_on_random_betas():
    gen = torch.Generator().manual_seed(1234)
    for _ in range(20):
        beta = float(torch.empty(1).uniform_(0.05, 6.0, generator=gen))
        x = torch.randn(9, dtype=torch.double, generator=gen) * 5
        assert torch.allclose(_grad(x, beta), _jvp(x, beta)), f"backward and jvp disagree at beta={beta:.3f}"


def test_saved_input_is_version_checked():
    leaf = torch.randn(4, dtype=torch.double, requires_grad=True)
    x = leaf * 1.0
    y = softplus(x, 1.0)
    x.add_(1.0)  # changes what backward would read
    try:
        y.sum().backward()
    except RuntimeError as e:
        assert "inplace" in str(e), f"unexpected error: {e}"
        return
    raise AssertionError(
        "x was modified in place after softplus(x) and backward still ran, silently using the new values: "
        "save tensors with ctx.save_for_backward (autograd checks their version counter), not as ctx attributes"
    )


def test_gate_extremes_keep_the_clamp_and_its_gradient():
    x = torch.tensor([-40.0, 40.0], dtype=torch.double, requires_grad=True)
    gated, logprob = gate_and_logprob(x)
    expected = torch.tensor([EPS, 1 - EPS], dtype=torch.double).log()
    assert torch.allclose(logprob.detach(), expected, rtol=0, atol=1e-12), (
        f"logprob at x=±40 is {logprob.tolist()}, expected log(EPS), log(1-EPS) = {expected.tolist()}"
    )
    (gl,) = torch.autograd.grad(logprob.sum(), x)
    assert torch.equal(gl, torch.zeros(2, dtype=torch.double)), f"d logprob/dx where the clamp is active must be 0, got {gl.tolist()}"
    assert gated.grad_fn is not None and logprob.grad_fn is not None, "both outputs must stay in the graph"


def test_gated_gradient_is_exact_and_repeatable():
    x = torch.randn(5, dtype=torch.double, requires_grad=True)
    gated, logprob = gate_and_logprob(x)
    gated.sum().backward(retain_graph=True)
    g1 = x.grad.clone()
    x.grad = None
    gated.sum().backward()
    assert torch.equal(g1, x.grad), "two backward passes through gated disagree"
    expected = torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x)))
    assert torch.allclose(x.grad, expected.detach()), "d gated/dx must be sigmoid(x) * (1 + x (1 - sigmoid(x)))"
