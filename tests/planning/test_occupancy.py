"""Occupancy and reach probability against closed forms, matrix powers and Monte Carlo."""

import math
import re

import numpy as np
import pytest
import scipy.sparse as sp

from rlcredit.mdp import TabularMDP
from rlcredit.planning import occupancy, policy_evaluation, reach_probability


def walk(
    n: int, *, gamma: float = 1.0, sparse: bool = False, initial: np.ndarray | None = None
) -> TabularMDP:
    """States 0..n on a line, 0 and n terminal; action 0 steps left, 1 steps right; reward 1 per step."""
    S = n + 1
    idx = np.arange(S)
    P = np.zeros((S, 2, S))
    P[idx, 0, np.maximum(idx - 1, 0)] = 1.0
    P[idx, 1, np.minimum(idx + 1, n)] = 1.0
    terminal = (idx == 0) | (idx == n)
    P_in = sp.csr_matrix(P.reshape(2 * S, S)) if sparse else P
    return TabularMDP(P_in, np.ones((S, 2)), gamma, terminal, initial)


def right_with(p: float, S: int) -> np.ndarray:
    return np.tile([1.0 - p, p], (S, 1))


def delta(s: int, S: int) -> np.ndarray:
    d = np.zeros(S)
    d[s] = 1.0
    return d


def random_mdp(S: int, A: int, seed: int, *, sparse: bool = False) -> TabularMDP:
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) ** 2
    P[rng.random((S, A, S)) < 0.5] = 0.0
    P[:, :, -1] += 0.05
    P /= P.sum(axis=2, keepdims=True)
    terminal = np.zeros(S, dtype=bool)
    terminal[-2:] = True
    P_in = sp.csr_matrix(P.reshape(S * A, S)) if sparse else P
    return TabularMDP(P_in, rng.normal(size=(S, A)), 0.9, terminal)


@pytest.mark.parametrize("sparse", [False, True])
def test_gamblers_ruin_reach_probability_is_s_over_n(sparse):
    n = 10
    m = walk(n, sparse=sparse)
    h = reach_probability(m, right_with(0.5, n + 1), [n])
    np.testing.assert_allclose(h, np.arange(n + 1) / n, atol=1e-12)


def test_biased_walk_reach_probability_closed_form():
    n, p = 8, 0.6
    r = (1 - p) / p
    expect = (r ** np.arange(n + 1) - 1) / (r**n - 1)
    h = reach_probability(walk(n), right_with(p, n + 1), np.arange(n + 1) == n)
    np.testing.assert_allclose(h, expect, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_gamblers_ruin_occupancy_sums_to_the_expected_duration(sparse):
    # fair walk from s: expected duration s (n - s); P(end at n) = s / n
    n, s = 10, 3
    m = walk(n, sparse=sparse, initial=delta(s, n + 1))
    occ = occupancy(m, right_with(0.5, n + 1))
    assert occ[1:n].sum() == pytest.approx(s * (n - s), rel=1e-12)
    assert occ[n] == pytest.approx(s / n, rel=1e-12) and occ[0] == pytest.approx(1 - s / n, rel=1e-12)
    # visits to each interior state: the Green's function of the walk, 2 min(s, k) (n - max(s, k)) / n
    k = np.arange(1, n)
    np.testing.assert_allclose(occ[1:n], 2 * np.minimum(s, k) * (n - np.maximum(s, k)) / n, rtol=1e-11)


def test_geometric_occupancy_of_a_lazy_walk():
    # one action: step right with probability p, else stay. Each state is occupied a geometric 1/p steps.
    n, p = 5, 0.25
    S = n + 1
    idx = np.arange(S)
    P = np.zeros((S, 1, S))
    P[idx, 0, np.minimum(idx + 1, n)] += p
    P[idx, 0, idx] += 1 - p
    m = TabularMDP(P, np.zeros((S, 1)), 1.0, idx == n, delta(0, S))
    occ = occupancy(m, np.ones((S, 1)))
    np.testing.assert_allclose(occ, np.append(np.full(n, 1 / p), 1.0), rtol=1e-12)
    # a horizon of 3 cannot reach the end, so the episode always lasts 3 steps
    occ3 = occupancy(m, np.ones((S, 1)), horizon=3)
    assert occ3[:n].sum() == pytest.approx(3.0) and occ3[n] == 0.0
    np.testing.assert_allclose(occ3[0], 1 + (1 - p) + (1 - p) ** 2)


def test_finite_horizon_deterministic_chain_visits_each_state_once():
    n = 6
    m = walk(n, initial=delta(1, n + 1))
    pi = right_with(1.0, n + 1)
    occ = occupancy(m, pi, horizon=3)
    np.testing.assert_array_equal(occ, [0, 1, 1, 1, 0, 0, 0])  # acts at 1, 2, 3; ends at 4, not terminal
    occ = occupancy(m, pi, horizon=5)
    np.testing.assert_array_equal(occ, [0, 1, 1, 1, 1, 1, 1])  # the 5th action enters terminal 6
    occ = occupancy(m, pi, horizon=5, discounted=True)
    g = m.gamma
    np.testing.assert_allclose(occ, [0, 1, g, g**2, g**3, g**4, g**5])


@pytest.mark.parametrize("horizon", [7, None])
def test_discounted_occupancy_weights_rewards_into_the_start_value(horizon):
    # sum_s occ_gamma(s) r_pi(s) = sum_s initial(s) V_pi(s), finite and infinite horizon
    m = random_mdp(9, 3, seed=0)
    rng = np.random.default_rng(1)
    pi = rng.random((9, 3))
    pi /= pi.sum(axis=1, keepdims=True)
    r_pi = np.where(m.terminal, 0.0, np.sum(pi * m.R, axis=1))
    occ = occupancy(m, pi, horizon=horizon, discounted=True)
    V = policy_evaluation(m, pi, horizon=horizon)
    V0 = V if horizon is None else V[0]
    assert occ @ r_pi == pytest.approx(m.initial @ V0, rel=1e-11)


def test_occupancy_and_reach_probability_match_monte_carlo():
    m = random_mdp(6, 2, seed=2)  # states 4 and 5 terminal
    rng = np.random.default_rng(3)
    pis = rng.random((5, 6, 2))
    pis /= pis.sum(axis=2, keepdims=True)
    H, N, S = 5, 40_000, 6
    P = m.dense_P()
    state = rng.choice(S, size=N, p=m.initial)
    visits = np.zeros((N, S))
    visits[np.arange(N), state] += 1.0
    hit = state == 3
    acting = ~m.terminal[state]
    for t in range(H):
        action = (rng.random(N) > pis[t, state, 0]).astype(int)
        cum = np.cumsum(P[state, action], axis=1)
        nxt = np.minimum((rng.random(N)[:, None] > cum).sum(axis=1), S - 1)
        state = np.where(acting, nxt, state)
        hit |= acting & (state == 3)
        # a visit is a step to act at (times 0..H-1) or an arrival at a terminal state
        counted = acting & ((t + 1 < H) | m.terminal[state])
        visits[np.flatnonzero(counted), state[counted]] += 1.0
        acting &= ~m.terminal[state]
    occ = occupancy(m, pis, horizon=H)
    np.testing.assert_allclose(visits.mean(axis=0), occ, atol=5 * visits.std(axis=0).max() / np.sqrt(N))
    h = reach_probability(m, pis, [3], horizon=H)
    assert hit.mean() == pytest.approx(m.initial @ h, abs=5 * np.sqrt(0.25 / N))


def test_finite_horizon_reach_probability_matches_matrix_powers():
    # independent computation: make targets and terminal states absorbing, take P_pi^H
    m = random_mdp(8, 3, seed=4)
    rng = np.random.default_rng(5)
    pi = rng.random((8, 3))
    pi /= pi.sum(axis=1, keepdims=True)
    targets = np.zeros(8, dtype=bool)
    targets[[2, 7]] = True  # 7 is terminal, 2 is not
    M = np.einsum("sa,sat->st", pi, m.dense_P())
    stop = targets | m.terminal
    M[stop] = np.eye(8)[stop]
    for H in (0, 1, 4, 12):
        expect = np.linalg.matrix_power(M, H)[:, targets].sum(axis=1)
        np.testing.assert_allclose(reach_probability(m, pi, targets, horizon=H), expect, atol=1e-13)
    expect = np.linalg.matrix_power(M, 2000)[:, targets].sum(axis=1)
    np.testing.assert_allclose(reach_probability(m, pi, targets), expect, atol=1e-10)


def test_reach_probability_zero_where_the_target_cannot_be_reached():
    # state 0 loops forever, state 1 goes to terminal 3 (not a target), state 2 is the target
    P = np.zeros((4, 1, 4))
    P[0, 0, 0] = P[1, 0, 3] = P[2, 0, 2] = P[3, 0, 3] = 1.0
    m = TabularMDP(P, np.zeros((4, 1)), 1.0, np.array([False, False, False, True]))
    np.testing.assert_array_equal(reach_probability(m, np.ones((4, 1)), [2]), [0, 0, 1, 0])
    np.testing.assert_array_equal(reach_probability(m, np.ones((4, 1)), [2], horizon=3), [0, 0, 1, 0])


def test_undiscounted_infinite_occupancy_needs_termination_only_where_the_policy_goes():
    n = 6
    m = walk(n, initial=delta(2, n + 1))
    pi = right_with(1.0, n + 1)
    pi[4] = [0.5, 0.5]
    occ = occupancy(m, pi)
    assert occ[0] + occ[n] == pytest.approx(1.0)  # the episode ends with probability 1
    # in state 1, action 1 now stays forever; a walk that starts at 2 and goes right never sees state 1
    P = m.dense_P()
    P[1, 1] = np.eye(n + 1)[1]
    m2 = TabularMDP(P, m.R, 1.0, m.terminal, delta(2, n + 1))
    right = right_with(1.0, n + 1)
    np.testing.assert_array_equal(occupancy(m2, right), [0, 0, 1, 1, 1, 1, 1])
    message = (
        "occupancy without discounting or horizon is infinite: from the start distribution the policy "
        "reaches states [1] and never terminates from them; pass horizon=H or discounted=True"
    )
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        occupancy(m2, right, initial=delta(1, n + 1))
    # discounting makes it finite: 1 / (1 - gamma) visits
    m3 = m2.replace(gamma=0.5)
    np.testing.assert_allclose(occupancy(m3, right, initial=delta(1, n + 1), discounted=True)[1], 2.0)


def test_dense_and_sparse_models_agree():
    d, s = random_mdp(12, 3, seed=6), random_mdp(12, 3, seed=6, sparse=True)
    rng = np.random.default_rng(7)
    pi = rng.random((12, 3))
    pi /= pi.sum(axis=1, keepdims=True)
    for kw in ({"discounted": True}, {"discounted": False}, {"horizon": 9}):
        np.testing.assert_allclose(occupancy(d, pi, **kw), occupancy(s, pi, **kw), rtol=1e-11, atol=1e-13)
    for kw in ({}, {"horizon": 9}):
        np.testing.assert_allclose(
            reach_probability(d, pi, [4], **kw), reach_probability(s, pi, [4], **kw), rtol=1e-11, atol=1e-13
        )


def test_model_horizon_is_the_default_and_inf_forces_infinite():
    n = 6
    m = walk(n, initial=delta(1, n + 1)).replace(horizon=2)
    pi = right_with(1.0, n + 1)
    np.testing.assert_array_equal(occupancy(m, pi), [0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(occupancy(m, pi, horizon=math.inf), [0, 1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(reach_probability(m, pi, [6]), [0, 0, 0, 0, 1, 1, 1])


def test_target_validation():
    m = walk(4)
    pi = right_with(0.5, 5)
    with pytest.raises(ValueError, match=re.escape("target state 5 is out of range for S = 5")):
        reach_probability(m, pi, [5])
    with pytest.raises(
        ValueError, match=re.escape("a bool targets mask must have shape (S,) = (5,); got (4,)")
    ):
        reach_probability(m, pi, np.ones(4, dtype=bool))
