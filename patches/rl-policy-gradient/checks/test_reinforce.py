"""rl-policy-gradient: returns-to-go, a Categorical policy's sampled action and log-probability,
the sign of the REINFORCE loss, and a seeded CartPole run whose returns improve."""

import math

import torch

from lab.reinforce import Policy, reinforce_loss, returns_to_go, select_action, train

torch.set_num_threads(1)


def test_returns_to_go():
    got = returns_to_go([1.0, 1.0, 1.0], 0.9)
    assert got.dtype == torch.float32 and got.shape == (3,), f"expected float32 (3,), got {got.dtype} {tuple(got.shape)}"
    assert torch.allclose(got, torch.tensor([2.71, 1.9, 1.0])), (
        f"G_t = r_t + 0.9 G_(t+1): for rewards 1, 1, 1 expected [2.71, 1.9, 1.0], got {got.tolist()}"
    )
    assert torch.allclose(returns_to_go([3.0, 0.0, 2.0], 0.0), torch.tensor([3.0, 0.0, 2.0])), "gamma 0: G_t = r_t"
    assert returns_to_go([], 0.9).shape == (0,), "an empty episode has no returns"


def test_select_action_samples_the_policy():
    torch.manual_seed(0)
    policy = Policy()
    obs = torch.tensor([0.1, -0.2, 0.05, 0.3])
    with torch.no_grad():
        probs = torch.softmax(policy(obs), -1)
    counts = [0, 0]
    for _ in range(3000):
        action, log_prob = select_action(policy, obs)
        counts[action] += 1
    assert isinstance(action, int), f"the action must be a Python int (env.step takes one), got {type(action)}"
    assert log_prob.requires_grad, "log_prob must carry the graph to the policy's parameters (no .item(), no detach)"
    assert math.isclose(log_prob.item(), torch.log(probs[action]).item(), rel_tol=1e-5, abs_tol=1e-6), (
        "log_prob must be the log-probability of the sampled action under the policy"
    )
    freq = counts[1] / 3000
    assert abs(freq - probs[1].item()) < 0.04, (
        f"action 1 was sampled {freq:.3f} of the time, the policy gives it {probs[1].item():.3f}: sample "
        f"from Categorical(logits=policy(obs)), do not take the argmax"
    )


def _step_changes_probability(advantage):
    torch.manual_seed(1)
    policy = Policy()
    obs = torch.tensor([0.0, 0.1, -0.1, 0.2])
    with torch.no_grad():
        before = torch.softmax(policy(obs), -1)[0].item()
    log_prob = torch.log_softmax(policy(obs), -1)[0]
    loss = reinforce_loss(log_prob[None], torch.tensor([advantage]))
    assert loss.dim() == 0, f"the loss must be a scalar, got shape {tuple(loss.shape)}"
    loss.backward()
    with torch.no_grad():
        for p in policy.parameters():
            p -= 0.5 * p.grad
        return before, torch.softmax(policy(obs), -1)[0].item()


def test_loss_gradient_sign():
    before, after = _step_changes_probability(+1.0)
    assert after > before, (
        f"a gradient-descent step on the loss of an action with a positive advantage must make it "
        f"more likely: p went {before:.4f} -> {after:.4f}. The loss is minus sum log pi * A"
    )
    before, after = _step_changes_probability(-1.0)
    assert after < before, f"a negative advantage must make the action less likely: p went {before:.4f} -> {after:.4f}"


def test_learning_improves_the_return():
    returns = train(seed=2, episodes=60)
    first, last = sum(returns[:15]) / 15, sum(returns[-15:]) / 15
    assert last >= 1.5 * first and last >= first + 20, (
        f"over 60 seeded episodes the mean return went {first:.1f} (first 15) -> {last:.1f} (last 15); "
        f"REINFORCE reaches about 65 here"
    )
