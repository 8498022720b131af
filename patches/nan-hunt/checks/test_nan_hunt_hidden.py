"""nan-hunt (hidden): the locator on other planted models (nested names, the first of two
sources, tuple outputs, the model itself, a backward-only NaN deep inside, a loss_fn that raises),
and the fix itself on extreme inputs, with the shipped data and learning rate unchanged."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.modules.module as mm

from lab import nan_model
from lab.nan_locator import first_nonfinite_module

torch.set_num_threads(1)


def hooks_left(model):
    n = sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        + len(m._backward_pre_hooks)
        for m in model.modules()
    )
    return n + len(mm._global_forward_hooks) + len(mm._global_backward_hooks)


class LogMix(nn.Module):
    """log of a value that goes negative: NaN in the forward."""

    def __init__(self, bad):
        super().__init__()
        self.bad = bad

    def forward(self, x):
        return torch.log(x - 100.0) if self.bad else torch.tanh(x)


class Block(nn.Module):
    def __init__(self, bad=False):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.mix = LogMix(bad)

    def forward(self, x):
        return self.mix(self.lin(x))


class Stack(nn.Module):
    def __init__(self, bad_at):
        super().__init__()
        self.blocks = nn.ModuleList(Block(i in bad_at) for i in range(4))
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return self.out(x)


def _loss(x):
    return lambda m: m(x).sum()


def test_nested_name_and_first_of_two_sources():
    torch.manual_seed(0)
    model = Stack(bad_at={1, 3})
    name = first_nonfinite_module(model, _loss(torch.randn(3, 8)))
    assert name == "blocks.1.mix", (
        f"blocks.1.mix makes the first NaN (blocks.3.mix makes its own later; blocks.1 itself, "
        f"blocks.2.lin, ... only pass it on): expected 'blocks.1.mix', got {name!r}. Names are "
        f"the qualified names of model.named_modules()"
    )
    assert hooks_left(model) == 0, f"{hooks_left(model)} hooks left on the model"


class TupleOut(nn.Module):
    def forward(self, x):
        return x, x / 0.0  # the second output is inf


class WithTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Linear(4, 4)
        self.split = TupleOut()
        self.post = nn.Linear(4, 1)

    def forward(self, x):
        h, aux = self.split(self.pre(x))
        return self.post(h) + aux.sum()


def test_tuple_output():
    torch.manual_seed(1)
    name = first_nonfinite_module(WithTuple(), _loss(torch.randn(2, 4)))
    assert name == "split", f"'split' returns (finite, inf): expected 'split', got {name!r}"


class RootDoesIt(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return torch.sqrt(self.lin(x) - 50.0)  # in the model's own forward, not in a child


def test_the_model_itself_is_named_empty_string():
    torch.manual_seed(2)
    name = first_nonfinite_module(RootDoesIt(), _loss(torch.randn(2, 4)))
    assert name == "", (
        f"the NaN is made in the model's own forward (after 'lin' returned finite): the model is "
        f"named '' in named_modules(); got {name!r}"
    )


class PairDistance(nn.Module):
    """Euclidean distance written by hand: sqrt(0) where the two points coincide."""

    def forward(self, a, b):
        return ((a - b) ** 2).sum(-1).sqrt()


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(4, 6), nn.Tanh())
        self.head = nn.ModuleDict({"dist": PairDistance(), "scale": nn.Linear(1, 1)})

    def forward(self, a, b):
        d = self.head["dist"](self.enc(a), self.enc(b))
        return self.head["scale"](d.unsqueeze(-1))


def test_backward_only_nan_deep_inside():
    torch.manual_seed(3)
    model = Siamese()
    a = torch.randn(4, 4)
    b = a.clone()
    b[0] += 1.0  # rows 1..3 coincide: distance 0, finite forward, NaN gradient
    name = first_nonfinite_module(model, lambda m: m(a, b).sum())
    assert name == "head.dist", (
        f"the forward is finite; backward through sqrt(0) makes the input gradient of "
        f"'head.dist' NaN first ('head.scale' stays finite); got {name!r}"
    )
    assert hooks_left(model) == 0, f"{hooks_left(model)} hooks left on the model"


def test_no_hook_left_when_loss_fn_raises():
    model = Stack(bad_at=set())

    def boom(m):
        m(torch.randn(2, 8))
        raise ValueError("planted")

    with pytest.raises(ValueError):
        first_nonfinite_module(model, boom)
    assert hooks_left(model) == 0, (
        f"{hooks_left(model)} hooks left after loss_fn raised: every handle must be returned "
        f"so the finally block removes it"
    )


def test_pool_on_extreme_inputs():
    pool = nan_model.LogSumExpPool()
    g = torch.Generator().manual_seed(4)
    for scale in (1.0, 1e2, 1e4, 1e30):
        x = (torch.randn(3, 10, 5, generator=g) * scale).requires_grad_()
        out = pool(x)
        ref = torch.logsumexp(x, dim=1)
        assert torch.isfinite(out).all() and torch.allclose(out, ref, rtol=1e-6, atol=1e-5), (
            f"LogSumExpPool on inputs of scale {scale:g}: max abs error "
            f"{(out - ref).abs().max().item():.3g} against torch.logsumexp"
        )
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert torch.allclose(grad, torch.softmax(x.detach(), dim=1), atol=1e-6), (
            f"the gradient of LogSumExpPool at scale {scale:g} is not softmax(x, dim=1)"
        )
    x = torch.randn(2, 10, 5, generator=g, dtype=torch.float64)
    assert torch.allclose(pool(x), torch.log(torch.exp(x).sum(1))), (
        "where the naive formula is finite, the pool must give the same values"
    )


def test_shipped_setup_unchanged():
    assert (nan_model.LR, nan_model.MOMENTUM, nan_model.SCALE) == (0.3, 0.9, 10.0), (
        "fix the op, not the learning rate, momentum or data scale"
    )

    class Naive(nn.Module):
        def forward(self, x):
            return torch.log(torch.exp(x).sum(dim=1))

    model = nan_model.make_model(0)
    model.pool = Naive()
    losses = nan_model.train(seed=0, steps=60, model=model)
    assert not all(math.isfinite(v) for v in losses), (
        "the shipped data and model no longer reach the overflow with the naive pool: the lab "
        "must be fixed in the op, not by changing make_model / make_batches / the optimizer"
    )
