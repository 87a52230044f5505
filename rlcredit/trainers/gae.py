"""Generalized advantage estimation and discounted returns-to-go, on (T, N) rollout arrays."""

from __future__ import annotations

import numpy as np


def gae(
    rewards: np.ndarray,
    values: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
    lam: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Generalized advantage estimation (Schulman et al. 2016, arXiv:1506.02438).

    Parameters
    ----------
    rewards, values, next_values : (T, N) float arrays
        ``values[t] = V(s_t)``; ``next_values[t] = V(s_{t+1})`` of the true next state, i.e. the final
        observation's value when the episode was truncated at ``t`` (the observation returned by an
        autoresetting vector env is already the next episode's first one).
    terminated, truncated : (T, N) bool arrays
        Why the episode ended after step ``t``. A time-limit truncation is bootstrapped from
        ``next_values[t]``; a termination is not. The last row of the rollout needs neither: its
        ``next_values`` is the value of the state the next rollout starts from.
    gamma, lam : float
        Discount and GAE lambda.

    Returns
    -------
    adv, ret : (T, N) float arrays, dtype of ``values``
        ``delta_t = r_t + gamma (1 - terminated_t) next_values_t - values_t``,
        ``A_t = delta_t + gamma lam (1 - terminated_t)(1 - truncated_t) A_{t+1}``, ``ret = A + values``.
    """
    rewards = np.asarray(rewards)
    values = np.asarray(values)
    dtype = np.result_type(values.dtype, np.float32)
    not_term = 1.0 - np.asarray(terminated, dtype=dtype)
    carry = gamma * lam * not_term * (1.0 - np.asarray(truncated, dtype=dtype))
    delta = rewards + gamma * not_term * np.asarray(next_values) - values
    adv = np.empty(values.shape, dtype=dtype)
    last = np.zeros(values.shape[1:], dtype=dtype)
    for t in range(values.shape[0] - 1, -1, -1):
        last = delta[t] + carry[t] * last
        adv[t] = last
    return adv, adv + values


def returns_to_go(rewards: np.ndarray, done: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted Monte Carlo return ``G_t = sum_k gamma^k r_{t+k}`` up to the end of each episode.

    Parameters
    ----------
    rewards : (T, N) float array
    done : (T, N) bool array
        True where an episode ended after step ``t`` (terminated or truncated); no bootstrap either way.
        Steps after the last ``done`` of a column sum only the rewards that follow inside the array.
    gamma : float

    Returns
    -------
    (T, N) float array, dtype of ``rewards`` (at least float32).
    """
    rewards = np.asarray(rewards)
    dtype = np.result_type(rewards.dtype, np.float32)
    carry = gamma * (1.0 - np.asarray(done, dtype=dtype))
    out = np.empty(rewards.shape, dtype=dtype)
    last = np.zeros(rewards.shape[1:], dtype=dtype)
    for t in range(rewards.shape[0] - 1, -1, -1):
        last = rewards[t] + carry[t] * last
        out[t] = last
    return out
