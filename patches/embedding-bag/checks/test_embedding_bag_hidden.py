"""embedding-bag (hidden): padding_idx in every mode (a bag of padding only is zeros), int32 ids,
many bags without a Python loop over them."""

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from lab.bags import embedding_bag, offset2bag, offsets_from_lengths

torch.set_num_threads(1)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_padding_idx(mode):
    w = torch.randn(10, 3, dtype=torch.float64)
    idx = torch.tensor([1, 2, 4, 2, 2, 3, 2], dtype=torch.int32)
    off = torch.tensor([0, 3, 5], dtype=torch.int32)  # bag 1 is [2, 2]: only padding
    got = embedding_bag(w, idx, off, mode, padding_idx=2)
    want = F.embedding_bag(idx, w, off, mode=mode, padding_idx=2)
    assert torch.allclose(got, want), (
        f"mode {mode} with padding_idx=2: got {got.tolist()}, expected {want.tolist()}; padding positions are "
        "left out entirely (not counted in the mean; a bag of padding only is zeros)")


def test_trailing_empty_bags_and_scale():
    got = offset2bag(torch.tensor([0, 2, 4, 4]), 4)
    assert got.tolist() == [0, 0, 1, 1], f"got {got.tolist()}: trailing empty bags own no positions"
    lengths = torch.randint(0, 6, (20000,))
    idx = torch.randint(0, 1000, (int(lengths.sum()),))
    w = torch.randn(1000, 8)
    off = offsets_from_lengths(lengths)
    with CountCalls() as calls:
        got = embedding_bag(w, idx, off, "mean")
    assert torch.allclose(got, F.embedding_bag(idx, w, off, mode="mean"), atol=1e-5)
    assert calls.n < 200, (f"20,000 bags took {calls.n} torch calls: vectorize (searchsorted, index_add, "
                           "scatter_reduce), no Python loop over bags or positions")


class CountCalls(TorchFunctionMode):
    """Counts torch function calls (deterministic, unlike a timer on a busy machine)."""

    n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))
