"""mini-ddp: buckets in reverse order under a cap; two gloo processes whose averaged bucket
all-reduces give the gradients of one process on the whole batch, launched during backward."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from lab.mini_ddp import MiniDDP, assign_buckets
from lab.ranks import run_ranks

torch.set_num_threads(1)


def _sizes(params, buckets):
    return [[params[i].numel() * params[i].element_size() for i in b] for b in buckets]


def test_buckets_reverse_order_under_cap():
    params = [torch.zeros(n) for n in (1, 1, 1)]  # 4 bytes each
    got = assign_buckets(params, 8)
    assert got == [[2, 1], [0]], (
        f"assign_buckets(three 4-byte parameters, cap 8) gave {got}, expected [[2, 1], [0]]: "
        "take the parameters LAST first (backward produces the last layer's gradients first) and "
        "start a new bucket when the next one would go over the cap")


def test_oversized_parameter_gets_its_own_bucket():
    params = [torch.zeros(2), torch.zeros(100), torch.zeros(3)]  # 8, 400, 12 bytes
    got = assign_buckets(params, 16)
    assert got == [[2], [1], [0]], (
        f"gave {got} (bytes per bucket {_sizes(params, got) if isinstance(got, list) else '?'}), "
        "expected [[2], [1], [0]]: 12 + 400 goes over the cap, and so does 400 + 8; a parameter "
        "larger than the cap is alone in its bucket")


class Scale(nn.Module):
    """A buffer that changes the output: ranks that do not share buffers compute different things."""

    def __init__(self, n):
        super().__init__()
        self.register_buffer("scale", torch.rand(n) + 0.5)

    def forward(self, x):
        return x * self.scale


def make_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), Scale(16), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def data():
    g = torch.Generator().manual_seed(7)
    return torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)


def reference_grads():
    model = make_model(0)
    x, y = data()
    F.cross_entropy(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def one_backward(rank, world_size):
    ddp = MiniDDP(make_model(seed=rank), bucket_cap_bytes=1100)  # each rank starts different
    x, y = data()
    part = slice(rank * 4, rank * 4 + 4)
    loss = F.cross_entropy(ddp(x[part]), y[part])
    loss.backward()
    launched_during_backward = len(ddp._launched)
    ddp.finish_gradient_synchronization()
    return {"grads": [p.grad.clone() for p in ddp.module.parameters()], "buckets": ddp.buckets,
            "calls": ddp.allreduce_calls, "launched": launched_during_backward}


def test_two_ranks_match_one_process_on_the_whole_batch():
    results = run_ranks(one_backward, 2)
    ref = reference_grads()
    names = [n for n, _ in make_model(0).named_parameters()]
    for rank, r in enumerate(results):
        for name, got, want in zip(names, r["grads"], ref):
            assert torch.allclose(got, want, atol=1e-6), (
                f"rank {rank}: the gradient of {name} differs from one process on the whole batch "
                f"(max error {(got - want).abs().max():.3g}). Each rank's loss is the mean over its half "
                "of the batch: averaging the two (all_reduce sum / world size) gives the full batch's "
                "gradient, but only if both ranks start from rank 0's parameters AND buffers")


def test_one_all_reduce_per_bucket_launched_during_backward():
    r = run_ranks(one_backward, 2)[0]
    n = len(r["buckets"])
    assert n > 1, f"the model should need several 1100-byte buckets, got {r['buckets']}"
    assert r["calls"] == n, (
        f"{r['calls']} all_reduce calls for {n} buckets: one call per bucket (a flat tensor of the "
        "bucket's gradients), not one per parameter; that is what buckets are for")
    assert r["launched"] == n, (
        f"when loss.backward() returned, {r['launched']} of {n} bucket all_reduces had started: start each "
        "one from the gradient hook as soon as its bucket is complete, so communication overlaps backward")
