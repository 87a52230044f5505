"""MCTS against exact answers: bandits, chains and small gridworld-like MDPs solved by dynamic programming."""

from __future__ import annotations

import numpy as np
import pytest

import rlcredit
from rlcredit.mdp import TabularMDP
from rlcredit.planning.dp import backward_induction, value_iteration
from rlcredit.planning.mcts import MCTSResult, SearchModel, mcts

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]  # up, right, down, left


def grid_mdp(rows: list[str], *, slip: float = 0.0, fail: float = 0.0, gamma: float = 0.9, horizon=None):
    """A gridworld as a TabularMDP: ``#`` walls (unreachable, terminal), ``G`` a terminal +1 goal.

    ``slip``: the move goes in a uniformly random other direction; ``fail``: the agent stays put.
    """
    H, W = len(rows), len(rows[0])
    S, A = H * W, 4
    P = np.zeros((S, A, S))
    R = np.zeros((S, A))
    terminal = np.array([ch in "#G" for row in rows for ch in row])
    goal = np.array([ch == "G" for row in rows for ch in row], dtype=float)

    def dest(r: int, c: int, d: int) -> int:
        rr, cc = r + MOVES[d][0], c + MOVES[d][1]
        return rr * W + cc if 0 <= rr < H and 0 <= cc < W and rows[rr][cc] != "#" else r * W + c

    for r in range(H):
        for c in range(W):
            s = r * W + c
            for a in range(A):
                if terminal[s]:
                    P[s, a, s] = 1.0
                    continue
                for d in range(4):
                    p = (1.0 - slip if d == a else slip / 3) * (1.0 - fail)
                    P[s, a, dest(r, c, d)] += p
                    R[s, a] += p * goal[dest(r, c, d)]
                P[s, a, s] += fail
    return TabularMDP(P, R, gamma=gamma, terminal=terminal, horizon=horizon)


def bandit(rewards: list[float], gamma: float = 0.9) -> TabularMDP:
    """State 0 with one action per reward, each leading to the terminal state 1."""
    A = len(rewards)
    P = np.zeros((2, A, 2))
    P[:, :, 1] = 1.0
    R = np.zeros((2, A))
    R[0] = rewards
    return TabularMDP(P, R, gamma=gamma, terminal=np.array([False, True]))


def two_step() -> TabularMDP:
    """Root 0: action 0 -> B (p=0.3) or C (p=0.7); action 1 -> D with reward 0.1. B, C, D: two actions to T."""
    S, A = 5, 2
    P = np.zeros((S, A, S))
    R = np.zeros((S, A))
    P[0, 0, 1], P[0, 0, 2] = 0.3, 0.7
    P[0, 1, 3] = 1.0
    R[0, 1] = 0.1
    P[1:, :, 4] = 1.0
    R[1], R[2], R[3] = [1.0, 0.0], [0.2, 0.5], [0.6, 0.3]
    return TabularMDP(P, R, gamma=0.9, terminal=np.array([False, False, False, False, True]))


def test_bandit_q_is_the_reward():
    m = bandit([0.1, 0.5, 0.3])
    res = mcts(m, 0, num_simulations=500, seed=0)
    assert isinstance(res, MCTSResult)
    assert res.action == 1
    np.testing.assert_allclose(res.q, [0.1, 0.5, 0.3])  # every return after one step into a terminal state
    assert res.visits.sum() == 500
    assert res.tree.visits[0] == 500
    assert res.visits[1] > res.visits[0] and res.visits[1] > res.visits[2]


def test_stochastic_root_q_converges_to_exact_q_with_chance_children():
    m = two_step()
    Q = value_iteration(m).Q[0]
    np.testing.assert_allclose(Q, [0.9 * (0.3 * 1.0 + 0.7 * 0.5), 0.1 + 0.9 * 0.6])
    res = mcts(m, 0, num_simulations=20_000, seed=3, rollout=None)
    assert res.action == 1
    np.testing.assert_allclose(res.q, Q, atol=0.02)
    children = res.tree.children(0, 0)
    assert set(children) == {1, 2}  # one child per sampled next state
    n_b, n_c = res.tree.visits[children[1]], res.tree.visits[children[2]]
    assert n_b + n_c == res.visits[0]
    assert abs(n_b / (n_b + n_c) - 0.3) < 0.05


def test_chain_root_q_matches_backward_induction_and_horizon_caps_depth():
    # 0 -> 1 -> 2 -> 3 -> 4 (terminal, +1 on entering) with "right"; "left" ends at once with +0.2.
    S, A = 5, 2
    P = np.zeros((S, A, S))
    R = np.zeros((S, A))
    for s in range(4):
        P[s, 0, 4] = 1.0
        R[s, 0] = 0.2
        P[s, 1, s + 1] = 1.0
    R[3, 1] = 1.0
    P[4, :, 4] = 1.0
    terminal = np.array([False] * 4 + [True])
    for horizon, best in [(6, 1), (3, 0)]:  # with 3 steps the +1 is out of reach
        m = TabularMDP(P, R, gamma=0.9, terminal=terminal, horizon=horizon)
        Q = backward_induction(m, return_q=True).Q[0, 0]
        res = mcts(m, 0, num_simulations=5000, seed=0, rollout="random")
        assert res.action == best
        np.testing.assert_allclose(res.q, Q, atol=0.02)
        assert res.tree.depth.max() <= horizon


def test_max_depth_one_gives_the_immediate_reward():
    m = grid_mdp(["...G"], gamma=0.9)
    res = mcts(m, 2, num_simulations=200, max_depth=1)
    np.testing.assert_allclose(res.q, m.R[2])
    assert res.action == 1


@pytest.mark.parametrize(
    ("name", "rows", "kw"),
    [
        ("open 5x5", ["....G", ".....", ".....", ".....", "....."], {}),
        # slips to a random other direction; corridors give every state one clearly best action
        ("comb maze, slip 0.2", ["..#..", "#.#.#", "..G..", "#.#.#", "..#.."], {"slip": 0.2}),
        # the move fails (stay) with p=0.2: stochastic, with the ties of the open grid kept exact
        ("open 5x5, fail 0.2", ["....G", ".....", ".....", ".....", "....."], {"fail": 0.2}),
    ],
)
def test_picks_backward_induction_optimal_actions_on_small_grids(name, rows, kw):
    m = grid_mdp(rows, gamma=0.9, horizon=25, **kw)
    Q = backward_induction(m, return_q=True).Q[0]
    states = np.flatnonzero(~m.terminal)
    sm = SearchModel.from_model(m)
    hits = 0
    for s in states:
        res = mcts(sm, int(s), num_simulations=10_000, seed=int(s))
        hits += Q[s, res.action] >= Q[s].max() - 1e-9
    assert hits / states.size >= 0.99, name


def test_value_rollouts_with_exact_values():
    m = grid_mdp(["....G", ".....", ".#...", "....."], gamma=0.9)
    vi = value_iteration(m)
    for s in np.flatnonzero(~m.terminal):
        res = mcts(m, int(s), num_simulations=2000, seed=1, rollout="value", value_fn=vi.V)
        assert vi.Q[s, res.action] >= vi.Q[s].max() - 1e-9
        # deterministic moves and V* at the leaves: every simulated return is achievable, so at most Q*
        assert np.all(res.q <= vi.Q[s] + 1e-12)
    res = mcts(m, 0, num_simulations=50_000, seed=1, rollout="value", value_fn=vi.V)
    np.testing.assert_allclose(res.q[res.action], vi.Q[0].max(), atol=0.03)
    res_fn = mcts(m, 0, num_simulations=300, rollout="value", value_fn=lambda s: float(vi.V[s]), seed=2)
    res_arr = mcts(m, 0, num_simulations=300, rollout="value", value_fn=vi.V, seed=2)
    np.testing.assert_array_equal(res_fn.visits, res_arr.visits)


def test_puct_with_a_prior_plans_on_top_of_a_policy():
    m = grid_mdp(["....G", ".....", ".....", "....."], gamma=0.9, horizon=20)
    Q = backward_induction(m, return_q=True).Q[0]
    logits = 20.0 * Q
    prior = np.exp(logits - logits.max(axis=1, keepdims=True))
    prior /= prior.sum(axis=1, keepdims=True)
    for s in np.flatnonzero(~m.terminal):
        res = mcts(m, int(s), num_simulations=2000, prior=prior, seed=0)
        assert Q[s, res.action] >= Q[s].max() - 1e-9
    # a callable prior gets every state index at once
    seen = {}

    def policy(states):
        seen["states"] = states
        return prior[states]

    res = mcts(m, 0, num_simulations=500, prior=policy, seed=0)
    np.testing.assert_array_equal(seen["states"], np.arange(m.num_states))
    np.testing.assert_array_equal(res.visits, mcts(m, 0, num_simulations=500, prior=prior, seed=0).visits)
    # PUCT with a uniform prior still finds the best arm
    assert mcts(bandit([0.1, 0.5, 0.3]), 0, num_simulations=500, prior=np.full((2, 3), 1 / 3)).action == 1


def test_deterministic_for_a_seed():
    m = grid_mdp(["....G", ".....", "....."], slip=0.2, gamma=0.95)
    a = mcts(m, 10, num_simulations=3000, seed=7)
    b = mcts(m, 10, num_simulations=3000, seed=7)
    c = mcts(m, 10, num_simulations=3000, seed=8)
    for name in ("state", "parent", "visits", "value_sum", "edge_visits", "first_child"):
        np.testing.assert_array_equal(getattr(a.tree, name), getattr(b.tree, name))
    assert not np.array_equal(a.tree.value_sum, c.tree.value_sum)
    assert a.tree.num_nodes <= 3001  # at most one node per simulation


def test_tree_reuse_keeps_the_subtree_statistics():
    m = grid_mdp(["....G", ".....", "....."], slip=0.2, gamma=0.95)
    first = mcts(m, 10, num_simulations=3000, seed=0)
    tree = first.tree
    children = tree.children(0, first.action)
    next_state, child = max(children.items(), key=lambda kv: tree.visits[kv[1]])
    sub = tree.subtree(first.action, next_state)
    assert sub.root_state == next_state and sub.parent[0] == -1 and sub.depth[0] == 0
    assert sub.visits[0] == tree.visits[child]
    np.testing.assert_array_equal(sub.edge_visits[0], tree.edge_visits[child])
    np.testing.assert_allclose(sub.q(0), tree.q(child), equal_nan=True)
    # the re-rooted tree is consistent: every child's parent and action point back to it
    for n in range(1, sub.num_nodes):
        assert n in sub.children(sub.parent[n], sub.action[n]).values()
        assert sub.depth[n] == sub.depth[sub.parent[n]] + 1
    assert sub.visits[0] == sub.edge_visits[0].sum() + 1  # +1: the simulation that created the node
    again = mcts(m, next_state, num_simulations=1000, seed=1, tree=sub)
    assert again.tree.visits[0] == sub.visits[0] + 1000
    assert again.tree.num_nodes <= sub.num_nodes + 1000
    unsampled = sorted(set(range(m.num_states)) - set(children))[0]
    assert tree.subtree(first.action, unsampled) is None
    with pytest.raises(ValueError, match=f"tree is rooted at state {next_state}, not at state 0"):
        mcts(m, 0, tree=sub)


def test_terminal_states_end_simulations():
    m = bandit([1.0, 0.0])
    res = mcts(m, 0, num_simulations=100)
    assert (res.tree.edge_visits[1:] == 0).all()  # nothing is ever expanded below the terminal state


def test_gamma_defaults_to_the_model_and_can_be_overridden():
    m = two_step()
    for gamma in (None, 0.5):
        g = 0.9 if gamma is None else gamma
        res = mcts(m, 0, num_simulations=20_000, gamma=gamma, rollout=None, seed=0)
        np.testing.assert_allclose(res.q, [g * (0.3 * 1.0 + 0.7 * 0.5), 0.1 + g * 0.6], atol=0.02)


def test_accepts_a_gridworld_env():
    env = rlcredit.make("rlcredit/Cliff-v0")
    env.reset(seed=0)
    state = env.unwrapped.state_index()
    m = env.unwrapped.to_mdp()
    a = mcts(env, state, num_simulations=200, seed=0)
    b = mcts(m, state, num_simulations=200, seed=0)
    np.testing.assert_array_equal(a.visits, b.visits)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"state": 123}, "state 123 out of range for a model with 5 states"),
        ({"state": -1}, "state -1 out of range for a model with 5 states"),
        ({"state": 4}, "state 4 is terminal"),
        ({"state": 1.5}, "state must be an integer state index"),
        ({"num_simulations": 0}, "num_simulations must be positive, got 0"),
        ({"prior": np.ones((5, 3))}, "prior has 3 actions per state but the model has 2"),
        ({"prior": lambda s: np.ones((len(s), 4))}, "prior has 4 actions per state but the model has 2"),
        ({"prior": np.ones((4, 2))}, "prior has 4 states but the model has 5"),
        ({"prior": -np.ones((5, 2))}, "prior must be finite and non-negative"),
        ({"rollout": "value"}, "rollout='value' needs a value_fn"),
        ({"rollout": "greedy"}, "rollout must be 'random', 'value' or None"),
        ({"value_fn": np.zeros(3)}, r"value_fn array has shape \(3,\) but the model has 5 states"),
        ({"max_depth": 0}, "max_depth must be positive, got 0"),
    ],
)
def test_errors(kwargs, message):
    args = {"state": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        mcts(two_step(), **args)


def test_error_for_a_non_model():
    with pytest.raises(ValueError, match="model must be a TabularMDP or an env"):
        mcts(object(), 0)


# ------------------------------------------------------------------------------------------ Bellman search


def _reachable_by_time(m: TabularMDP) -> list[np.ndarray]:
    """``at[t]``: non-terminal states some policy can be in at time t (forward reachability on P's support)."""
    import scipy.sparse as sp

    P2 = sp.csr_matrix(m.P2)
    S, A = m.num_states, m.num_actions
    cur = m.initial > 0
    at = []
    for _ in range(m.horizon):
        at.append(cur & ~m.terminal)
        rows = (np.flatnonzero(cur & ~m.terminal)[:, None] * A + np.arange(A)).ravel()
        cur = np.zeros(S, bool)
        cur[np.unique(P2[rows].indices)] = True
    return at


@pytest.mark.parametrize(
    ("env_id", "kw", "times"),
    [
        ("rlcredit/ButtonRoomBridge2-v0", {"slip": 0.1, "time_limit": 12}, None),  # every t
        ("rlcredit/ButtonRoomBridge1-v0", {"slip": 0.1}, (0, 50, 95, 97)),
        ("rlcredit/CliffSlippery-v0", {}, (0, 50, 97)),
    ],
)
def test_bellman_search_matches_backward_induction_at_every_reachable_state(env_id, kw, times):
    """With slip, at every state reachable at the tested times, the Bellman search converges within its
    budget and picks an action backward induction rates optimal (ties allowed)."""
    m = rlcredit.make(env_id, **kw).unwrapped.to_mdp()
    bi = backward_induction(m, return_q=True)
    at = _reachable_by_time(m)
    checked = 0
    for t in range(m.horizon) if times is None else times:
        for s in np.flatnonzero(at[t]):
            r = mcts(m, int(s), num_simulations=20_000, seed=1, max_depth=m.horizon - t, search="bellman")
            Q = bi.Q[t, s]
            assert r.tree.converged, (t, s)
            assert Q[r.action] >= Q.max() - 1e-9 * max(1.0, abs(Q.max())), (t, s, Q, r.action)
            np.testing.assert_allclose(r.q[r.action], Q.max(), rtol=1e-9, atol=1e-9)
            checked += 1
    assert checked > 40


def test_bellman_search_solves_what_uct_starves():
    """Bridge1 five steps before the time limit from the start: only the +1 goal two moves to the left
    is reachable in time; the button is not. The search returns the exact Q* of every root action."""
    m = rlcredit.make("rlcredit/ButtonRoomBridge1-v0").unwrapped.to_mdp()
    s = int(np.argmax(m.initial))
    t = m.horizon - 5
    bi = backward_induction(m, return_q=True)
    r = mcts(m, s, num_simulations=5_000, seed=0, max_depth=5, search="bellman")
    assert r.tree.converged
    assert bi.Q[t, s, r.action] == pytest.approx(bi.Q[t, s].max())
    assert r.q[r.action] == pytest.approx(bi.V[t, s])


def test_bellman_search_budget_and_options():
    """Out of budget, the result says it has not converged; UCT-only options are refused."""
    m = rlcredit.make("rlcredit/FourRoomsSlippery-v0").unwrapped.to_mdp()
    s = int(np.argmax(m.initial))
    r = mcts(m, s, num_simulations=3, seed=0, search="bellman")
    assert not r.tree.converged and r.tree.trials == 3
    with pytest.raises(ValueError, match="c_uct"):
        mcts(m, s, num_simulations=3, search="bellman", c_uct=2.0)
    with pytest.raises(ValueError, match="search must be one of"):
        mcts(m, s, num_simulations=3, search="gumbel")
