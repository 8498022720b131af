"""_load_from_state_dict: a version-1 checkpoint loads strictly into version-2 code."""

import torch

from lab.standardized import StandardizedLinear


def _v1_checkpoint(prefix=""):
    torch.manual_seed(0)
    sd = {
        prefix + "gain": torch.full((3,), 2.0),
        prefix + "mean": torch.tensor([1.0, 2.0, 3.0, 4.0]),
        prefix + "var": torch.tensor([4.0, 4.0, 9.0, 9.0]),
        prefix + "linear.weight": torch.randn(3, 4),
        prefix + "linear.bias": torch.randn(3),
    }
    return sd


def _with_metadata(sd, versions):
    from collections import OrderedDict

    out = OrderedDict(sd)
    out._metadata = OrderedDict((k, {"version": v}) for k, v in versions.items())
    return out


def test_strict_load_of_a_version_1_checkpoint():
    m = StandardizedLinear(4, 3)
    sd = _with_metadata(_v1_checkpoint(), {"": 1, "linear": 1})
    try:
        m.load_state_dict(sd)
    except RuntimeError as e:
        raise AssertionError(
            f"strict load of a version-1 checkpoint failed:\n{e}\nIn _load_from_state_dict, rename "
            "prefix + 'mean' / 'var' to the new names and add num_batches_tracked before calling super()"
        ) from None
    assert torch.equal(m.running_mean, torch.tensor([1.0, 2.0, 3.0, 4.0])), f"running_mean is {m.running_mean}, expected the checkpoint's 'mean'"
    assert torch.equal(m.running_var, torch.tensor([4.0, 4.0, 9.0, 9.0])), f"running_var is {m.running_var}, expected the checkpoint's 'var'"
    assert int(m.num_batches_tracked) == 0 and m.num_batches_tracked.dtype == torch.long


def test_version_2_checkpoint_round_trips():
    m = StandardizedLinear(4, 3)
    with torch.no_grad():
        m.running_var.fill_(7.0)
        m.num_batches_tracked.fill_(5)
    sd = m.state_dict()
    assert sd._metadata[""]["version"] == 2, "state_dict records the module's _version in its metadata"
    n = StandardizedLinear(4, 3)
    n.load_state_dict(sd)
    assert torch.equal(n.running_var, torch.full((4,), 7.0)) and int(n.num_batches_tracked) == 5
