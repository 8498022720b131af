"""Activation checkpointing: the same gradients, bit for bit, and measurably fewer saved bytes.

Memory is measured the same way the learner's function must: torch.autograd.graph.saved_tensors_hooks
counting numel * element_size of every tensor autograd saves during the forward (exact and
deterministic; the process's RSS is neither).
"""

import copy
import warnings

import torch

from lab.checkpointing import DeepMLP, saved_activation_bytes


def _count_saved(model, x):
    """The checker's own count, independent of the learner's saved_activation_bytes."""
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return total[0]


def _models(**kw):
    torch.manual_seed(0)
    plain = DeepMLP(**kw)
    ckpt = copy.deepcopy(plain)
    ckpt.checkpointing = True
    return plain, ckpt


def _grads(model, x, seed):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # the same Dropout masks for both models
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # checkpoint warns when use_reentrant is not given
        model(x).pow(2).mean().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def test_gradients_identical_to_no_checkpointing():
    plain, ckpt = _models(width=32, depth=6, p=0.2, segment=2)
    x = torch.randn(16, 32)
    want = _grads(plain, x, seed=7)
    got = _grads(ckpt, x, seed=7)
    for name in want:
        assert torch.equal(got[name], want[name]), (
            f"the gradient of {name} with checkpointing differs from the plain run (max difference "
            f"{(got[name] - want[name]).abs().max().item():.3g}): the recomputation in backward must redo "
            "exactly the same forward, Dropout masks included (checkpoint restores the RNG state by default)")


def test_saved_activation_memory_is_lower():
    plain, ckpt = _models(width=64, depth=8, p=0.1, segment=2)
    x = torch.randn(32, 64)
    full = _count_saved(plain, x)
    with_ckpt = _count_saved(ckpt, x)
    assert with_ckpt < 0.5 * full, (
        f"with checkpointing, autograd still saves {with_ckpt} bytes during the forward, against {full} "
        f"without ({with_ckpt / full:.0%}): run each segment under torch.utils.checkpoint.checkpoint so "
        "that what its ops save is dropped (and recomputed in backward)")


def test_learners_measurement_matches():
    plain, ckpt = _models(width=48, depth=4, p=0.0, segment=1)
    x = torch.randn(8, 48)
    for model, what in ((plain, "without checkpointing"), (ckpt, "with checkpointing")):
        want = _count_saved(model, x)
        got = saved_activation_bytes(model, x)
        assert got == want, (
            f"saved_activation_bytes {what} = {got}, expected {want}: add numel() * element_size() of every "
            "tensor passed to the pack hook of saved_tensors_hooks, during one model(x)")
