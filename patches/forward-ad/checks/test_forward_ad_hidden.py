"""Hidden: one input dual at a time, forward and reverse modes agreeing, non-contiguous inputs, and
jvp_dual with a single input."""

import torch
import torch.autograd.forward_ad as fwAD

from lab.forward_ad import Polar, jvp_dual, polar


def test_only_one_input_dual():
    r = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    th = torch.tensor([0.0, 1.0, 2.5], dtype=torch.float64)
    with fwAD.dual_level():
        x, y = polar(fwAD.make_dual(r, torch.ones(3, dtype=torch.float64)), th)
        tx, ty = fwAD.unpack_dual(x).tangent, fwAD.unpack_dual(y).tangent
    assert torch.allclose(tx, torch.cos(th)) and torch.allclose(ty, torch.sin(th)), "only r dual: tangents (cos th, sin th)"
    with fwAD.dual_level():
        x, y = polar(r, fwAD.make_dual(th, torch.ones(3, dtype=torch.float64)))
        tx, ty = fwAD.unpack_dual(x).tangent, fwAD.unpack_dual(y).tangent
    assert torch.allclose(tx, -r * torch.sin(th)) and torch.allclose(ty, r * torch.cos(th)), (
        "only theta dual: tangents (-r sin th, r cos th)")


def test_forward_and_reverse_agree():
    """<v, J t> computed by forward mode equals <J^T v, t> computed by reverse mode."""
    g = torch.Generator().manual_seed(5)
    for _ in range(5):
        r = torch.rand(4, generator=g, dtype=torch.float64) + 0.1
        th = torch.randn(4, generator=g, dtype=torch.float64) * 3
        tr, tth, vx, vy = (torch.randn(4, generator=g, dtype=torch.float64) for _ in range(4))
        jx, jy = _jvp(r, th, tr, tth)
        rr, tt = r.clone().requires_grad_(), th.clone().requires_grad_()
        x, y = polar(rr, tt)
        gr, gth = torch.autograd.grad((x * vx).sum() + (y * vy).sum(), (rr, tt))
        lhs = (vx * jx).sum() + (vy * jy).sum()
        rhs = (gr * tr).sum() + (gth * tth).sum()
        assert torch.allclose(lhs, rhs), f"<v, J t> = {lhs.item()} but <J^T v, t> = {rhs.item()}"


def _jvp(r, th, tr, tth):
    with fwAD.dual_level():
        x, y = polar(fwAD.make_dual(r, tr), fwAD.make_dual(th, tth))
        return fwAD.unpack_dual(x).tangent, fwAD.unpack_dual(y).tangent


def test_non_contiguous_and_both_modes_gradcheck():
    base = torch.rand(4, 3, dtype=torch.float64) + 0.5
    r = base.t().detach().requires_grad_()
    th = (torch.rand(3, 4, dtype=torch.float64) * 6).requires_grad_()
    assert torch.autograd.gradcheck(Polar.apply, (r, th), check_forward_ad=True, check_batched_grad=False)


def test_jvp_dual_single_input_scalar_output():
    x = torch.linspace(-2, 2, 7, dtype=torch.float64)
    t = torch.ones_like(x)
    value, jvp = jvp_dual(lambda a: (a ** 2).sum(), (x,), (t,))
    assert torch.allclose(value, (x ** 2).sum()) and torch.allclose(jvp, (2 * x).sum())
