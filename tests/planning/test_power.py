"""POWER (Turner et al. 2021) against closed forms and an independent dynamic-programming computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rlcredit
from rlcredit.mdp import TabularMDP
from rlcredit.planning.dp import backward_induction, value_iteration
from rlcredit.planning.power import PowerResult, power


def fan(k: int, *, gamma: float = 0.9, terminal_leaves: bool = False) -> TabularMDP:
    """State 0 whose k actions lead to k distinct states 1..k, each of which only loops on itself."""
    S, A = k + 1, k
    P = np.zeros((S, A, S))
    for a in range(A):
        P[0, a, 1 + a] = 1.0
    for s in range(1, S):
        P[s, :, s] = 1.0
    terminal = np.array([False] + [terminal_leaves] * k)
    return TabularMDP(P, np.zeros((S, A)), gamma=gamma, terminal=terminal)


def random_mdp(S: int = 6, A: int = 3, seed: int = 0, gamma: float = 0.8) -> TabularMDP:
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) ** 4
    P /= P.sum(axis=2, keepdims=True)
    return TabularMDP(P, np.zeros((S, A)), gamma=gamma)


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("horizon", [math.inf, 5])
def test_k_absorbing_successors_have_power_k_over_k_plus_1(k, horizon):
    res = power(fan(k), num_samples=20_000, seed=0, horizon=horizon)
    assert isinstance(res, PowerResult)
    expected = np.array([k / (k + 1)] + [0.5] * k)  # E[max of k uniforms]; an absorbing state: E[R]
    assert np.all(np.abs(res.power - expected) < 5 * res.stderr + 1e-12)
    np.testing.assert_allclose(res.power, expected, atol=0.01)
    # the standard errors are those of the closed forms: Var[max of k uniforms] = k / ((k+1)^2 (k+2))
    np.testing.assert_allclose(res.stderr[0], math.sqrt(k / ((k + 1) ** 2 * (k + 2)) / 20_000), rtol=0.05)


def test_terminal_states_absorb_by_default_or_end_the_reward():
    m = fan(3, gamma=0.9, terminal_leaves=True)
    absorbing = power(m, num_samples=20_000, seed=1)
    np.testing.assert_allclose(absorbing.power, [0.75, 0.5, 0.5, 0.5], atol=0.01)
    end = power(m, num_samples=20_000, seed=1, terminal_states="end")
    np.testing.assert_array_equal(end.power[1:], 0.0)  # a terminal state has no future
    # one more reward, E[max of 3 uniforms], then nothing: normalized by γ/(1−γ)
    np.testing.assert_allclose(end.power[0], (1 - 0.9) * 0.75, atol=0.002)
    assert absorbing.terminal.tolist() == [False, True, True, True]


@pytest.mark.parametrize("gamma", [0.5, 0.9, 0.99])
def test_matches_value_iteration_for_one_fixed_reward(gamma):
    m = random_mdp(gamma=gamma)
    reward = np.linspace(0.0, 1.0, m.num_states)

    def fixed(rng, k, S):
        return np.tile(reward, (k, 1))

    res = power(m, num_samples=3, reward_sampler=fixed, tol=1e-12)
    # independently: V*_R with the state reward paid on leaving each state, by value iteration
    V = value_iteration(m.replace(R=np.repeat(reward[:, None], m.num_actions, axis=1)), tol=1e-13).V
    np.testing.assert_allclose(res.power, (V - reward) * (1 - gamma) / gamma, atol=1e-9)
    np.testing.assert_allclose(res.stderr, 0.0, atol=1e-12)


@pytest.mark.parametrize("gamma", [0.9, 1.0])
def test_finite_horizon_matches_backward_induction(gamma):
    m = random_mdp(gamma=gamma)
    reward = np.linspace(1.0, 0.0, m.num_states)
    H = 7
    res = power(m, num_samples=2, horizon=H, reward_sampler=lambda rng, k, S: np.tile(reward, (k, 1)))
    mR = m.replace(R=np.repeat(reward[:, None], m.num_actions, axis=1))
    V = backward_induction(mR, H + 1).V[0]  # R(s) now, then H more steps
    norm = H if gamma == 1.0 else sum(gamma**t for t in range(1, H + 1))
    np.testing.assert_allclose(res.power, (V - reward) / norm, atol=1e-12)
    assert res.horizon == H


def test_horizon_defaults_to_the_model_time_limit():
    m = fan(2)
    limited = TabularMDP(m.P2.reshape(3, 2, 3), m.R, gamma=0.9, horizon=4)
    reward = np.array([0.0, 1.0, 0.5])
    sampler = lambda rng, k, S: np.tile(reward, (k, 1))  # noqa: E731
    assert power(limited, 1, reward_sampler=sampler).horizon == 4
    assert power(limited, 1, reward_sampler=sampler, horizon=math.inf).horizon is None
    # with a fixed reward, POWER of the fan's root is the best leaf reward for every horizon
    np.testing.assert_allclose(power(limited, 1, reward_sampler=sampler).power[0], 1.0)


def test_deterministic_for_a_seed_and_independent_of_the_batch_size():
    m = random_mdp()
    a = power(m, num_samples=300, seed=5)
    b = power(m, num_samples=300, seed=5, batch=7)
    c = power(m, num_samples=300, seed=6)
    np.testing.assert_allclose(a.power, b.power, atol=1e-12)
    np.testing.assert_allclose(a.stderr, b.stderr, atol=1e-12)
    assert not np.allclose(a.power, c.power)
    np.testing.assert_allclose(a.stderr, a.std / math.sqrt(300))


def test_on_a_gridworld_env():
    env = rlcredit.make("rlcredit/FourRooms-v0")
    m = env.unwrapped.to_mdp()
    res = power(env, num_samples=200, seed=0)
    assert res.power.shape == (m.num_states,)
    np.testing.assert_array_equal(res.terminal, m.terminal)
    live = ~m.terminal
    # rewards in [0, 1] bound POWER to [0, 1]; a room cell reaches many cells, so it beats an absorbing
    # state's E[R] = 1/2 (walls and goals are terminal: absorbing by default)
    assert np.all((res.power >= 0.0) & (res.power <= 1.0))
    assert np.all(res.power[live] > 0.5)
    np.testing.assert_allclose(res.power[m.terminal], 0.5, atol=5 * res.stderr[m.terminal].max())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "num_samples must be positive, got 0"),
        ({"batch": 0}, "batch must be positive, got 0"),
        ({"horizon": 0}, "horizon must be a positive int, None or math.inf"),
        ({"horizon": 2.5}, "horizon must be a positive int, None or math.inf"),
        ({"gamma": 1.0}, r"gamma must be in \(0, 1\) for the infinite horizon"),
        ({"gamma": 0.0, "horizon": 3}, r"gamma must be in \(0, 1\] for a finite horizon"),
        ({"terminal_states": "stay"}, "terminal_states must be 'absorbing' or 'end'"),
        ({"reward_sampler": lambda rng, k, S: np.zeros((S, k + 1))}, r"reward_sampler returned shape"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        power(fan(2), **kwargs)
