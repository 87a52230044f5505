"""Forward hooks: capture equals a manual forward, alpha = 0 changes nothing, hooks never outlive their block."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rlcredit.gridworld import make
from rlcredit.steering import ablate, action_probs, activations, get_module, intervene, record, steer
from rlcredit.trainers.networks import ObsSpec, Policy


@pytest.fixture(scope="module")
def maze_obs() -> np.ndarray:
    env = make("rlcredit/CheeseMaze-v0", obs="grid", layout_seed=7)
    return env.unwrapped.observation_of(np.arange(env.unwrapped.layout.num_states))


@pytest.fixture()
def policy() -> Policy:
    torch.manual_seed(0)
    p = Policy(ObsSpec("box", (3, 11, 11)), 4, network="cnn")
    with torch.no_grad():  # a confident head, so probabilities differ visibly between states
        p.actor[5].weight.mul_(300.0)
    return p


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_record_matches_manual_forward(policy: Policy, maze_obs: np.ndarray) -> None:
    x = torch.as_tensor(maze_obs)
    acts = activations(policy, x, ["actor.0.4", "actor.2"])
    with torch.no_grad():
        conv = policy.actor[0][:5](x)
        hidden = policy.actor[2](policy.actor[1](policy.actor[0](x)))
    assert acts["actor.0.4"].shape == (121, 16, 11, 11)
    assert torch.equal(acts["actor.0.4"], conv)
    assert torch.equal(acts["actor.2"], hidden)
    assert no_hooks(policy)


def test_record_concatenates_passes(policy: Policy, maze_obs: np.ndarray) -> None:
    x = torch.as_tensor(maze_obs)
    with record(policy, ["actor.2"]) as acts, torch.no_grad():
        policy.logits(x[:50])
        policy.logits(x[50:])
    assert torch.equal(acts["actor.2"], activations(policy, x, ["actor.2"])["actor.2"])


@pytest.mark.parametrize("layer", ["actor.0.1", "actor.0.4", "actor.2", "actor.5"])
def test_alpha_zero_is_bit_identical(policy: Policy, maze_obs: np.ndarray, layer: str) -> None:
    plain = policy.action_probs(maze_obs)
    shape = activations(policy, maze_obs[:1], [layer])[layer].shape[1:]
    vector = torch.randn(shape, generator=torch.Generator().manual_seed(1)) * 10
    with steer(policy, layer, vector, 0.0):
        steered = policy.action_probs(maze_obs)
    with steer(policy, layer, vector, 0.5):
        moved = policy.action_probs(maze_obs)
    assert np.array_equal(plain.view(np.uint64), steered.view(np.uint64))
    assert not np.allclose(plain, moved)
    assert no_hooks(policy)


def test_steer_adds_alpha_times_vector(policy: Policy, maze_obs: np.ndarray) -> None:
    base = activations(policy, maze_obs, ["actor.2"])["actor.2"]
    v = torch.linspace(-1, 1, 64)
    with steer(policy, "actor.2", v, -2.0), record(policy, ["actor.2", "actor.3"]) as acts:
        policy.action_probs(maze_obs)
    # the recording hook was registered after the steering hook, so it sees the steered activation
    assert torch.allclose(acts["actor.2"], base - 2.0 * v)
    assert torch.allclose(acts["actor.3"], policy.actor[3](base - 2.0 * v).detach(), atol=1e-6)


def test_hooks_removed_after_exception(policy: Policy, maze_obs: np.ndarray) -> None:
    x = torch.as_tensor(maze_obs)
    module = get_module(policy, "actor.2")
    contexts = [
        lambda: record(policy, ["actor.2", "actor.0.4"]),
        lambda: steer(policy, "actor.2", torch.zeros(64), 1.0),
        lambda: ablate(policy, "actor.2", units=[0], method="zero"),
        lambda: intervene(policy, "actor.2", lambda a: a * 2),
    ]
    for make_ctx in contexts:
        with pytest.raises(RuntimeError, match="boom"), make_ctx():
            assert module._forward_hooks
            policy.logits(x)
            raise RuntimeError("boom")
        assert not module._forward_hooks
        assert no_hooks(policy)


def test_error_inside_hook_removes_it(policy: Policy, maze_obs: np.ndarray) -> None:
    with (
        pytest.raises(ValueError, match="steering vector has shape"),
        steer(policy, "actor.2", torch.zeros(7), 1.0),
    ):
        policy.action_probs(maze_obs)
    assert no_hooks(policy)


def test_unknown_layer_lists_the_layers(policy: Policy) -> None:
    with pytest.raises(KeyError, match=r"no layer 'actor\.9'.*'actor\.0\.4'"):
        get_module(policy, "actor.9")


def test_ablations(policy: Policy, maze_obs: np.ndarray) -> None:
    layer = "actor.0.4"
    ref = activations(policy, maze_obs, [layer])[layer]
    x = maze_obs[:20]
    base = activations(policy, x, [layer])[layer]
    with ablate(policy, layer, channels=[2, 5], method="zero"), record(policy, [layer]) as acts:
        policy.logits(torch.as_tensor(x))
    out = acts[layer]
    assert torch.all(out[:, [2, 5]] == 0)
    keep = [c for c in range(16) if c not in (2, 5)]
    assert torch.equal(out[:, keep], base[:, keep])

    units = [0, 121 * 3 + 17]  # channel 0 position 0, channel 3 position 17
    with ablate(policy, layer, units=units, method="mean", reference=ref), record(policy, [layer]) as acts:
        policy.logits(torch.as_tensor(x))
    flat, ref_mean = acts[layer].flatten(1), ref.flatten(1).mean(0)
    assert torch.allclose(flat[:, units], ref_mean[units].expand(20, 2))
    mask = torch.ones(flat.shape[1], dtype=torch.bool)
    mask[units] = False
    assert torch.equal(flat[:, mask], base.flatten(1)[:, mask])

    with (
        ablate(policy, layer, channels=[4], method="resample", reference=ref, seed=3),
        record(policy, [layer]) as acts,
    ):
        policy.logits(torch.as_tensor(x))
    got = acts[layer][:, 4].flatten(1)
    bank = ref[:, 4].flatten(1)
    # every ablated example carries the channel of some reference example, and not all the same one
    matches = [int(torch.nonzero((bank == row).all(1)).reshape(-1)[0]) for row in got]
    assert len(set(matches)) > 1
    assert no_hooks(policy)


def test_ablation_arguments() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="needs reference"), ablate(net, "1", units=[0], method="mean"):
        pass
    with pytest.raises(ValueError, match="unknown ablation"), ablate(net, "1", units=[0], method="noise"):  # type: ignore[arg-type]
        pass
    with pytest.raises(ValueError, match="out of range"), ablate(net, "1", units=[4]):
        net(torch.zeros(1, 3))
    assert no_hooks(net)


def test_action_probs_matches_policy(policy: Policy, maze_obs: np.ndarray) -> None:
    assert np.array_equal(action_probs(policy, maze_obs), policy.action_probs(maze_obs))
