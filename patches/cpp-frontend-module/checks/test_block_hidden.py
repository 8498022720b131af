"""Hidden checks of labnn::GatedBlock: other sizes and batch shapes, Linear's own initialisation,
and parameters shared with the module (not copies)."""

import math
import os

import torch
import torch.nn.functional as F

_loaded = {}


def GatedBlock(in_features, out_features):
    """A new torch.classes.labnn.GatedBlock (the library loaded once)."""
    if "cls" not in _loaded:
        torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])
        try:
            _loaded["cls"] = torch.classes.labnn.GatedBlock
        except RuntimeError:
            _loaded["cls"] = None
    assert _loaded["cls"] is not None, "torch.classes.labnn.GatedBlock is not registered (TORCH_LIBRARY in lab/block.cpp)"
    return _loaded["cls"](in_features, out_features)


def _reference(p, x):
    return p["scale"] * F.silu(F.linear(x, p["fc.weight"], p["fc.bias"]))


def test_other_sizes_and_batch_shapes():
    torch.manual_seed(2)
    for fin, fout, shape in ((1, 1, (4, 1)), (7, 2, (2, 3, 7)), (16, 9, (16,))):
        block = GatedBlock(fin, fout)
        p = dict(block.named_parameters())
        x = torch.randn(*shape)
        got = block.forward(x)
        assert got.shape == _reference(p, x).shape and torch.allclose(got, _reference(p, x), atol=1e-6), (
            f"GatedBlock({fin}, {fout}) on a {shape} input differs from the reference")


def test_linear_initialisation_is_the_frontends():
    torch.manual_seed(3)
    fin = 25
    p = dict(GatedBlock(fin, 40).named_parameters())
    bound = 1 / math.sqrt(fin)
    w = p["fc.weight"]
    assert w.abs().max() <= bound + 1e-6 and w.std() > bound / 4, (
        "fc.weight is not initialised like torch::nn::Linear (uniform in +-1/sqrt(in_features)): "
        "construct the Linear with torch::nn::Linear(in_features, out_features)")


def test_parameters_are_the_modules_tensors():
    torch.manual_seed(4)
    block = GatedBlock(3, 3)
    p = dict(block.named_parameters())
    x = torch.randn(2, 3)
    with torch.no_grad():
        p["fc.bias"].add_(10.0)
        p["scale"].mul_(-1.0)
    assert torch.allclose(block.forward(x), _reference(p, x), atol=1e-5), (
        "changing the parameters in place did not change forward: forward must read the registered tensors")
    p2 = dict(block.named_parameters())
    assert p2["scale"].data_ptr() == p["scale"].data_ptr(), "named_parameters() returned copies"
