"""Module._save_to_state_dict in the workspace's torch/nn/modules/module.py: every state_dict() runs it."""

import os

import torch
from torch import nn


def _sd(m, **kw):
    return m.state_dict(**kw)


def test_torch_is_the_workspace_copy():
    ws = os.path.realpath(os.environ["TORCHATLAS_LAB_WORKSPACE"])
    where = os.path.realpath(os.path.dirname(torch.nn.modules.module.__file__))
    assert where == os.path.join(ws, "torch", "nn", "modules"), (
        f"torch.nn.modules.module was imported from {where}, not from the workspace {ws}: the checks must "
        "run your copy of module.py"
    )
    assert os.path.realpath(torch.__file__).startswith(ws + os.sep)


def test_parameters_are_saved_detached():
    lin = nn.Linear(3, 2)
    sd = _sd(lin)
    assert list(sd) == ["weight", "bias"], f"nn.Linear(3, 2).state_dict() keys: {list(sd)}"
    w = sd["weight"]
    assert not isinstance(w, nn.Parameter) and not w.requires_grad, (
        "without keep_vars the values are detached tensors (param.detach()), not the Parameters"
    )
    assert w.data_ptr() == lin.weight.data_ptr(), "detach shares storage: state_dict is a shallow copy, not a clone"


def test_keep_vars_returns_the_parameters_themselves():
    lin = nn.Linear(3, 2)
    sd = _sd(lin, keep_vars=True)
    assert sd["weight"] is lin.weight and sd["bias"] is lin.bias, "with keep_vars=True the values are the Parameters themselves"


def test_buffers_persistent_only_and_none_skipped():
    bn = nn.BatchNorm1d(4)
    assert list(_sd(bn)) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"], (
        f"BatchNorm1d(4).state_dict() keys: {list(_sd(bn))}"
    )
    m = nn.Module()
    m.register_buffer("kept", torch.ones(2))
    m.register_buffer("skipped", torch.ones(2), persistent=False)
    m.register_buffer("nothing", None)
    m.register_parameter("nobias", None)
    assert list(_sd(m)) == ["kept"], (
        f"keys {list(_sd(m))}: skip None parameters/buffers and names in self._non_persistent_buffers_set"
    )
    nested = nn.Sequential(m, nn.Linear(2, 2, bias=False))
    assert list(_sd(nested)) == ["0.kept", "1.weight"], f"nested keys: {list(_sd(nested))}"
