"""Steering vectors on hand-built networks whose features are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rlcredit.gridworld import make
from rlcredit.gridworld.observe import observation_of
from rlcredit.steering import (
    action_probs,
    cheese_vector,
    layout_with_object,
    location_vector,
    mean_difference,
    steer,
    without_kind,
)
from rlcredit.steering.experiment import maze_spec, pooled_vectors
from rlcredit.steering.vectors import active_states

C, H, W, K = 3, 11, 11, 8  # planes (walls, agent, cheese), grid, hidden units
CHEESE_UNIT = 5


@pytest.fixture(scope="module")
def layout():
    return make("rlcredit/CheeseMaze-v0", obs="grid", layout_seed=11).unwrapped.layout


def feature_net(seed: int = 0) -> nn.Sequential:
    """Flatten -> Linear(C*H*W, K) -> ReLU -> Linear(K, 4); hidden unit CHEESE_UNIT is exactly the cheese-plane
    sum, and no other unit reads the cheese plane."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, K), nn.ReLU(), nn.Linear(K, 4))
    with torch.no_grad():
        w = torch.randn(K, C, H, W, generator=g) * 0.3
        w[:, 2] = 0.0
        w[CHEESE_UNIT] = 0.0
        w[CHEESE_UNIT, 2] = 1.0
        net[1].weight.copy_(w.reshape(K, -1))
        net[1].bias.copy_(torch.randn(K, generator=g) * 0.1)
        net[1].bias[CHEESE_UNIT] = 0.0
        net[3].weight.copy_(torch.randn(4, K, generator=g))
    return nn.Sequential(_Float(), net)


class _Float(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def test_cheese_vector_recovers_the_known_feature(layout) -> None:
    net = feature_net()
    e_k = torch.zeros(K)
    e_k[CHEESE_UNIT] = 1.0  # the cheese-plane sum is 1 with the cheese and 0 without
    for layer in ("1.1", "1.2"):  # before and after the ReLU
        v = cheese_vector(net, layout, layer)
        assert v.shape == (K,)
        assert torch.allclose(v, e_k, atol=1e-6), (layer, v)


def test_subtracting_a_linear_cheese_vector_removes_the_cheese(layout) -> None:
    """At a linear first layer the cheese's contribution is the same at every state, so alpha = -1 times the
    cheese vector turns every observation's activation into that of the observation without the cheese."""
    torch.manual_seed(3)
    net = nn.Sequential(_Float(), nn.Flatten(), nn.Linear(C * H * W, 16), nn.Tanh(), nn.Linear(16, 4))
    kind = layout.kinds.index("cheese")
    obs = observation_of(layout, active_states(layout), "grid")
    v = cheese_vector(net, layout, "2")
    with steer(net, "2", v, -1.0):
        steered = action_probs(net, obs)
    removed = action_probs(net, without_kind(obs, kind))
    plain = action_probs(net, obs)
    assert np.allclose(steered, removed, atol=1e-6)
    assert not np.allclose(plain, removed, atol=1e-4)


def test_location_vector_is_the_weight_difference(layout) -> None:
    spec = maze_spec("rlcredit/CheeseMaze-v0")
    here = layout_with_object(spec, 11, 1 * W + 9)
    there = layout_with_object(spec, 11, 3 * W + 9)
    net = feature_net()
    v = location_vector(net, here, there, "1.1")
    w = net[1][1].weight.detach().reshape(K, C, H, W)[:, 2]
    assert torch.allclose(v, w[:, 1, 9] - w[:, 3, 9], atol=1e-6)
    with pytest.raises(ValueError, match="walls differ"):
        location_vector(net, here, layout_with_object(spec, 12, 1 * W + 9), "1.1")


def test_mean_difference_of_unpaired_batches() -> None:
    net = nn.Sequential(nn.Identity())
    a, b = torch.arange(6.0).reshape(3, 2), torch.ones(5, 2)
    assert torch.allclose(mean_difference(net, "0", a, b), torch.tensor([1.0, 2.0]))


def test_without_kind_zeroes_one_plane(layout) -> None:
    obs = observation_of(layout, active_states(layout)[:5], "grid")
    out = without_kind(obs, 0)
    assert out[:, 2].sum() == 0 and obs[:, 2].sum() == 5
    assert np.array_equal(out[:, :2], obs[:, :2])
    with pytest.raises(ValueError, match="plane for kind 3"):
        without_kind(obs, 3)


def test_pooled_vectors_leave_one_out() -> None:
    v = torch.randn(5, 3, 2)
    pooled = pooled_vectors(v)
    for i in range(5):
        others = torch.cat([v[:i], v[i + 1 :]]).mean(0)
        assert torch.allclose(pooled[i], others, atol=1e-6)
