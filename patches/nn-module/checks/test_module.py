"""StandardizedLinear: what nn.Module tracks (parameters, buffers, children) and what state_dict saves."""

import pytest
import torch
from torch import nn

from lab.standardized import StandardizedLinear, record_outputs

SAVED = {"gain", "running_mean", "running_var", "num_batches_tracked", "linear.weight", "linear.bias"}


def _make(*args, **kwargs):
    return StandardizedLinear(*args, **kwargs)


def _state_dict(m, **kwargs):
    return m.state_dict(**kwargs)


def test_parameters_buffers_and_children_are_registered():
    m = _make(4, 3, drop_features=(1, 3))
    params = {n for n, _ in m.named_parameters()}
    buffers = {n for n, _ in m.named_buffers()}
    assert params == {"gain", "linear.weight", "linear.bias"}, (
        f"named_parameters() gives {sorted(params)}: assign nn.Parameter / nn.Linear as attributes "
        "so Module.__setattr__ files them in _parameters / _modules"
    )
    assert buffers == {"running_mean", "running_var", "num_batches_tracked", "feature_mask"}, (
        f"named_buffers() gives {sorted(buffers)}: use self.register_buffer(name, tensor[, persistent=False])"
    )
    assert isinstance(dict(m.named_children()).get("linear"), nn.Linear), "linear must be a child nn.Linear(4, 3)"
    assert m.linear.in_features == 4 and m.linear.out_features == 3
    assert torch.equal(m.gain.detach(), torch.ones(3)), "gain starts at ones"
    assert torch.equal(m.running_mean, torch.zeros(4)) and torch.equal(m.running_var, torch.ones(4))
    nbt = m.num_batches_tracked
    assert nbt.dtype == torch.long and nbt.dim() == 0 and int(nbt) == 0, f"num_batches_tracked must be a 0-d long 0, got {nbt!r}"
    assert torch.equal(m.feature_mask, torch.tensor([1.0, 0.0, 1.0, 0.0])), f"feature_mask for drop_features=(1, 3): {m.feature_mask}"
    assert "feature_mask" in m._non_persistent_buffers_set, "feature_mask must be registered with persistent=False"


def test_buffers_follow_the_module_and_forward_updates_them():
    torch.manual_seed(0)
    m = _make(3, 2).double()
    assert m.running_mean.dtype == torch.float64 and m.feature_mask.dtype == torch.float64, (
        "after .double() the float buffers must be float64: Module._apply converts registered buffers only"
    )
    assert m.num_batches_tracked.dtype == torch.long, ".double() leaves integer buffers alone"
    x = torch.randn(8, 3, dtype=torch.float64) * 2 + 5
    m.train()
    m(x)
    assert int(m.num_batches_tracked) == 1 and torch.allclose(m.running_mean, 0.1 * x.mean(0)), (
        "a training forward should update running_mean (lerp by momentum 0.1) and count the batch"
    )


def test_state_dict_saves_persistent_state_only():
    m = _make(4, 3, drop_features=(0,))
    sd = _state_dict(m)
    assert set(sd) == SAVED, (
        f"state_dict keys are {sorted(sd)}, expected {sorted(SAVED)}: feature_mask is not persistent, "
        "the submodule's state comes under 'linear.'"
    )


def test_load_state_dict_strict_missing_and_unexpected():
    torch.manual_seed(0)
    src, dst = _make(4, 3), _make(4, 3, drop_features=(2,))
    with torch.no_grad():
        src.running_mean.uniform_()
        src.gain.mul_(3)
    sd = _state_dict(src)
    result = dst.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == [], f"a strict load of a matching checkpoint reported {result}"
    assert torch.equal(dst.running_mean, src.running_mean) and torch.equal(dst.gain, src.gain), "load_state_dict did not restore the values"
    assert torch.equal(dst.feature_mask, torch.tensor([1.0, 1.0, 0.0, 1.0])), "the non-persistent feature_mask must keep its own value"

    bad = dict(sd)
    bad["bogus"] = torch.zeros(1)
    del bad["running_var"]
    with pytest.raises(RuntimeError, match="Missing key"):
        dst.load_state_dict(bad)
    result = dst.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["running_var"] and result.unexpected_keys == ["bogus"], (
        f"strict=False load reported {result}; expected missing ['running_var'], unexpected ['bogus']"
    )


def test_forward_hook_records_every_module():
    torch.manual_seed(0)
    model = nn.Sequential(_make(4, 3), nn.ReLU())
    model.eval()
    outputs, handles = record_outputs(model)
    x = torch.randn(5, 4)
    y = model(x)
    assert set(outputs) == {"", "0", "0.linear", "1"}, (
        f"recorded names {sorted(outputs)}; expected every name of model.named_modules(): '', '0', '0.linear', "
        "'1'. One name only? A closure made in a loop sees the loop variable's last value (hint 3)"
    )
    assert torch.equal(outputs[""], y.detach()) and torch.equal(outputs["1"], y.detach())
    expected_linear = model[0].linear(x / (1 + 1e-5) ** 0.5).detach()  # eval: running stats 0 and 1
    assert torch.allclose(outputs["0.linear"], expected_linear), "outputs['0.linear'] is not what the child returned"
    assert not any(t.requires_grad for t in outputs.values()), "store outputs detached"
    for h in handles:
        h.remove()
    before = {k: v.clone() for k, v in outputs.items()}
    model(torch.randn(5, 4))
    assert all(torch.equal(before[k], outputs[k]) for k in before), "after handle.remove() the hooks must no longer record"
    assert not model[0]._forward_hooks, "handles must remove the hooks they registered"
