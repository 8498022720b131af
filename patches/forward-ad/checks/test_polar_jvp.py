"""Polar.jvp: the forward-mode formula of a custom Function, by dual numbers and gradcheck."""

import torch
import torch.autograd.forward_ad as fwAD

from lab.forward_ad import Polar, polar


def _reference(r, th):
    return r * torch.cos(th), r * torch.sin(th)


def _tangents(r, th, tr, tth):
    try:
        with fwAD.dual_level():
            x, y = polar(fwAD.make_dual(r, tr), fwAD.make_dual(th, tth))
            return fwAD.unpack_dual(x).tangent, fwAD.unpack_dual(y).tangent
    except ValueError as e:  # not enough values to unpack: nothing saved for forward
        raise AssertionError(f"forward AD through Polar failed with {e!r}: in jvp, ctx.saved_tensors holds what "
                             "setup_context passed to ctx.save_for_forward (not to ctx.save_for_backward)") from None


def test_dual_number_tangents():
    g = torch.Generator().manual_seed(0)
    r = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    th = torch.rand(6, generator=g, dtype=torch.float64) * 6
    tr, tth = torch.randn_like(r), torch.randn_like(th)
    got = _tangents(r, th, tr, tth)
    _, want = torch.func.jvp(_reference, (r, th), (tr, tth))
    for name, a, b in zip(("x = r cos th", "y = r sin th"), got, want):
        assert a is not None, f"the tangent of {name} is None: jvp returns one tangent per output"
        assert torch.allclose(a, b), f"the tangent of {name} is {a.tolist()}, expected {b.tolist()}"


def test_gradcheck_forward_mode():
    g = torch.Generator().manual_seed(1)
    r = (torch.rand(3, 2, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    th = (torch.rand(3, 2, generator=g, dtype=torch.float64) * 6).requires_grad_()
    try:
        ok = torch.autograd.gradcheck(Polar.apply, (r, th), check_forward_ad=True, check_backward_ad=False,
                                      check_undefined_grad=False, check_batched_grad=False)
    except NotImplementedError:
        raise
    except Exception as e:
        raise AssertionError(f"gradcheck(check_forward_ad=True) of Polar failed: {type(e).__name__}: {str(e)[:900]}") from None
    assert ok
