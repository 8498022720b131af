"""captum-attribution (hidden): your own quadrature (the lab must not call Captum), second-order
convergence, one target per sample, inputs of more dimensions, the zero baseline, and exactness
on a linear model."""

import sys

import torch

sys.modules["captum"] = None  # importing captum from lab/ now fails: the lab computes IG itself
from lab.integrated_gradients import integrated_gradients  # noqa: E402

torch.set_num_threads(1)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 10), torch.nn.Softplus(),
                                        torch.nn.Linear(10, 4))

    def forward(self, x):
        return self.body(x)


def _gap(model, x, b, target):
    with torch.no_grad():
        return model(x).gather(1, target[:, None])[:, 0] - model(b).gather(1, target[:, None])[:, 0]


def test_per_sample_targets_and_3d_inputs():
    model = Net().double().eval()
    g = torch.Generator().manual_seed(8)
    x = torch.randn(6, 2, 3, generator=g, dtype=torch.float64) * 2
    target = torch.tensor([0, 3, 1, 2, 2, 0])
    attr = integrated_gradients(model, x, None, target=target, steps=120)
    assert attr.shape == x.shape, f"expected {tuple(x.shape)}, got {tuple(attr.shape)}"
    err = (attr.sum(dim=(1, 2)) - _gap(model, x, torch.zeros_like(x), target)).abs().max().item()
    assert err < 5e-5, (
        f"one target per sample, 3-d inputs, zero baseline: completeness is off by {err:.3g}; pick "
        f"each sample's own target column"
    )


def test_second_order_convergence():
    model = Net().double().eval()
    g = torch.Generator().manual_seed(9)
    x = torch.randn(4, 2, 3, generator=g, dtype=torch.float64) * 3
    b = torch.zeros_like(x)
    target = torch.tensor([1, 1, 1, 1])
    gap = _gap(model, x, b, target)
    e1 = (integrated_gradients(model, x, b, 1, steps=11).sum(dim=(1, 2)) - gap).abs().max().item()
    e2 = (integrated_gradients(model, x, b, 1, steps=21).sum(dim=(1, 2)) - gap).abs().max().item()
    assert e2 < e1 / 2.8, (
        f"halving the step size should cut the trapezoid rule's error about 4x; it went from "
        f"{e1:.3g} to {e2:.3g}: a left/right Riemann sum converges only linearly"
    )


def test_exact_on_a_linear_model():
    torch.manual_seed(10)
    lin = torch.nn.Linear(5, 2).double()
    x = torch.randn(3, 5, dtype=torch.float64)
    b = torch.randn(3, 5, dtype=torch.float64)
    attr = integrated_gradients(lin, x, b, target=1, steps=2)
    expected = (x - b) * lin.weight[1].detach()
    assert torch.allclose(attr, expected, atol=1e-12), (
        "for F(x) = w.x + c, IG is exactly (x - baseline) * w, even with 2 steps"
    )
