"""fx-pass: fuse_silu on real models built from torch.nn (an MLP, a ResNet-style block, a gated
unit that must be left alone). Each test traces a model, runs the pass, and compares."""

import operator

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from lab.fx_silu import fuse_silu

torch.set_num_threads(1)  # tiny tensors: one thread beats two on a busy 2-core box
torch.manual_seed(0)


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act1 = nn.Linear(12, 32), Swish()
        self.fc2, self.act2 = nn.Linear(32, 32), Swish()
        self.out = nn.Linear(32, 3)

    def forward(self, x):
        return self.out(self.act2(self.fc2(self.act1(self.fc1(x)))))


class ResBlock(nn.Module):
    """conv-bn-swish-conv-bn plus the shortcut, then swish again, spelled two other ways."""

    def __init__(self, c=8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        h = self.bn1(self.conv1(x))
        h = h * h.sigmoid()
        h = self.bn2(self.conv2(h))
        out = h + x
        return torch.sigmoid(out) * out


class Gated(nn.Module):
    """a * sigmoid(b) (a GLU) is NOT silu: the pass must leave it alone."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 6), nn.Linear(6, 6)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))


def _traced(model):
    model.eval()  # BatchNorm: traced and original share the modules; keep running stats fixed
    return fx.symbolic_trace(model)


def _sigmoids(gm):
    mods = dict(gm.named_modules())
    return [
        n for n in gm.graph.nodes
        if (n.op == "call_function" and n.target is torch.sigmoid)
        or (n.op == "call_method" and n.target == "sigmoid")
        or (n.op == "call_module" and isinstance(mods.get(n.target), nn.Sigmoid))
    ]


def _silus(gm):
    return [n for n in gm.graph.nodes if n.op == "call_function" and n.target is F.silu]


def _rest(gm):
    """The nodes the pass must not touch: everything but muls, sigmoids, silus and the output."""
    skip = {id(n) for n in _sigmoids(gm)} | {id(n) for n in _silus(gm)}
    return [
        (n.op, str(n.target), n.name) for n in gm.graph.nodes
        if id(n) not in skip and n.op != "output"
        and not (n.op == "call_function" and n.target in (operator.mul, torch.mul))
        and not (n.op == "call_method" and n.target == "mul")
    ]


def _run_pass(model, x, expected_count):
    gm = _traced(model)
    with torch.no_grad():
        before = gm(x)
    rest_before = _rest(gm)
    code_before = gm.code
    count = fuse_silu(gm)
    gm.graph.lint()
    assert count == expected_count, (
        f"fuse_silu returned {count}, expected {expected_count} rewrites for {type(model).__name__}.\n"
        f"graph before the pass:{code_before}\ngraph after:{gm.code}"
    )
    with torch.no_grad():
        after = gm(x)
    assert torch.allclose(before, after, atol=1e-6, rtol=1e-5), (
        f"{type(model).__name__}: outputs differ after the pass (max abs diff "
        f"{(before - after).abs().max().item():.3g}); did gm.recompile() run, and does silu take "
        f"the same x the sigmoid took?\ngraph after:{gm.code}"
    )
    assert _rest(gm) == rest_before, (
        f"{type(model).__name__}: nodes outside the pattern changed.\nbefore: {rest_before}\n"
        f"after:  {_rest(gm)}\nonly the multiply and its sigmoid may go"
    )
    return gm


def test_mlp_with_swish_modules():
    gm = _run_pass(MLP(), torch.randn(5, 12), 2)
    assert not _sigmoids(gm) and len(_silus(gm)) == 2, (
        f"expected 2 F.silu calls and no sigmoid left; graph after the pass:{gm.code}"
    )


def test_resnet_block_both_operand_orders():
    gm = _run_pass(ResBlock(), torch.randn(2, 8, 6, 6), 2)
    assert not _sigmoids(gm), (
        f"sigmoid nodes left: {[n.format_node() for n in _sigmoids(gm)]}; `h * h.sigmoid()` "
        f"(call_method) and `torch.sigmoid(out) * out` (sigmoid first) are both the pattern"
    )
    assert len(_silus(gm)) == 2, f"expected 2 F.silu calls; graph after:{gm.code}"


def test_gated_unit_is_left_alone():
    gm = _traced(Gated())
    code = gm.code
    count = fuse_silu(gm)
    assert count == 0 and gm.code == code, (
        f"a * sigmoid(b) with a != b is a gate, not silu: expected 0 rewrites and the same graph, "
        f"got {count}; graph after:{gm.code}"
    )


def test_graph_lints_and_runs_after_the_pass():
    gm = _traced(MLP())
    fuse_silu(gm)
    gm.graph.lint()
    assert "sigmoid" not in gm.code, (
        f"the generated code still calls sigmoid; did you erase the dead sigmoid node and call "
        f"gm.recompile()?{gm.code}"
    )
