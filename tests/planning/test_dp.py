"""Planners and policy evaluation against closed forms, brute-force enumeration and each other."""

import itertools
import math
import re

import numpy as np
import pytest
import scipy.sparse as sp

from rlcredit.mdp import TabularMDP
from rlcredit.planning import (
    FiniteHorizonResult,
    PlanResult,
    backward_induction,
    policy_evaluation,
    policy_q,
    value_iteration,
)


def chain(n: int, gamma: float, *, stay: bool = True, sparse: bool = False) -> TabularMDP:
    """States 0..n; action 0 moves right, action 1 stays (if ``stay``, else also moves right with reward 0).

    Entering state n (terminal) from n-1 with action 0 pays +1; nothing else pays.
    """
    S = n + 1
    P = np.zeros((S, 2, S))
    idx = np.arange(S)
    P[idx, 0, np.minimum(idx + 1, n)] = 1.0
    P[idx, 1, idx if stay else np.minimum(idx + 1, n)] = 1.0
    R = np.zeros((S, 2))
    R[n - 1, 0] = 1.0
    terminal = idx == n
    P_in = sp.csr_matrix(P.reshape(S * 2, S)) if sparse else P
    return TabularMDP(P_in, R, gamma, terminal)


def random_mdp(
    S: int, A: int, gamma: float, seed: int, *, n_terminal: int = 1, sparse: bool = False
) -> TabularMDP:
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) ** 3  # uneven rows
    P[rng.random((S, A, S)) < 0.4] = 0.0
    P[:, :, 0] += 1e-3
    P /= P.sum(axis=2, keepdims=True)
    R = rng.normal(size=(S, A))
    terminal = np.zeros(S, dtype=bool)
    terminal[S - n_terminal :] = True
    P_in = sp.csr_matrix(P.reshape(S * A, S)) if sparse else P
    return TabularMDP(P_in, R, gamma, terminal)


def random_policy(S: int, A: int, seed: int, *, horizon: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (S, A) if horizon is None else (horizon, S, A)
    pi = rng.random(shape)
    return pi / pi.sum(axis=-1, keepdims=True)


def test_single_state_loop_value_is_r_over_one_minus_gamma():
    P = np.ones((1, 1, 1))
    m = TabularMDP(P, np.array([[2.0]]), gamma=0.9)
    res = value_iteration(m, tol=1e-13)
    np.testing.assert_allclose(res.V, [20.0], rtol=1e-11)
    np.testing.assert_allclose(policy_evaluation(m, np.ones((1, 1))), [20.0], rtol=1e-12)


def test_two_state_cycle_closed_form():
    # 0 -> 1 -> 0 -> ... paying r0 then r1: V(0) = (r0 + gamma r1) / (1 - gamma^2)
    gamma, r0, r1 = 0.8, 1.0, -3.0
    P = np.zeros((2, 1, 2))
    P[0, 0, 1] = P[1, 0, 0] = 1.0
    m = TabularMDP(P, np.array([[r0], [r1]]), gamma=gamma)
    expect = np.array([(r0 + gamma * r1), (r1 + gamma * r0)]) / (1 - gamma**2)
    np.testing.assert_allclose(value_iteration(m, tol=1e-13).V, expect, rtol=1e-10)
    np.testing.assert_allclose(policy_evaluation(m, np.ones((2, 1))), expect, rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_deterministic_chain_value_is_gamma_to_the_distance(sparse):
    n, gamma = 6, 0.9
    m = chain(n, gamma, sparse=sparse)
    expect = np.append(gamma ** (n - 1 - np.arange(n)), 0.0)
    res = value_iteration(m)
    assert isinstance(res, PlanResult)
    np.testing.assert_allclose(res.V, expect, atol=1e-12)
    np.testing.assert_array_equal(res.policy[:n], np.tile([1.0, 0.0], (n, 1)))
    np.testing.assert_allclose(res.Q[:n, 1], gamma * expect[:n], atol=1e-12)  # staying delays by a step
    np.testing.assert_array_equal(res.Q[n], [0.0, 0.0])  # terminal rows are 0
    assert res.residual <= 1e-10 and res.iterations >= n

    H = 10
    bi = backward_induction(m, H)
    assert isinstance(bi, FiniteHorizonResult)
    assert bi.V.shape == (H + 1, n + 1) and bi.actions.shape == (H, n + 1) and bi.actions.dtype == np.int8
    assert bi.Q is None and bi.horizon == H
    np.testing.assert_allclose(bi.V[0], expect, atol=1e-15)
    np.testing.assert_array_equal(bi.V[H], 0.0)
    # with k steps left, the goal is reachable only from n - k and beyond
    for t in range(H + 1):
        k = H - t
        reachable = np.arange(n + 1) >= n - k
        np.testing.assert_allclose(bi.V[t], np.where(reachable, expect, 0.0), atol=1e-15)


def test_finite_horizon_without_reward_in_reach_breaks_ties_to_action_zero():
    # with 2 steps left from state 0 of a 6-chain, both actions are worth 0: tie -> action 0
    bi = backward_induction(chain(6, 0.9), 2)
    assert bi.V[0, 0] == 0.0
    np.testing.assert_array_equal(bi.actions[:, 0], [0, 0])


def test_ties_go_to_the_lowest_action_index_even_with_rounding_noise():
    # one state, 4 actions to the terminal state; actions 1 and 2 pay 0.3, computed differently
    P = np.zeros((2, 4, 2))
    P[:, :, 1] = 1.0
    R = np.array([[0.1, 0.1 + 0.2, 0.3, 0.2], [0.0, 0.0, 0.0, 0.0]])
    assert R[0, 1] != R[0, 2]  # 0.30000000000000004 vs 0.3
    m = TabularMDP(P, R, gamma=0.9, terminal=np.array([False, True]))
    res = value_iteration(m)
    np.testing.assert_array_equal(res.policy[0], [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(res.policy[1], [1.0, 0.0, 0.0, 0.0])
    bi = backward_induction(m, 3)
    np.testing.assert_array_equal(bi.actions[:, 0], [1, 1, 1])
    # a genuine difference well above the tolerance is not a tie
    m2 = m.replace(R=R + np.array([[0, 0, 1e-9, 0], [0, 0, 0, 0]]))
    assert backward_induction(m2, 1).actions[0, 0] == 2
    assert value_iteration(m2).policy[0].argmax() == 2


def test_backward_induction_converges_to_value_iteration_as_the_horizon_grows():
    gamma = 0.9
    m = random_mdp(12, 3, gamma, seed=0)
    vi = value_iteration(m, tol=1e-13)
    scale = np.abs(m.R).max() / (1 - gamma)
    errors = []
    for H in (5, 20, 80, 320):
        V0 = backward_induction(m, H).V[0]
        err = np.abs(V0 - vi.V).max()
        assert err <= gamma**H * scale + 1e-10
        errors.append(err)
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-12
    # the early greedy actions of a long horizon are the stationary optimal policy
    bi = backward_induction(m, 320)
    np.testing.assert_array_equal(bi.actions[0], vi.policy.argmax(axis=1))
    np.testing.assert_allclose(policy_evaluation(m, vi.policy), vi.V, atol=1e-10)


def test_backward_induction_q_and_policy():
    m = random_mdp(7, 3, 0.95, seed=1)
    bi = backward_induction(m, 6, return_q=True)
    assert bi.Q.shape == (6, 7, 3)
    np.testing.assert_allclose(bi.Q.max(axis=2), bi.V[:-1])
    np.testing.assert_array_equal(bi.Q.argmax(axis=2), bi.actions)
    pol = bi.policy
    assert pol.shape == (6, 7, 3)
    np.testing.assert_array_equal(pol.sum(axis=2), 1.0)
    # the greedy time-indexed policy evaluates to the optimal values
    np.testing.assert_allclose(policy_evaluation(m, pol, horizon=6), bi.V, atol=1e-12)
    live = ~m.terminal[:, None]
    for t in range(6):
        np.testing.assert_allclose(bi.Q[t], live * (m.R + m.gamma * m.expected_next(bi.V[t + 1])))


def brute_force_values(m: TabularMDP, pis: np.ndarray, H: int) -> np.ndarray:
    """Sum over every trajectory (a_0, s_1, a_1, s_2, ...) of probability times discounted return.

    A trajectory that enters a terminal state ends there; it is counted once, through the sequence
    whose entries after its end are all 0.
    """
    P, R = m.dense_P(), m.R
    S, A = m.num_states, m.num_actions
    V = np.zeros(S)
    for s0 in range(S):
        for steps in itertools.product(range(A), range(S), repeat=H):
            prob, ret, s = 1.0, 0.0, s0
            for t in range(H):
                if m.terminal[s]:
                    prob *= not any(steps[2 * t :])
                    break
                a, s_next = steps[2 * t], steps[2 * t + 1]
                prob *= pis[t, s, a] * P[s, a, s_next]
                ret += m.gamma**t * R[s, a]
                s = s_next
            V[s0] += prob * ret
    return V


def test_finite_horizon_policy_evaluation_matches_brute_force_enumeration():
    m = random_mdp(3, 2, 0.9, seed=2)  # state 2 terminal
    H = 4
    pis = random_policy(3, 2, seed=3, horizon=H)
    expect = brute_force_values(m, pis, H)
    V = policy_evaluation(m, pis, horizon=H)
    assert V.shape == (H + 1, 3)
    np.testing.assert_allclose(V[0], expect, rtol=1e-12, atol=1e-14)
    # a stationary policy is the same as repeating it in time
    pi = pis[0]
    np.testing.assert_allclose(
        policy_evaluation(m, pi, horizon=H), policy_evaluation(m, np.repeat(pi[None], H, axis=0), horizon=H)
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_infinite_horizon_policy_evaluation_is_the_bellman_fixed_point(sparse):
    m = random_mdp(15, 3, 0.9, seed=4, n_terminal=2, sparse=sparse)
    pi = random_policy(15, 3, seed=5)
    V = policy_evaluation(m, pi)
    assert V.shape == (15,)
    np.testing.assert_array_equal(V[m.terminal], 0.0)
    Q = policy_q(m, pi)
    np.testing.assert_allclose(np.sum(pi * Q, axis=1), V, atol=1e-12)
    np.testing.assert_allclose(Q[~m.terminal], (m.R + m.gamma * m.expected_next(V))[~m.terminal], atol=1e-12)
    # the long finite horizon approaches it
    V_long = policy_evaluation(m, pi, horizon=400)
    np.testing.assert_allclose(V_long[0], V, atol=1e-12)


def test_policy_q_finite_horizon_uses_the_next_time_values():
    m = random_mdp(5, 2, 0.8, seed=6)
    pi = random_policy(5, 2, seed=7)
    Q = policy_q(m, pi, horizon=3)
    V = policy_evaluation(m, pi, horizon=3)
    assert Q.shape == (3, 5, 2)
    np.testing.assert_allclose(np.sum(pi * Q, axis=2), V[:-1], atol=1e-14)
    np.testing.assert_allclose(Q[2][~m.terminal], m.R[~m.terminal])  # one step left: just the reward


def test_dense_and_sparse_models_give_identical_results():
    d = random_mdp(20, 4, 0.95, seed=8, n_terminal=3)
    s = random_mdp(20, 4, 0.95, seed=8, n_terminal=3, sparse=True)
    pi = random_policy(20, 4, seed=9)
    a, b = value_iteration(d), value_iteration(s)
    np.testing.assert_allclose(a.V, b.V, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(a.policy, b.policy)
    a, b = backward_induction(d, 30, return_q=True), backward_induction(s, 30, return_q=True)
    np.testing.assert_allclose(a.V, b.V, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_allclose(policy_evaluation(d, pi), policy_evaluation(s, pi), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(policy_q(d, pi, horizon=9), policy_q(s, pi, horizon=9), rtol=1e-13, atol=1e-13)


def test_horizon_none_uses_the_model_time_limit_and_inf_forces_infinite():
    m = chain(6, 0.9).replace(horizon=3)
    pi = np.tile([1.0, 0.0], (7, 1))
    assert backward_induction(m).V.shape == (4, 7)
    assert policy_evaluation(m, pi).shape == (4, 7)
    V = policy_evaluation(m, pi, horizon=math.inf)
    np.testing.assert_allclose(V, np.append(0.9 ** (5 - np.arange(6)), 0.0), atol=1e-12)
    with pytest.raises(ValueError, match=re.escape("backward_induction needs a finite horizon")):
        backward_induction(chain(6, 0.9))
    with pytest.raises(
        ValueError, match=re.escape("horizon must be a non-negative int, math.inf or None; got -1")
    ):
        policy_evaluation(m, pi, horizon=-1)
    with pytest.raises(
        ValueError, match=re.escape("a time-indexed pi of shape (H, S, A) needs a finite horizon")
    ):
        policy_evaluation(m, np.repeat(pi[None], 3, axis=0), horizon=math.inf)
    with pytest.raises(ValueError, match=re.escape("time-indexed pi has 3 steps but the horizon is 5")):
        policy_evaluation(m, np.repeat(pi[None], 3, axis=0), horizon=5)


def test_gamma_one_value_iteration_refuses_when_some_policy_never_terminates():
    m = chain(4, 1.0)  # "stay" keeps every non-terminal state forever
    message = (
        "value_iteration with gamma=1 needs every policy to reach a terminal state with probability 1, but "
        "some policy can stay forever among the non-terminal states [0, 1, 2, 3]; use "
        "backward_induction(m, horizon=H) or gamma < 1 instead"
    )
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        value_iteration(m)
    # only the trapped part is named: in states 1..3 "stay" becomes a second move to the right
    P = m.dense_P()
    for s in (1, 2, 3):
        P[s, 1] = 0.0
        P[s, 1, s + 1] = 1.0
    m2 = TabularMDP(P, m.R, 1.0, m.terminal)
    with pytest.raises(ValueError, match=re.escape("non-terminal states [0]; use")):
        value_iteration(m2)
    # backward induction works with gamma = 1 and a horizon: the +1 is reached within 4 steps
    np.testing.assert_array_equal(backward_induction(m, 4).V[0], [1, 1, 1, 1, 0])


def test_gamma_one_value_iteration_when_every_policy_terminates():
    # both actions move right; a cost of -1 on action 1 makes action 0 optimal: V(s) = 1 (the final reward)
    m = chain(5, 1.0, stay=False)
    R = m.R.copy()
    R[:, 1] -= 1.0
    res = value_iteration(m.replace(R=R))
    np.testing.assert_allclose(res.V, [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(res.policy[:5, 0], 1.0)
    # always taking action 1 pays -1 per step and nothing at the end: V(s) = -(n - s)
    V = policy_evaluation(m.replace(R=R), np.tile([0.0, 1.0], (6, 1)))
    np.testing.assert_allclose(V, [-5, -4, -3, -2, -1, 0])


def test_gamma_one_policy_evaluation_refuses_a_policy_that_never_terminates():
    m = chain(4, 1.0)
    pi = np.tile([0.0, 1.0], (5, 1))
    pi[2:] = [1.0, 0.0]  # states 2, 3 move on to the terminal state; 0 and 1 stay forever
    with pytest.raises(ValueError, match=re.escape("from states [0, 1] it never does; pass horizon=H")):
        policy_evaluation(m, pi)
    # a horizon makes it finite
    np.testing.assert_array_equal(policy_evaluation(m, pi, horizon=3)[0], [0, 0, 1, 1, 0])


def test_value_iteration_warns_when_it_runs_out_of_iterations():
    with pytest.warns(RuntimeWarning, match="stopped after max_iter=3 backups"):
        res = value_iteration(random_mdp(5, 2, 0.99, seed=10), max_iter=3)
    assert res.iterations == 3
