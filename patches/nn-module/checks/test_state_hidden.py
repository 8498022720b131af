"""Hidden: prefixes, checkpoints without metadata, extra state, and the exact shape of what is saved."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from lab.standardized import StandardizedLinear, record_outputs


class HasMean(nn.Module):
    """A sibling whose own buffer is called 'mean': an upgrade must only touch its own prefix."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.full((2,), 5.0))


class WithExtra(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))
        self.note = {"seen": 3}

    def get_extra_state(self):
        return self.note

    def set_extra_state(self, state):
        self.note = state


def _v1(prefix):
    return {
        prefix + "gain": torch.full((3,), 2.0),
        prefix + "mean": torch.tensor([1.0, 2.0]),
        prefix + "var": torch.tensor([4.0, 9.0]),
        prefix + "linear.weight": torch.ones(3, 2),
        prefix + "linear.bias": torch.zeros(3),
    }


def test_upgrade_uses_the_prefix_and_leaves_siblings_alone():
    model = nn.Sequential(HasMean(), StandardizedLinear(2, 3))
    sd = OrderedDict({"0.mean": torch.full((2,), 8.0), **_v1("1.")})
    sd._metadata = OrderedDict({"": {"version": 1}, "0": {"version": 1}, "1": {"version": 1}, "1.linear": {"version": 1}})
    model.load_state_dict(sd)
    assert torch.equal(model[0].mean, torch.full((2,), 8.0)), "the sibling's 'mean' must load into the sibling"
    assert torch.equal(model[1].running_mean, torch.tensor([1.0, 2.0])), "the nested module's 'mean' (prefix '1.') must become running_mean"


def test_checkpoint_without_metadata_counts_as_version_1():
    m = StandardizedLinear(2, 3)
    m.load_state_dict(_v1(""))  # a plain dict: no _metadata, version None
    assert torch.equal(m.running_var, torch.tensor([4.0, 9.0]))


def test_version_2_rules_stay_strict():
    m = StandardizedLinear(2, 3)
    sd = m.state_dict()
    del sd["num_batches_tracked"]
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        m.load_state_dict(sd)  # a version-2 checkpoint must have it: only old versions are upgraded


def test_version_1_partial_load_reports_new_names():
    m = StandardizedLinear(2, 3)
    sd = _v1("")
    del sd["var"]
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["running_var"] and result.unexpected_keys == [], f"got {result}"


def test_extra_state_and_nested_keep_vars():
    m = nn.Sequential(WithExtra())
    sd = m.state_dict()
    assert list(sd) == ["0.w", "0._extra_state"] and sd["0._extra_state"] == {"seen": 3}, f"keys {list(sd)}"
    kv = m.state_dict(keep_vars=True)
    assert kv["0.w"] is m[0].w
    plain = nn.Linear(2, 2).state_dict()
    assert "_extra_state" not in plain, "modules that do not override get_extra_state save no extra state"


def test_state_dict_values_are_the_live_buffers_detached():
    m = StandardizedLinear(2, 3)
    sd = m.state_dict()
    assert sd["running_mean"].data_ptr() == m.running_mean.data_ptr()
    assert sd["num_batches_tracked"].dtype == torch.long
    m.to(torch.float64)
    assert m.feature_mask.dtype == torch.float64 and m.num_batches_tracked.dtype == torch.long


def test_hooks_do_not_change_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Sequential(nn.Linear(3, 1)))
    x = torch.randn(4, 3, requires_grad=True)
    ref = model(x)
    outputs, handles = record_outputs(model)
    y = model(x)
    assert torch.equal(y, ref) and y.requires_grad, "the hooks changed the output or cut the graph"
    assert set(outputs) == {"", "0", "1", "2", "2.0"}, f"recorded {sorted(outputs)} for a nested Sequential"
    assert len(handles) == 5, f"{len(handles)} handles for 5 modules: one hook (and handle) per module"
    y.sum().backward()
    for h in handles:
        h.remove()
