"""POWER, the ability to achieve goals in general (Turner et al., "Optimal Policies Tend to Seek Power", 2021).

For a distribution ``D`` over state-based reward functions ``R: S -> R``,

    POWER_D(s, γ) = (1 − γ) / γ · E_{R~D}[ V*_R(s, γ) − R(s) ],

where ``V*_R(s, γ) = max_π E[Σ_{t≥0} γ^t R(s_t) | s_0 = s]`` is the optimal value of ``R``, with the reward
of the current state ``s_0 = s`` included (Turner et al., Definition 5.2 and Section 3). Subtracting ``R(s)``
and normalizing by ``γ / (1 − γ)`` (the discounted weight of all future steps) make POWER the best average
future reward the agent can secure: an absorbing state has POWER ``E[R] = 1/2`` under iid uniform [0, 1]
rewards, and a state whose actions lead to ``k`` distinct absorbing states has ``E[max of k uniforms] =
k / (k + 1)``.

With a finite horizon ``H`` (the model's time limit, by default) the future is the next ``H`` steps and the
normalizer is their discounted weight ``Σ_{t=1..H} γ^t``, so both closed forms above still hold and
``γ = 1`` is allowed (POWER is then the best average reward per step over the horizon).

Terminal states of a :class:`~rlcredit.mdp.TabularMDP` are treated as absorbing by default, as in the paper,
where shutdown or the end of the game is a state the agent stays in (its reward received at every step);
``terminal_states="end"`` instead stops the reward there, so a terminal state has POWER 0.

The expectation is estimated from ``num_samples`` reward functions, solved together on a ``(S, K)`` value
matrix (one column per reward sample): backward induction for a finite horizon, Gauss-Seidel value iteration
(with self-loops solved in closed form) for the infinite one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from rlcredit.planning.kernels import power_finite_future, power_infinite_future
from rlcredit.planning.mcts import _as_mdp

__all__ = ["PowerResult", "power", "uniform_rewards"]

RewardSampler = Callable[[np.random.Generator, int, int], np.ndarray]


@dataclass(frozen=True, eq=False)
class PowerResult:
    """POWER of every state, estimated from sampled reward functions.

    Attributes
    ----------
    power : ndarray (S,) float64
        Estimated POWER of each state.
    stderr : ndarray (S,) float64
        Standard error of ``power`` over the reward samples (``std / sqrt(num_samples)``).
    std : ndarray (S,) float64
        Standard deviation over reward samples of the per-sample normalized value ``(V*_R(s) − R(s)) / norm``.
    num_samples : int
        Reward functions sampled.
    gamma : float
        Discount used.
    horizon : int or None
        Future steps counted; None for the infinite horizon.
    terminal : ndarray (S,) bool
        The model's terminal states (walls of a gridworld are among them: mask them when drawing a heatmap).
    terminal_states : str
        How terminal states were treated: ``"absorbing"`` or ``"end"``.
    """

    power: np.ndarray
    stderr: np.ndarray
    std: np.ndarray
    num_samples: int
    gamma: float
    horizon: int | None
    terminal: np.ndarray
    terminal_states: str


def uniform_rewards(rng: np.random.Generator, k: int, num_states: int) -> np.ndarray:
    """The default reward distribution: iid uniform [0, 1] reward for every state, shape (k, S)."""
    return rng.random((k, num_states))


def power(
    m: Any,
    num_samples: int = 1000,
    seed: int = 0,
    *,
    reward_sampler: RewardSampler | None = None,
    horizon: int | float | None = None,
    gamma: float | None = None,
    batch: int = 128,
    terminal_states: Literal["absorbing", "end"] = "absorbing",
    tol: float = 1e-8,
    max_iter: int = 100_000,
) -> PowerResult:
    """Estimate POWER_D(s, γ) of every state of a tabular model.

    Parameters
    ----------
    m : TabularMDP or gridworld env
        The model (an env is converted with ``env.unwrapped.to_mdp()``). Its ``R`` is not used: POWER
        averages over reward functions drawn from ``D``.
    num_samples : int
        Reward functions drawn from ``D``.
    seed : int
        Seed of the ``numpy.random.Generator`` given to the sampler; the result is deterministic for a seed.
    reward_sampler : callable or None
        ``reward_sampler(rng, k, S) -> (k, S)`` array of state rewards; default iid uniform [0, 1].
    horizon : int, float or None
        Future steps. None means the model's horizon (its time limit) when it has one, else infinite;
        ``math.inf`` asks for the infinite horizon of the paper on a model that has a time limit.
    gamma : float or None
        Discount; default the model's. The infinite horizon needs ``0 < γ < 1``.
    batch : int
        Reward samples solved together (memory is about ``4 · S · batch`` floats).
    terminal_states : "absorbing" or "end"
        Terminal states keep paying their reward forever (the paper's absorbing states), or end it.
    tol : float
        Infinite horizon: stop value iteration when the largest change of ``V`` is at most ``tol``, which
        bounds the error of each per-sample POWER by ``tol``.
    max_iter : int
        Infinite horizon: iteration limit (a ``RuntimeError`` if it is reached first).

    Returns
    -------
    PowerResult

    Raises
    ------
    ValueError
        For ``num_samples <= 0``, a bad horizon or discount, or a sampler returning the wrong shape.
    """
    m = _as_mdp(m)
    S, A = m.num_states, m.num_actions
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}")
    if terminal_states not in ("absorbing", "end"):
        raise ValueError(f"terminal_states must be 'absorbing' or 'end', got {terminal_states!r}")
    gamma = float(m.gamma if gamma is None else gamma)
    if horizon is None:
        horizon = m.horizon
    if horizon is not None and math.isinf(horizon):
        horizon = None
    if horizon is not None:
        if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive int, None or math.inf, got {horizon!r}")
        horizon = int(horizon)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1] for a finite horizon, got {gamma}")
        norm = float(horizon) if gamma == 1.0 else gamma * (1.0 - gamma**horizon) / (1.0 - gamma)
    else:
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"gamma must be in (0, 1) for the infinite horizon, got {gamma}; pass a horizon")
        norm = gamma / (1.0 - gamma)
    sampler = uniform_rewards if reward_sampler is None else reward_sampler

    P2 = m.P2 if sp.issparse(m.P2) else sp.csr_matrix(m.P2)
    live = ~np.asarray(m.terminal, dtype=bool)
    rng = np.random.default_rng(seed)
    mean = np.zeros(S)
    m2 = np.zeros(S)  # sum of squared deviations from the mean, merged batch by batch (Chan et al.)
    done = 0
    while done < num_samples:
        k = min(batch, num_samples - done)
        rewards = np.asarray(sampler(rng, k, S), dtype=np.float64)
        if rewards.shape != (k, S):
            raise ValueError(f"reward_sampler returned shape {rewards.shape}, expected (k, S) = ({k}, {S})")
        Rt = np.ascontiguousarray(rewards.T)
        future = _future_value(P2, Rt, live, A, gamma, horizon, terminal_states, tol, max_iter)
        sample_power = future / norm
        batch_mean = sample_power.mean(axis=1)
        delta = batch_mean - mean
        m2 += np.square(sample_power - batch_mean[:, None]).sum(axis=1) + delta**2 * done * k / (done + k)
        mean += delta * k / (done + k)
        done += k
    std = np.sqrt(m2 / max(num_samples - 1, 1))
    return PowerResult(
        power=mean,
        stderr=std / math.sqrt(num_samples),
        std=std,
        num_samples=int(num_samples),
        gamma=gamma,
        horizon=horizon,
        terminal=np.array(m.terminal, dtype=bool),
        terminal_states=terminal_states,
    )


def _future_value(
    P2: sp.csr_matrix,
    Rt: np.ndarray,
    live: np.ndarray,
    A: int,
    gamma: float,
    horizon: int | None,
    terminal_states: str,
    tol: float,
    max_iter: int,
) -> np.ndarray:
    """``V*_R − R`` for a batch of state rewards ``Rt`` (S, K): the optimal value of the future steps."""
    arrays = (P2.indptr.astype(np.int64), P2.indices.astype(np.int64), P2.data.astype(np.float64))
    absorbing = terminal_states == "absorbing"
    if horizon is not None:
        return power_finite_future(*arrays, Rt, live, A, gamma, horizon, absorbing)
    future, converged = power_infinite_future(*arrays, Rt, live, A, gamma, absorbing, tol, max_iter)
    if not converged:
        raise RuntimeError(f"POWER value iteration did not reach tol={tol} in {max_iter} iterations")
    return future
