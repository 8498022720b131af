"""jvp_dual and jacobian_fwd: forward mode by dual numbers, checked against torch.func.jvp / jacfwd.

Each function under test also runs a `Cube` Function that has a forward-mode formula and NO usable
backward: an answer computed with backward (double-backward tricks, torch.autograd.functional.jvp)
fails loudly, and f is called through a counter (finite differences call it more than once).
"""

import torch

from lab.forward_ad import jacobian_fwd, jvp_dual


class Cube(torch.autograd.Function):
    """x**3 with a jvp (3 x**2 t) and a backward that refuses: only forward mode may go through it."""

    generate_vmap_rule = True  # torch.func.jacfwd (the reference) vmaps over it

    @staticmethod
    def forward(x):
        return x ** 3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def jvp(ctx, t):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * t

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("reverse mode went through Cube: jvp_dual/jacobian_fwd must use forward mode (dual tensors)")


class Counted:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def f_mlp(x, w):
    return torch.tanh(x @ w).sum(-1) * x.norm()


def f_cubic(x, w):
    return Cube.apply(x @ w) + torch.sin(x).sum()


def _check(f, primals, tangents, what):
    counted = Counted(f)
    got = jvp_dual(counted, primals, tangents)
    assert isinstance(got, tuple) and len(got) == 2, f"jvp_dual returned {type(got).__name__}, expected (value, jvp)"
    value, jvp = got
    assert counted.calls == 1, (f"{what}: f was called {counted.calls} times; forward mode needs ONE call, with dual "
                                "inputs (finite differences call it twice or more)")
    assert jvp is not None, (f"{what}: the tangent is None: the inputs were not made dual inside the same "
                             "fwAD.dual_level() that unpacks the output")
    return value, jvp


def test_jvp_matches_torch_func():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    w = torch.randn(4, 3, generator=g, dtype=torch.float64)
    tx, tw = torch.randn_like(x), torch.randn_like(w)
    value, jvp = _check(f_mlp, (x, w), (tx, tw), "f(x, w) = tanh(x @ w).sum(-1) * |x|")
    ref_value, ref_jvp = torch.func.jvp(f_mlp, (x, w), (tx, tw))
    assert torch.allclose(value, ref_value), "the value (primal) differs from f(x, w)"
    assert torch.allclose(jvp, ref_jvp), (f"jvp_dual gives {jvp.tolist()}, torch.func.jvp {ref_jvp.tolist()}: pass "
                                          "each primal with its own tangent to fwAD.make_dual")
    assert fwAD_free(value) and fwAD_free(jvp), "return plain tensors: unpack the output inside the dual level"


def fwAD_free(t):
    import torch.autograd.forward_ad as fwAD

    with fwAD.dual_level():
        return fwAD.unpack_dual(t).tangent is None


def test_jvp_goes_through_forward_mode_only():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, generator=g, dtype=torch.float64)
    w = torch.randn(3, 2, generator=g, dtype=torch.float64)
    tx, tw = torch.randn_like(x), torch.randn_like(w)
    try:
        value, jvp = _check(f_cubic, (x, w), (tx, tw), "f(x, w) = (x @ w)**3 + sum(sin x)")
    except RuntimeError as e:
        raise AssertionError(str(e)) from None
    u = x @ w
    expected = 3 * u ** 2 * (tx @ w + x @ tw) + (torch.cos(x) * tx).sum()
    assert torch.allclose(jvp, expected), f"the jvp through a forward-only Function is {jvp.tolist()}, expected {expected.tolist()}"


def test_jacobian_fwd_matches_jacfwd():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(3, 4, generator=g, dtype=torch.float64)

    def f(x):
        return torch.softmax(W @ x, dim=0) + Cube.apply(x[:3])

    x = torch.randn(4, generator=g, dtype=torch.float64)
    counted = Counted(f)
    try:
        J = jacobian_fwd(counted, x)
    except RuntimeError as e:
        raise AssertionError(str(e)) from None
    ref = torch.func.jacfwd(f)(x)
    assert tuple(J.shape) == tuple(ref.shape), f"jacobian_fwd's shape is {tuple(J.shape)}, expected f(x).shape + x.shape = {tuple(ref.shape)}"
    assert torch.allclose(J, ref), "jacobian_fwd differs from torch.func.jacfwd: column j is the jvp along the j-th basis vector"
    assert counted.calls == x.numel(), f"f was called {counted.calls} times, expected one jvp per input element ({x.numel()})"


def test_jacobian_fwd_of_a_matrix_input():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, generator=g, dtype=torch.float64)

    def f(m):
        return torch.tanh(m).sum(0) * m[0]

    J = jacobian_fwd(f, x)
    ref = torch.func.jacfwd(f)(x)
    assert tuple(J.shape) == (3, 2, 3), f"for x of shape (2, 3) and f(x) of shape (3,), J must be (3, 2, 3), got {tuple(J.shape)}"
    assert torch.allclose(J, ref), "jacobian_fwd of a matrix input differs from torch.func.jacfwd (basis vectors shaped like x)"
