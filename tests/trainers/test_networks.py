"""Policy networks and per-sample gradients, checked against plain torch computations."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlcredit.trainers import ObsSpec, Policy
from rlcredit.trainers.grads import flat_params, grad_stats, per_sample_logp_grads
from rlcredit.trainers.networks import OneHotLinear, layer_init


def test_one_hot_linear_equals_linear_on_one_hot():
    layer = layer_init(OneHotLinear(7, 5, start=2))
    x = torch.tensor([2, 8, 5, 5])
    dense = torch.nn.functional.one_hot(x - 2, 7).float() @ layer.weight.t() + layer.bias
    torch.testing.assert_close(layer(x), dense)


@pytest.mark.parametrize(
    ("space", "network", "batch"),
    [
        (gym.spaces.Discrete(6), "mlp", np.array([0, 3, 5])),
        (gym.spaces.Box(0, 1, (2,), np.float32), "mlp", np.zeros((3, 2), np.float32)),
        (gym.spaces.Box(0, 1, (3, 4, 5), np.uint8), "mlp", np.ones((3, 3, 4, 5), np.uint8)),
        (gym.spaces.Box(0, 1, (3, 4, 5), np.uint8), "cnn", np.ones((3, 3, 4, 5), np.uint8)),
    ],
)
def test_action_probs_are_distributions_and_start_near_uniform(space, network, batch):
    torch.manual_seed(0)
    policy = Policy(ObsSpec.from_space(space), 4, network=network)
    probs = policy.action_probs(batch)
    assert probs.shape == (3, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-12)
    # Actor head gain 0.01: the initial policy is uniform to within a few percent.
    np.testing.assert_allclose(probs, 0.25, atol=0.02)
    assert policy.values(batch).shape == (3,)


def test_policy_spec_round_trip():
    policy = Policy(ObsSpec.from_space(gym.spaces.Discrete(9, start=1)), 3, hidden=(8,))
    again = Policy.from_spec(policy.spec())
    again.load_state_dict(policy.state_dict())
    obs = np.arange(1, 10)
    np.testing.assert_array_equal(again.action_probs(obs), policy.action_probs(obs))


def test_cnn_needs_chw():
    with pytest.raises(ValueError, match="cnn"):
        Policy(ObsSpec("box", (5,)), 2, network="cnn")


def test_per_sample_grads_match_autograd_one_at_a_time():
    torch.manual_seed(1)
    policy = Policy(ObsSpec("box", (3,)), 4, hidden=(5, 6))
    obs = torch.randn(6, 3)
    actions = torch.tensor([0, 1, 2, 3, 1, 0])
    params = {k: v.detach() for k, v in policy.actor.named_parameters()}
    grads = per_sample_logp_grads(policy.actor, params, obs, actions)
    batched = torch.cat([g.reshape(6, -1) for g in grads.values()], dim=1)
    for i in range(6):
        policy.actor.zero_grad()
        torch.log_softmax(policy.actor(obs[i : i + 1]), -1)[0, actions[i]].backward()
        one = torch.cat([p.grad.reshape(-1) for p in policy.actor.parameters()])
        torch.testing.assert_close(batched[i], one)


def test_grad_stats_norm_and_cosine_with_the_parameter_change():
    torch.manual_seed(2)
    policy = Policy(ObsSpec("discrete", (), 4), 3, hidden=(5,))
    before = flat_params(policy.actor)
    # Step 3 repeats step 0's (obs, action) with another credit; step 2 has no credit.
    obs, actions = np.array([0, 1, 2, 0]), np.array([2, 0, 1, 2])
    credit = np.array([2.0, -1.0, 0.0, -0.5], np.float32)
    # Move the parameters exactly along sample 0's gradient: its cosine must be 1.
    params = {k: v.detach() for k, v in policy.actor.named_parameters()}
    grads = per_sample_logp_grads(policy.actor, params, torch.as_tensor(obs), torch.as_tensor(actions))
    g = torch.cat([x.reshape(4, -1) for x in grads.values()], dim=1)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(before + 0.01 * g[0], policy.actor.parameters())
    norm, cos = grad_stats(policy.actor, before, obs, actions, credit)
    np.testing.assert_allclose(norm, (g.norm(dim=1) * torch.as_tensor(np.abs(credit))).numpy(), rtol=1e-5)
    assert cos[0] == pytest.approx(1.0, abs=1e-5)
    assert cos[3] == pytest.approx(-1.0, abs=1e-5)  # same direction, negative credit
    assert -1.0 <= cos[1] <= 1.0
    assert np.isnan(cos[2])  # zero credit: no direction


@pytest.mark.parametrize(
    "spec, obs",
    [
        (ObsSpec("box", (3,)), np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)),
        (ObsSpec("discrete", (), 5), np.array([0, 4, 2, 2, 1, 3, 0])),
    ],
)
def test_closed_form_per_sample_stats_equal_per_sample_autograd(spec, obs, monkeypatch):
    """The linear-layer shortcut of grad_stats gives what differentiating each sample gives."""
    import rlcredit.trainers.grads as grads

    torch.manual_seed(3)
    policy = Policy(spec, 4, hidden=(6, 5))
    before = flat_params(policy.actor)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(
            before + 0.05 * torch.randn_like(before), policy.actor.parameters()
        )
    actions = np.array([0, 1, 2, 3, 1, 0, 2])
    credit = np.array([1.0, -2.0, 0.5, 3.0, -0.1, 0.7, 1.5], np.float32)
    fast = grad_stats(policy.actor, before, obs, actions, credit)
    monkeypatch.setattr(grads, "_linear_stats", lambda *a: None)
    slow = grad_stats(policy.actor, before, obs, actions, credit)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


def test_sampled_policy_gradient_per_state_equals_per_step():
    """Summing steps per (state, action) first gives the gradient of the per-step mean."""
    from rlcredit.trainers.grads import sampled_policy_gradient

    torch.manual_seed(4)
    policy = Policy(ObsSpec("box", (2,)), 3, hidden=(5,))
    all_obs = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)  # one observation per state
    rng = np.random.default_rng(1)
    states, actions = rng.integers(0, 6, 40), rng.integers(0, 3, 40)
    credit = rng.normal(size=40).astype(np.float32)
    per_state = sampled_policy_gradient(policy.actor, actions, credit, states=states, all_obs=all_obs)
    per_step = sampled_policy_gradient(policy.actor, actions, credit, obs=all_obs[states])
    torch.testing.assert_close(per_state, per_step, rtol=1e-5, atol=1e-7)
    # ... and is the gradient of mean_t credit_t log pi(a_t|s_t), by autograd on the loss itself.
    logp = torch.log_softmax(policy.actor(torch.as_tensor(all_obs[states])), -1)
    loss = (torch.as_tensor(credit) * logp[torch.arange(40), torch.as_tensor(actions)]).mean()
    want = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(policy.actor.parameters()))])
    torch.testing.assert_close(per_state.float(), want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("spec", "network", "time_limit"),
    [
        (ObsSpec("discrete", (), 20, 0), "mlp", None),
        (ObsSpec("discrete", (), 20, 3), "mlp", 15),
        (ObsSpec("box", (6,)), "mlp", None),
        (ObsSpec("box", (3, 5, 5)), "cnn", None),
    ],
)
def test_act_outputs_are_the_modules_outputs_bit_for_bit(spec, network, time_limit):
    torch.manual_seed(0)
    policy = Policy(spec, 4, network=network, time_limit=time_limit)
    if spec.kind == "discrete":
        obs = torch.as_tensor(np.array([spec.start, spec.start + 7, spec.start + 19]))
    else:
        obs = torch.as_tensor(np.random.default_rng(0).random((3, *spec.shape)).astype(np.float32))
    t = torch.as_tensor(np.array([0, 4, 14]))
    logits, values = policy.act_outputs(obs, t)
    with torch.no_grad():
        assert torch.equal(logits, policy.logits(obs))
        assert torch.equal(values, policy.value(obs, t))
