"""Checks of labnn::GatedBlock, a torch::nn::Module built from lab/block.cpp: the custom class is
registered, its parameters are named as a Module names them, and its output and gradients equal
a Python reference computed with the very same weights.

Runs in a fresh process: the library is loaded from TORCHATLAS_LAB_LIB.
"""

import os

import pytest
import torch
import torch.nn.functional as F

_loaded = {}


def _block_class():
    if "cls" not in _loaded:
        try:
            torch.ops.load_library(os.environ["TORCHATLAS_LAB_LIB"])
        except OSError as e:
            pytest.fail(f"the library built from lab/block.cpp does not load: {e}")
        try:
            _loaded["cls"] = torch.classes.labnn.GatedBlock
        except (RuntimeError, AttributeError) as e:
            pytest.fail("torch.classes.labnn.GatedBlock does not exist: register the custom class in "
                        "TORCH_LIBRARY(labnn, m) with m.class_<labnn::GatedBlockHolder>(\"GatedBlock\") "
                        f"(lab/block.cpp). ({str(e).splitlines()[0]})")
    return _loaded["cls"]


def _make(in_features, out_features):
    cls = _block_class()
    try:
        return cls(in_features, out_features)
    except RuntimeError as e:
        pytest.fail(f"torch.classes.labnn.GatedBlock({in_features}, {out_features}) failed: "
                    f"{str(e).splitlines()[0]}; the class needs .def(torch::init<int64_t, int64_t>())")


def _params(block):
    try:
        return dict(block.named_parameters())
    except (RuntimeError, AttributeError) as e:
        pytest.fail(f"GatedBlock.named_parameters() is not callable from Python: {str(e).splitlines()[0]}; "
                    "add .def(\"named_parameters\", &labnn::GatedBlockHolder::named_parameters)")


def _forward(block, x):
    try:
        return block.forward(x)
    except (RuntimeError, AttributeError) as e:
        pytest.fail(f"GatedBlock.forward failed on a {tuple(x.shape)} input: {str(e).splitlines()[0]} "
                    "(the method must be registered with .def(\"forward\", ...), and GatedBlockImpl::forward written)")


def _reference(params, x):
    return params["scale"] * F.silu(F.linear(x, params["fc.weight"], params["fc.bias"]))


def test_class_is_registered():
    """The binding alone: the custom class, its constructor and its two methods, as TorchScript sees them."""
    block = _make(2, 2)
    for method in ("forward", "named_parameters"):
        assert hasattr(block, method), (
            f"torch.classes.labnn.GatedBlock has no method {method!r}: add .def(\"{method}\", "
            f"&labnn::GatedBlockHolder::{method}) to the class in TORCH_LIBRARY(labnn, m)")


def test_parameters_are_registered_by_name():
    block = _make(5, 3)
    params = _params(block)
    expected = {"fc.weight": (3, 5), "fc.bias": (3,), "scale": (3,)}
    assert set(params) == set(expected), (
        f"named_parameters() gives {sorted(params)}, expected {sorted(expected)}: register the Linear with "
        "register_module(\"fc\", ...) (its weight and bias become fc.weight, fc.bias) and the vector with "
        "register_parameter(\"scale\", ...); a plain member is invisible to named_parameters()")
    for name, shape in expected.items():
        assert tuple(params[name].shape) == shape, f"{name} has shape {tuple(params[name].shape)}, expected {shape}"
        assert params[name].requires_grad, f"{name} does not require grad: parameters do, once registered"
    assert torch.equal(params["scale"], torch.ones(3)), f"scale must start at ones, got {params['scale'].tolist()}"


def test_forward_matches_python_reference():
    torch.manual_seed(0)
    block = _make(4, 6)
    params = _params(block)
    with torch.no_grad():  # the dict holds the module's own tensors: change scale in place
        params["scale"].copy_(torch.linspace(-2, 2, 6))
    x = torch.randn(8, 4)
    got = _forward(block, x)
    want = _reference(params, x)
    assert tuple(got.shape) == (8, 6), f"output shape {tuple(got.shape)}, expected (8, 6)"
    assert torch.allclose(got, want, atol=1e-6), (
        f"GatedBlock(x) differs from scale * silu(x @ W.T + b) with the module's own weights "
        f"(max difference {(got - want).abs().max().item():.3g}): forward must be scale * silu(fc(x)), "
        "using the registered members")


def test_gradients_match_python_reference():
    torch.manual_seed(1)
    block = _make(3, 2)
    params = _params(block)
    x = torch.randn(5, 3, requires_grad=True)
    out = _forward(block, x)
    assert out.grad_fn is not None, "the output has no grad_fn: the forward must use the parameters"
    out.pow(2).sum().backward()
    got = {name: p.grad.clone() if p.grad is not None else None for name, p in params.items()}
    got_x = x.grad.clone()
    ref = {name: p.detach().clone().requires_grad_() for name, p in params.items()}
    x2 = x.detach().clone().requires_grad_()
    _reference(ref, x2).pow(2).sum().backward()
    for name in ref:
        assert got[name] is not None, f"{name}.grad is None after backward: is it used in forward?"
        assert torch.allclose(got[name], ref[name].grad, atol=1e-6), f"the gradient of {name} differs from the reference"
    assert torch.allclose(got_x, x2.grad, atol=1e-6), "the gradient of the input differs from the reference"
