"""mini-ddp (hidden): bucket edge cases, several training steps in sync with one process, frozen
and shared parameters, and no state leaking from one iteration into the next."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from lab.mini_ddp import MiniDDP, assign_buckets
from lab.ranks import run_ranks

torch.set_num_threads(1)


def test_bucket_edges():
    assert assign_buckets([], 8) == [], "no parameters: no buckets (never an empty bucket)"
    p = [torch.zeros(2, dtype=torch.float64), torch.zeros(2), torch.zeros(1, dtype=torch.float64)]  # 16, 8, 8
    got = assign_buckets(p, 16)
    assert got == [[2, 1], [0]], f"got {got}: sizes are numel * element_size (float64 is 8 bytes); exactly the cap fits"
    got = assign_buckets(p, 1)
    assert got == [[2], [1], [0]], f"got {got}: every parameter is larger than the cap, so each is alone"


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(5, 5, bias=False)
        self.frozen = nn.Linear(5, 5)
        self.frozen.requires_grad_(False)
        self.head = nn.Linear(5, 2)

    def forward(self, x):
        h = torch.tanh(self.emb(x))
        h = torch.tanh(self.emb(h))  # used twice: its gradient is accumulated before its hook fires
        return self.head(self.frozen(h))


def make(seed):
    torch.manual_seed(seed)
    return Tied()


def data():
    g = torch.Generator().manual_seed(3)
    return torch.randn(6, 5, generator=g), torch.randint(0, 2, (6,), generator=g)


def train(rank, world_size, steps=4):
    ddp = MiniDDP(make(rank + 10), bucket_cap_bytes=64)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.5)
    x, y = data()
    part = slice(rank * 3, rank * 3 + 3)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(ddp(x[part]), y[part]).backward()
        ddp.finish_gradient_synchronization()
        opt.step()
    return [p.detach().clone() for p in ddp.module.parameters()], ddp.allreduce_calls, len(ddp.buckets)


def test_training_stays_in_sync_with_one_process():
    (p0, calls, nb), (p1, _, _) = run_ranks(train, 2)
    model = make(10)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, y = data()
    for _ in range(4):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for a, b, want in zip(p0, p1, model.parameters()):
        assert torch.equal(a, b), "after 4 steps the two ranks' parameters differ: replicas must stay identical"
        assert torch.allclose(a, want.detach(), atol=1e-5), (
            "after 4 steps the parameters differ from one process trained on the whole batch: check the "
            "average (divide by the world size), frozen parameters (no gradient, no hook) and a parameter "
            "used twice (its hook fires once, after accumulation)")
    assert calls == 4 * nb, f"{calls} all_reduce calls over 4 iterations of {nb} buckets: reset per iteration"
