"""rl-policy-gradient (hidden): returns-to-go against the closed form on a long episode, the
loss's gradient equals the policy-gradient estimate term by term, and another seed learns."""

import torch

from lab.reinforce import Policy, reinforce_loss, returns_to_go, train

torch.set_num_threads(1)


def test_returns_to_go_closed_form():
    g = torch.Generator().manual_seed(3)
    rewards = torch.rand(50, generator=g).tolist()
    gamma = 0.97
    t = torch.arange(50, dtype=torch.float64)
    discount = torch.where(t[None, :] >= t[:, None], gamma ** (t[None, :] - t[:, None]), torch.zeros(()))
    ref = (discount * torch.tensor(rewards, dtype=torch.float64)[None, :]).sum(1)
    got = returns_to_go(rewards, gamma)
    assert torch.allclose(got.double(), ref, atol=1e-4), (
        f"G_t = sum_k gamma^(k-t) r_k for k >= t: worst error {(got.double() - ref).abs().max().item():.3g}"
    )


def test_loss_gradient_is_the_estimate():
    torch.manual_seed(4)
    policy = Policy()
    obs = torch.randn(7, 4)
    actions = torch.tensor([0, 1, 1, 0, 1, 0, 0])
    adv = torch.randn(7)
    lp = torch.log_softmax(policy(obs), -1).gather(1, actions[:, None])[:, 0]
    grads = torch.autograd.grad(reinforce_loss(lp, adv), list(policy.parameters()))
    lp = torch.log_softmax(policy(obs), -1).gather(1, actions[:, None])[:, 0]
    ref = torch.autograd.grad(-(lp * adv).sum(), list(policy.parameters()))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads, ref)), (
        "the loss's gradient must be minus sum_t grad log pi(a_t|s_t) * A_t (a sum over the episode, "
        "not a mean)"
    )


def test_another_seed_learns():
    returns = train(seed=0, episodes=60)
    first, last = sum(returns[:15]) / 15, sum(returns[-15:]) / 15
    assert last >= 1.5 * first, f"seed 0: the mean return went {first:.1f} -> {last:.1f} (expected about 30 -> 60)"
