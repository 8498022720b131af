import os

import torch

from lab.sq import square


def test_square():
    got = square(torch.tensor([2.0, -3.0]))
    assert torch.equal(got, torch.tensor([4.0, 9.0])), f"square([2, -3]) must be [4, 9], got {got.tolist()}"


def test_torch_is_the_workspace_copy():
    assert torch.__file__.startswith(os.environ["TORCHATLAS_LAB_WORKSPACE"]), torch.__file__
