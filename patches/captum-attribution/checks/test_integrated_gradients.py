"""captum-attribution: the trapezoid rule, the path, and integrated gradients that agree with
Captum's IntegratedGradients (Gauss-Legendre, converged) and satisfy completeness."""

import torch
from captum.attr import IntegratedGradients

from lab.integrated_gradients import integrated_gradients, path_points, trapezoid_rule

torch.set_num_threads(1)


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double().eval()


def _inputs(seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(5, 4, generator=g, dtype=torch.float64) * 2,
            torch.randn(5, 4, generator=g, dtype=torch.float64) * 0.1)


def test_trapezoid_rule():
    alphas, weights = trapezoid_rule(5)
    assert torch.allclose(alphas, torch.tensor([0, 0.25, 0.5, 0.75, 1], dtype=torch.float64)), (
        f"alphas for 5 steps: expected 0, 0.25, 0.5, 0.75, 1 (both ends included), got {alphas.tolist()}"
    )
    expected = torch.tensor([0.125, 0.25, 0.25, 0.25, 0.125], dtype=torch.float64)
    assert torch.allclose(weights, expected), (
        f"trapezoid weights on [0, 1] with 5 points: h = 1/4, half weights at both ends: "
        f"expected {expected.tolist()}, got {weights.tolist()}"
    )


def test_path_points():
    x, b = _inputs()
    alphas = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    pts = path_points(x, b, alphas)
    assert pts.shape == (3, *x.shape), f"expected shape {(3, *x.shape)}, got {tuple(pts.shape)}"
    assert torch.allclose(pts[0], b) and torch.allclose(pts[2], x) and torch.allclose(pts[1], (x + b) / 2), (
        "path_points(x, b, a)[k] must be b + a[k] * (x - b): the first point is the baseline, the last x"
    )


def test_matches_captum():
    model = _model()
    x, b = _inputs()
    ref = IntegratedGradients(model).attribute(x, baselines=b, target=1, n_steps=64, method="gausslegendre")
    got = integrated_gradients(model, x, b, target=1, steps=100)
    err = (got - ref).abs().max().item()
    assert got.shape == x.shape, f"attributions must have the input's shape {tuple(x.shape)}, got {tuple(got.shape)}"
    assert err < 5e-5, (
        f"integrated gradients (trapezoid, 100 steps) differ from Captum's converged value by "
        f"{err:.3g} (the trapezoid rule is within ~1e-5 here): check the weights and the factor (x - baseline)"
    )


def test_completeness():
    model = _model(2)
    x, b = _inputs(3)
    attr = integrated_gradients(model, x, b, target=2, steps=100)
    with torch.no_grad():
        gap = model(x)[:, 2] - model(b)[:, 2]
    err = (attr.sum(dim=1) - gap).abs().max().item()
    assert err < 5e-5, (
        f"completeness: each sample's attributions must sum to F(x) - F(baseline) for the target; "
        f"off by {err:.3g}"
    )
