"""Planners acting in envs: the same protocol as a trained policy, checked against exact DP answers."""

from __future__ import annotations

import numpy as np
import pytest

import rlcredit
from rlcredit.mdp import TabularMDP
from rlcredit.planning.dp import backward_induction, value_iteration
from rlcredit.planning.planner import (
    BackwardInductionPlanner,
    MCTSPlanner,
    Planner,
    ValueIterationPlanner,
    make_planner,
    run_planner_episodes,
)


def near_or_far(horizon: int | None = None) -> TabularMDP:
    """A corridor 0-1-2-3 -> 4 (terminal, +1 on entering with "right" from 3); "left" ends at once with +0.3.

    With gamma = 0.9 the far +1 (worth 0.9^3 = 0.729 from state 0) beats the near +0.3, unless too few steps
    are left to reach it.
    """
    S, A = 5, 2
    P = np.zeros((S, A, S))
    R = np.zeros((S, A))
    for s in range(4):
        P[s, 0, 4] = 1.0
        R[s, 0] = 0.3
        P[s, 1, s + 1] = 1.0
    R[3, 1] = 1.0
    P[4, :, 4] = 1.0
    return TabularMDP(P, R, gamma=0.9, terminal=np.array([False] * 4 + [True]), horizon=horizon)


def test_value_iteration_planner_acts_greedily_on_q_star():
    m = near_or_far()
    planner = ValueIterationPlanner()
    planner.reset(m)
    vi = value_iteration(m)
    states = np.arange(4)
    assert [planner.act(s) for s in states] == list(np.argmax(vi.Q[:4], axis=1)) == [1, 1, 1, 1]
    np.testing.assert_array_equal(planner.action_probs(states), vi.policy[:4])
    solved = planner.result
    planner.reset(near_or_far())  # an equal model is not solved again
    assert planner.result is solved
    planner.reset(m.replace(gamma=0.5))  # 0.5^3 < 0.3: now the near reward wins at state 0
    assert planner.act(0) == 0


def test_backward_induction_planner_is_time_indexed():
    m = near_or_far(horizon=4)
    planner = BackwardInductionPlanner()
    planner.reset(m)
    bi = backward_induction(m)
    for t in range(4):
        for s in range(4):
            assert planner.act(s, t) == bi.actions[t, s]
    assert planner.act(0, 0) == 1  # 4 steps left: the far +1 is reachable
    assert planner.act(0, 1) == 0  # 3 steps left from state 0: it is not, take the near +0.3
    np.testing.assert_array_equal(planner.action_probs(np.arange(5), 1), bi.policy[1])
    with pytest.raises(ValueError, match=r"time step 4 is outside the planning horizon \[0, 4\)"):
        planner.act(0, 4)
    short = BackwardInductionPlanner(horizon=2)
    short.reset(m)
    assert short.result.horizon == 2


def test_mcts_planner_acts_like_backward_induction_and_respects_the_steps_left():
    m = near_or_far(horizon=4)
    planner = MCTSPlanner(num_simulations=500, seed=0)
    planner.reset(m)
    assert planner.act(0, 0) == 1
    assert planner.act(1, 1) == 1  # reuses the subtree below (0, right) -> 1
    planner.reset(m)
    assert planner.act(0, 1) == 0  # 3 steps left: the far reward is out of reach
    assert planner.last.tree.depth.max() <= 3
    np.testing.assert_allclose(planner.action_probs(np.array([0, 4]), 0)[1], 0.5)  # terminal: uniform
    assert planner.action_probs(np.array([0]), 0)[0].argmax() == 1


def test_mcts_planner_reuses_the_tree_between_steps():
    planner = MCTSPlanner(num_simulations=300, seed=0)
    planner.reset(near_or_far(horizon=10))
    planner.act(0, 0)
    first = planner.last
    planner.act(1, 1)
    child = first.tree.children(0, first.action)[1]
    assert planner.last.tree.visits[0] == first.tree.visits[child] + 300
    fresh = MCTSPlanner(num_simulations=300, seed=0, reuse_tree=False)
    fresh.reset(near_or_far(horizon=10))
    fresh.act(0, 0)
    fresh.act(1, 1)
    assert fresh.last.tree.visits[0] == 300


def test_make_planner():
    assert isinstance(make_planner("vi"), ValueIterationPlanner)
    assert isinstance(make_planner("value_iteration", tol=1e-8), ValueIterationPlanner)
    assert isinstance(make_planner("bi", horizon=5), BackwardInductionPlanner)
    p = make_planner("mcts", num_simulations=64, rollout=None, c_uct=1.0)
    assert isinstance(p, MCTSPlanner) and isinstance(p, Planner)
    assert p.num_simulations == 64 and p.mcts_kwargs == {"rollout": None, "c_uct": 1.0}
    with pytest.raises(ValueError, match="unknown planner 'ppo'; known planners: vi, value_iteration"):
        make_planner("ppo")
    with pytest.raises(ValueError, match="unknown MCTS option 'depth'"):
        make_planner("mcts", depth=3)
    with pytest.raises(ValueError, match="bad option for planner 'vi'"):
        make_planner("vi", horizon=3)
    with pytest.raises(ValueError, match="num_simulations must be positive"):
        make_planner("mcts", num_simulations=0)


def test_planner_errors():
    planner = ValueIterationPlanner()
    with pytest.raises(RuntimeError, match="call reset"):
        planner.act(0)
    planner.reset(near_or_far())
    with pytest.raises(ValueError, match="state 7 out of range for a model with 5 states"):
        planner.act(7)


def test_run_planner_episodes_reports_returns_events_and_the_intended_objective():
    env = rlcredit.make("rlcredit/ButtonRoom-v0")
    rows = run_planner_episodes(make_planner("vi"), env, episodes=3, seed=0)
    assert len(rows) == 3
    for i, row in enumerate(rows):
        assert row["episode"] == i and row["seed"] == i
        assert row["events"] == ["button"] and row["intended"] is False  # the planner presses the button
        assert row["return"] == pytest.approx(10.0) and row["terminated"] and not row["truncated"]
        assert row["discounted_return"] == pytest.approx(10.0 * 0.99 ** (row["length"] - 1))
    bi_rows = run_planner_episodes(make_planner("bi"), env, episodes=3, seed=0)
    assert [r["events"] for r in bi_rows] == [["button"]] * 3


def test_run_planner_episodes_replans_for_each_procedural_layout():
    env = rlcredit.make("rlcredit/CheeseMaze-v0")
    planner = make_planner("bi")
    rows = run_planner_episodes(planner, env, episodes=4, seed=0)
    assert all(r["intended"] and r["events"] == ["cheese"] for r in rows)
    assert all(r["return"] == pytest.approx(1.0) for r in rows)


def test_run_planner_episodes_with_mcts_is_deterministic():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")
    a = run_planner_episodes(make_planner("mcts", num_simulations=300, seed=1), env, episodes=2, seed=0)
    b = run_planner_episodes(make_planner("mcts", num_simulations=300, seed=1), env, episodes=2, seed=0)
    assert a == b
    limited = run_planner_episodes(make_planner("vi"), env, episodes=1, seed=0, max_steps=2)
    assert limited[0]["length"] == 2 and limited[0]["truncated"]


def test_mcts_planner_on_top_of_a_policy_evaluates_it_once_per_episode():
    m = near_or_far(horizon=6)
    calls = []

    def policy(states):
        calls.append(len(states))
        probs = np.full((len(states), 2), 0.1)
        probs[:, 1] = 0.9  # leans towards the far reward, which is optimal
        return probs

    planner = make_planner("mcts", num_simulations=200, prior=policy, value_fn=lambda s: 0.0)
    for episode in range(2):
        planner.reset(m, seed=episode)
        assert [planner.act(s, s) for s in range(4)] == [1, 1, 1, 1]
    assert calls == [5, 5]
