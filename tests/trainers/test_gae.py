"""GAE and returns-to-go against an independent per-env loop and against closed forms."""

import numpy as np
import pytest

from rlcredit.trainers import gae, returns_to_go


def _gae_loop(rewards, values, terminated, truncated, next_values, gamma, lam):
    """Per env, per episode, straight from the definition: A_t = sum_k (gamma lam)^k delta_{t+k} until the
    episode ends (terminated: no bootstrap; truncated: bootstrap from the final observation's value)."""
    T, N = rewards.shape
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, coef = 0.0, 1.0
            for k in range(t, T):
                boot = 0.0 if terminated[k, n] else gamma * next_values[k, n]
                total += coef * (rewards[k, n] + boot - values[k, n])
                if terminated[k, n] or truncated[k, n]:
                    break
                coef *= gamma * lam
            adv[t, n] = total
    return adv


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_matches_independent_loop_with_terminations_and_truncations(lam):
    rng = np.random.default_rng(0)
    T, N, gamma = 40, 5, 0.9
    rewards = rng.normal(size=(T, N))
    values = rng.normal(size=(T, N))
    next_values = rng.normal(size=(T, N))
    ends = rng.random((T, N))
    terminated = ends < 0.08
    truncated = (ends >= 0.08) & (ends < 0.15)
    assert terminated.any() and truncated.any()
    adv, ret = gae(rewards, values, terminated, truncated, next_values, gamma, lam)
    expected = _gae_loop(rewards, values, terminated, truncated, next_values, gamma, lam)
    np.testing.assert_allclose(adv, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ret, expected + values, rtol=1e-10, atol=1e-10)


def test_gae_truncation_bootstraps_from_final_value():
    # One step, truncated: A = r + gamma V(final) - V(s); a termination ignores next_values.
    r, v, vf, gamma = np.array([[0.5]]), np.array([[2.0]]), np.array([[3.0]]), 0.9
    adv, _ = gae(r, v, np.array([[False]]), np.array([[True]]), vf, gamma, 0.95)
    assert adv[0, 0] == pytest.approx(0.5 + 0.9 * 3.0 - 2.0)
    adv, _ = gae(r, v, np.array([[True]]), np.array([[False]]), vf, gamma, 0.95)
    assert adv[0, 0] == pytest.approx(0.5 - 2.0)


@pytest.mark.parametrize("lam", [0.8, 1.0])
def test_gae_constant_value_single_terminal_reward_closed_form(lam):
    # Stable-Baselines3's analytic case (tests/test_gae.py): episodes of length L, reward 1 on the last
    # (terminal) step, a critic that always says v. With x = gamma*lam and k = L-1-t steps to the end:
    #   delta_t = -(1-gamma) v for t < L-1, delta_{L-1} = 1 - v
    #   A_t = x^k (1 - v) - (1-gamma) v (1 - x^k) / (1 - x)     (lam = 1: A_t = gamma^k - v)
    L, episodes, N, gamma, v = 7, 3, 2, 0.95, 0.4
    T = L * episodes
    rewards = np.zeros((T, N))
    rewards[L - 1 :: L] = 1.0
    terminated = np.zeros((T, N), bool)
    terminated[L - 1 :: L] = True
    values = np.full((T, N), v)
    adv, ret = gae(rewards, values, terminated, np.zeros((T, N), bool), values.copy(), gamma, lam)
    k = (L - 1 - np.arange(T) % L)[:, None]
    x = gamma * lam
    expected = x**k * (1 - v) - (1 - gamma) * v * (1 - x**k) / (1 - x)
    np.testing.assert_allclose(adv, np.broadcast_to(expected, (T, N)), rtol=1e-12)
    if lam == 1.0:
        np.testing.assert_allclose(ret, np.broadcast_to(gamma**k, (T, N)), rtol=1e-12)


def test_gae_keeps_float32():
    z = np.zeros((3, 2), np.float32)
    adv, ret = gae(z, z, z.astype(bool), z.astype(bool), z, 0.99, 0.95)
    assert adv.dtype == np.float32 and ret.dtype == np.float32


def test_returns_to_go_sums_discounted_rewards_within_episodes():
    rewards = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 5.0]])
    done = np.array([[False, False], [True, False], [False, True], [False, False]])
    g = 0.5
    G = returns_to_go(rewards, done, g)
    expected = np.array(
        [
            [1 + g * 2, 0 + g * 1 + g * g * 0],
            [2, 1 + g * 0],
            [3 + g * 4, 0],
            [4, 5],
        ]
    )
    np.testing.assert_allclose(G, expected)
