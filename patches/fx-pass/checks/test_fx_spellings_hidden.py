"""fx-pass (hidden): the other spellings of sigmoid and multiply, a sigmoid with another user,
a shared sigmoid, look-alikes that are not silu, and gradients."""

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from lab.fx_silu import fuse_silu

torch.set_num_threads(1)  # tiny tensors: one thread beats two on a busy 2-core box


def _silus(gm):
    return sum(1 for n in gm.graph.nodes if n.op == "call_function" and n.target is F.silu)


def _has_sigmoid(gm):
    mods = dict(gm.named_modules())
    return any(
        (n.op == "call_function" and n.target is torch.sigmoid)
        or (n.op == "call_method" and n.target == "sigmoid")
        or (n.op == "call_module" and isinstance(mods.get(n.target), nn.Sigmoid))
        for n in gm.graph.nodes
    )


def _check(model, x, count, sigmoid_left):
    model.eval()
    gm = fx.symbolic_trace(model)
    ref = model(x)
    code = gm.code
    got = fuse_silu(gm)
    gm.graph.lint()
    where = f"{type(model).__name__}; graph before:{code}\ngraph after:{gm.code}"
    assert got == count and _silus(gm) == count, (
        f"expected {count} rewrites (and {count} F.silu nodes), got {got} ({_silus(gm)} nodes): {where}"
    )
    assert _has_sigmoid(gm) == sigmoid_left, (
        f"a sigmoid node should {'stay' if sigmoid_left else 'be gone'}: {where}"
    )
    out = gm(x)
    assert torch.allclose(ref, out, atol=1e-6, rtol=1e-5), f"outputs differ: {where}"
    return gm


class ModuleSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.gate = nn.Linear(4, 4), nn.Sigmoid()

    def forward(self, x):
        h = self.fc(x)
        return torch.mul(h, self.gate(h))


class MethodMul(nn.Module):
    def forward(self, x):
        return x.sigmoid().mul(x)


class SharedSigmoid(nn.Module):
    def forward(self, x):
        s = torch.sigmoid(x)
        return x * s + s  # the sigmoid has another user: keep it


class TwoMulsOneSigmoid(nn.Module):
    def forward(self, x):
        s = x.sigmoid()
        return x * s + s * x


class LookAlikes(nn.Module):
    def forward(self, x, y):
        s = torch.sigmoid(x)
        return s * s + y * torch.sigmoid(x) + x * torch.sigmoid(y) + 2.0 * torch.sigmoid(x)


class EncoderBlock(nn.Module):
    """A transformer encoder block from torch.nn parts (MultiheadAttention stays a leaf module)."""

    def __init__(self, d=16):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, 2, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff1, self.ff2 = nn.Linear(d, 32), nn.Linear(32, d)

    def forward(self, x):
        x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
        h = self.ff1(x)
        return self.norm2(x + self.ff2(h * torch.sigmoid(h)))


def test_nn_sigmoid_module_and_torch_mul():
    _check(ModuleSigmoid(), torch.randn(3, 4), 1, False)


def test_method_mul_with_sigmoid_first():
    _check(MethodMul(), torch.randn(3, 4), 1, False)


def test_sigmoid_with_another_user_is_kept():
    _check(SharedSigmoid(), torch.randn(3, 4), 1, True)


def test_one_sigmoid_two_multiplies():
    _check(TwoMulsOneSigmoid(), torch.randn(3, 4), 2, False)


def test_look_alikes_are_not_rewritten():
    model = LookAlikes()
    gm = fx.symbolic_trace(model)
    code = gm.code
    got = fuse_silu(gm)
    assert got == 0 and gm.code == code, (
        f"s*s, y*sigmoid(x), x*sigmoid(y) and 2*sigmoid(x) are not silu: expected 0 rewrites and "
        f"the same graph, got {got}:{gm.code}"
    )


def test_encoder_block_and_gradients():
    torch.manual_seed(0)
    model = EncoderBlock()
    x = torch.randn(2, 5, 16, requires_grad=True)
    gm = _check(model, x, 1, False)
    (g_ref,) = torch.autograd.grad(model(x).square().sum(), x)
    (g_new,) = torch.autograd.grad(gm(x).square().sum(), x)
    assert torch.allclose(g_ref, g_new, atol=1e-5, rtol=1e-4), "gradients differ after the pass"
