import torch

from lab.sq import square


def test_keeps_dtype():
    x = torch.tensor([3], dtype=torch.int64)
    assert square(x).dtype == torch.int64 and square(x).item() == 9, "square must keep integer tensors integer"
