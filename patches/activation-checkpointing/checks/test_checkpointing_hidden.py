"""Hidden: every block recomputed exactly once, torch.autograd.grad works (non-reentrant), heavy
Dropout still bit-identical, the saving grows with depth, and no_grad inference works."""

import copy

import torch

from lab.checkpointing import DeepMLP, saved_activation_bytes


def _pair(**kw):
    torch.manual_seed(1)
    plain = DeepMLP(**kw)
    ckpt = copy.deepcopy(plain)
    ckpt.checkpointing = True
    return plain, ckpt


def test_each_block_recomputed_once():
    _, ckpt = _pair(width=16, depth=6, p=0.1, segment=3)
    calls = [0] * len(ckpt.blocks)
    for i, block in enumerate(ckpt.blocks):  # each block's Linear (recomputation may stop after the last save)
        block.fc.register_forward_hook(lambda m, a, o, i=i: calls.__setitem__(i, calls[i] + 1))
    ckpt(torch.randn(4, 16)).sum().backward()
    assert calls == [2] * len(ckpt.blocks), (
        f"forward calls of each block's Linear over one forward + backward: {calls}; with checkpointing "
        "every block "
        "runs twice (the forward, and its recomputation in backward)")


def test_autograd_grad_works():
    plain, ckpt = _pair(width=16, depth=4, p=0.3, segment=2)
    x = torch.randn(5, 16)
    params = list(ckpt.parameters())
    torch.manual_seed(3)
    got = torch.autograd.grad(ckpt(x).sum(), params)
    torch.manual_seed(3)
    want = torch.autograd.grad(plain(x).sum(), list(plain.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(got, want)), (
        "torch.autograd.grad through the checkpointed model differs (the reentrant variant does not support "
        "it: use_reentrant=False)")


def test_heavy_dropout_is_bit_identical():
    plain, ckpt = _pair(width=32, depth=4, p=0.5, segment=1)
    x = torch.randn(12, 32, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    torch.manual_seed(11)
    plain(x).square().sum().backward()
    torch.manual_seed(11)
    ckpt(x2).square().sum().backward()
    assert torch.equal(x.grad, x2.grad), "with Dropout(0.5) the input gradients differ: the recomputation drew other masks"


def test_saving_grows_with_depth():
    ratios = []
    for depth in (4, 12):
        plain, ckpt = _pair(width=32, depth=depth, p=0.1, segment=2)
        x = torch.randn(16, 32)
        ratios.append(saved_activation_bytes(ckpt, x) / saved_activation_bytes(plain, x))
    assert ratios[1] <= ratios[0] + 1e-9 and ratios[1] < 0.35, f"saved-bytes ratios (checkpointed / plain) at depth 4, 12: {ratios}"


def test_no_grad_inference():
    plain, ckpt = _pair(width=8, depth=4, p=0.0, segment=2)
    plain.eval(); ckpt.eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(ckpt(x), plain(x))
