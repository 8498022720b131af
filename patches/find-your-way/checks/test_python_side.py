"""Q1, Q2, Q5, Q6: the Python side of a call, checked against the torch this process imports."""

import importlib
import inspect
import os

import torch

import lab.answers as answers


def _torch_root():
    """The folder that holds the `torch` package (the workspace, for a lab)."""
    return os.path.dirname(os.path.dirname(os.path.realpath(torch.__file__)))


def _unanswered(name):
    return f"{name} is not answered yet (it is None in lab/answers.py)"


def test_module_call_method():
    got = answers.MODULE_CALL_METHOD
    assert got is not None, _unanswered("MODULE_CALL_METHOD")
    real = torch.nn.Module.__call__
    assert isinstance(got, str) and got == real.__name__, (
        f"MODULE_CALL_METHOD = {got!r}, but nn.Module.__call__ is not a method of that name. "
        "Find the line `__call__ : Callable[..., Any] = ...` in nn.Module's class body "
        "(`torchatlas find Module.__call__`), or print torch.nn.Module.__call__.__name__")
    assert getattr(torch.nn.Module, got) is real, f"torch.nn.Module.{got} is not the same function as __call__"


def test_module_call_impl_file():
    got = answers.MODULE_CALL_IMPL_FILE
    assert got is not None, _unanswered("MODULE_CALL_IMPL_FILE")
    real = os.path.relpath(os.path.realpath(inspect.getsourcefile(torch.nn.Module._call_impl)), _torch_root())
    real = real.replace(os.sep, "/")
    assert isinstance(got, str) and not os.path.isabs(got), (
        f"MODULE_CALL_IMPL_FILE = {got!r}: give a path from the folder that holds the torch package, "
        "such as 'torch/autograd/function.py', not an absolute path")
    if got != real:
        path = os.path.join(_torch_root(), got)
        there = "does not exist" if not os.path.exists(path) else "exists but does not define Module._call_impl"
        raise AssertionError(f"MODULE_CALL_IMPL_FILE = {got!r}: that file {there}. `torchatlas find _call_impl`, "
                             "or inspect.getsourcefile(torch.nn.Module._call_impl)")


def test_mul_backward_node():
    got = answers.MUL_BACKWARD_NODE
    assert got is not None, _unanswered("MUL_BACKWARD_NODE")
    a = torch.randn(3, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    real = type((a * b).grad_fn).__name__
    assert got == real, (
        f"MUL_BACKWARD_NODE = {got!r}, but that is not the class of (a * b).grad_fn. Nodes are named "
        "after the operator and numbered per overload in derivatives.yaml; `torchatlas op "
        "aten::mul.Tensor` shows its autograd line, or build the graph and print type(y.grad_fn)")


def test_add_binding():
    got = answers.ADD_BINDING
    assert got is not None, _unanswered("ADD_BINDING")
    assert isinstance(got, str) and got.startswith("torch._C."), (
        f"ADD_BINDING = {got!r}: the object lives in torch._C (the C++ extension module); give its dotted "
        "path, 'torch._C.<name>'")
    obj = importlib.import_module("torch._C")
    for part in got.split(".")[2:]:
        assert hasattr(obj, part), f"ADD_BINDING = {got!r}: {obj!r} has no attribute {part!r}"
        obj = getattr(obj, part)
    assert getattr(obj, "add", None) is torch.add, (
        f"{got}.add is not torch.add (the very same builtin). torch/__init__.py copies the functions of "
        "one object of torch._C into the torch namespace: look for the loop over `dir(...)` there, or "
        "`torchatlas trace torch.add`")
