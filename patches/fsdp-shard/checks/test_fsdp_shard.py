"""fsdp-shard: one FSDP unit per block, every parameter sharded across the 2 ranks, micro-batches
that communicate only on the last backward, and training equal to one process on the whole batch."""

import torch
import torch.nn.functional as F

from lab.fsdp_train import Model, full_state_dict, shard_model, train_step
from lab.ranks import run_ranks

torch.set_num_threads(1)


def data():
    g = torch.Generator().manual_seed(11)
    return torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


def layout(rank, world_size):
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.tensor import DTensor, Shard

    torch.manual_seed(0)
    model = shard_model(Model())
    units = {name or "<root>": isinstance(m, FSDPModule) for name, m in model.named_modules()
             if name == "" or name.startswith("blocks.") and name.count(".") == 1}
    params = {name: (isinstance(p, DTensor) and tuple(p.placements) == (Shard(0),),
                     p.to_local().numel() if isinstance(p, DTensor) else p.numel(), p.numel())
              for name, p in model.named_parameters()}
    return units, params


def test_each_block_is_a_unit_and_every_parameter_is_sharded():
    (units, params), (_, params1) = run_ranks(layout, 2)
    missing = [name for name, ok in units.items() if not ok]
    assert not missing, (f"not FSDP units: {missing}. Call fully_shard on every Block first, then on the "
                         "model: one unit per block is what lets FSDP gather one block at a time")
    for name, (sharded, local, total) in params.items():
        assert sharded, f"{name} is not a DTensor sharded on dim 0 (Shard(0)) on rank 0"
        assert local + params1[name][1] == total and local < total, (
            f"{name}: rank 0 holds {local} of {total} elements and rank 1 {params1[name][1]}: each rank "
            "should hold only its shard")


def train(rank, world_size, steps=3, micro=2):
    torch.manual_seed(0)
    model = shard_model(Model())
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    x, y = data()
    part = slice(rank * 4, rank * 4 + 4)
    synced = []

    def after_backward(i):
        synced.append([p.grad is not None for p in model.parameters()])

    losses = [train_step(model, opt, x[part], y[part], micro, after_backward) for _ in range(steps)]
    return full_state_dict(model), losses, synced


def reference(steps=3):
    torch.manual_seed(0)
    model = Model()
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    x, y = data()
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model.state_dict()


def test_training_matches_one_process_on_the_whole_batch():
    (sd0, losses0, _), (sd1, _, _) = run_ranks(train, 2)
    want = reference()
    assert set(sd0) == set(want), f"full_state_dict keys {sorted(sd0)} != the model's {sorted(want)}"
    for k, v in want.items():
        assert not hasattr(sd0[k], "placements"), f"full_state_dict()[{k!r}] is still a DTensor: use full_tensor()"
        assert sd0[k].shape == v.shape, f"{k}: shape {tuple(sd0[k].shape)}, expected the full {tuple(v.shape)}"
        assert torch.allclose(sd0[k], v, atol=1e-5), (
            f"{k} after 3 sharded steps differs from one process on the whole batch (max error "
            f"{(sd0[k] - v).abs().max():.3g}): scale each micro-batch's loss by 1/micro_batches")
        assert torch.equal(sd0[k], sd1[k]), f"{k}: the two ranks' full parameters differ"
    assert all(isinstance(v, float) for v in losses0), f"train_step should return the mean loss as a float, got {losses0}"


def test_gradients_are_reduced_only_on_the_last_micro_batch():
    (_, _, synced), _ = run_ranks(train, 2)
    first, last = synced[0], synced[1]
    assert not any(first), (
        "after the first micro-batch's backward some sharded parameters already have a .grad: FSDP "
        "reduce-scattered them. Call model.set_requires_gradient_sync(False) before every micro-batch "
        "but the last, so gradients accumulate locally with no communication")
    assert all(last), "after the last micro-batch's backward every parameter should have its sharded .grad"
