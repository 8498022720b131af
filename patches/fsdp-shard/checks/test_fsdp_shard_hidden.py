"""fsdp-shard (hidden): a full checkpoint saved from sharded training loads into a fresh sharded
model and into a plain one with equal outputs; one and four micro-batches train the same."""

import torch
import torch.nn.functional as F

from lab.fsdp_train import Model, full_state_dict, load_full_state_dict, shard_model, train_step
from lab.ranks import run_ranks

torch.set_num_threads(1)


def data():
    g = torch.Generator().manual_seed(5)
    return torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


def roundtrip(rank, world_size):
    torch.manual_seed(1)
    model = shard_model(Model())
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    x, y = data()
    part = slice(rank * 4, rank * 4 + 4)
    loss = train_step(model, opt, x[part], y[part], 1)
    saved = full_state_dict(model)
    torch.manual_seed(99)
    fresh = shard_model(Model())
    load_full_state_dict(fresh, saved)
    again = full_state_dict(fresh)
    return saved, again, fresh(x).detach(), loss


def micro(rank, world_size, n):
    torch.manual_seed(2)
    model = shard_model(Model())
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    x, y = data()
    part = slice(rank * 4, rank * 4 + 4)
    for _ in range(2):
        train_step(model, opt, x[part], y[part], n)
    return full_state_dict(model)


def test_checkpoint_roundtrip_sharded_and_plain():
    (saved, again, out, loss), _ = run_ranks(roundtrip, 2)
    for k in saved:
        assert torch.equal(saved[k], again[k]), f"{k}: loading the full checkpoint into a fresh sharded model lost it"
    plain = Model()
    plain.load_state_dict(saved)
    x, y = data()
    assert torch.allclose(plain(x), out, atol=1e-6), "the full checkpoint in a plain Model gives other outputs"
    torch.manual_seed(1)
    m = Model()
    with torch.no_grad():
        want = (F.cross_entropy(m(x[:4]), y[:4]).item())
    assert abs(loss - want) < 1e-5, f"train_step returned {loss}, expected rank 0's mean loss {want}"


def test_one_and_four_micro_batches_agree():
    a, _ = run_ranks(micro, 2, 1)
    b, _ = run_ranks(micro, 2, 4)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), (
            f"{k}: 4 micro-batches train differently from 1 (max error {(a[k] - b[k]).abs().max():.3g}): "
            "each micro-batch's loss is scaled by 1/micro_batches and only the last one syncs")
