"""embedding-bag: offsets, offset2bag and the three reductions equal F.embedding_bag, values and
gradients, on jagged bags with empty ones."""

import pytest
import torch
import torch.nn.functional as F

from lab.bags import embedding_bag, offset2bag, offsets_from_lengths

torch.set_num_threads(1)


def test_offsets_from_lengths():
    got = offsets_from_lengths(torch.tensor([3, 0, 2]))
    assert got.tolist() == [0, 3, 3], f"lengths [3, 0, 2] gave offsets {got.tolist()}, expected [0, 3, 3] (where each bag starts)"
    assert got.dtype == torch.int64, f"offsets should be int64, got {got.dtype}"


def test_offset2bag_with_an_empty_bag():
    got = offset2bag(torch.tensor([0, 3, 3]), 5)
    assert got.tolist() == [0, 0, 0, 2, 2], (
        f"offsets [0, 3, 3] over 5 positions gave {got.tolist()}, expected [0, 0, 0, 2, 2]: bag 1 is empty, "
        "so positions 3 and 4 belong to bag 2 (torch.searchsorted finds, for each position, the last offset <= it)")


def batch(seed=0, d=4):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([3, 0, 5, 1, 4, 0])
    idx = torch.randint(0, 30, (int(lengths.sum()),), generator=g)
    w = torch.randn(30, d, generator=g, dtype=torch.float64).requires_grad_()
    return w, idx, offsets_from_lengths(lengths)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_reduction_matches_embedding_bag(mode):
    w, idx, off = batch()
    got = embedding_bag(w, idx, off, mode)
    want = F.embedding_bag(idx, w, off, mode=mode)
    assert got.shape == want.shape, f"mode {mode}: shape {tuple(got.shape)}, expected {tuple(want.shape)} (one row per bag)"
    bad = (got - want).abs().amax(1) > 1e-9
    assert not bad.any(), (f"mode {mode}: bags {bad.nonzero().flatten().tolist()} differ from F.embedding_bag "
                           "(bags 1 and 5 are empty: their row is zeros)")
    g1, = torch.autograd.grad((got ** 2).sum(), w)
    g2, = torch.autograd.grad((want ** 2).sum(), w)
    assert torch.allclose(g1, g2), f"mode {mode}: the gradient with respect to weight differs from F.embedding_bag's"


def test_per_sample_weights():
    w, idx, off = batch(1)
    psw = torch.rand(idx.numel(), dtype=torch.float64, requires_grad=True)
    got = embedding_bag(w, idx, off, "sum", per_sample_weights=psw)
    want = F.embedding_bag(idx, w, off, mode="sum", per_sample_weights=psw)
    assert torch.allclose(got, want), "with per_sample_weights each looked-up row is scaled by its weight before the sum"
    a, = torch.autograd.grad(got.sum(), psw)
    b, = torch.autograd.grad(want.sum(), psw)
    assert torch.allclose(a, b), "the gradient with respect to per_sample_weights differs"
