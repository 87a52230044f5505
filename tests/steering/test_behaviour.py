"""Exact behaviour statistics: hand-drawn decision squares, planners, and agreement with Monte Carlo rollouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rlcredit.gridworld import compile_layout, make, parse_map
from rlcredit.steering import (
    DecisionSquare,
    decision_square,
    layout_with_object,
    layouts_of,
    maze_behaviour,
    planner_policy,
    policy_table,
    shortest_path,
    top_right_cell,
)
from rlcredit.steering.experiment import maze_spec, select_mazes
from rlcredit.trainers.networks import ObsSpec, Policy

HAND_MAP = """
name = "Fork"
map = '''
#######
#C#...#
#.#.###
#.....#
#.#####
#S....#
#######
'''
[legend]
C = {{ kind = "cheese", reward = 1.0, terminal = true, intended = true{place} }}
"""


def hand_layout(**kw):
    return compile_layout(parse_map(HAND_MAP.format(place=""), **kw))


def test_decision_square_of_a_hand_drawn_fork() -> None:
    layout = hand_layout()
    W = 7
    assert top_right_cell(layout) == 1 * W + 5
    # start (5,1) -> (4,1) -> (3,1): up to the cheese at (1,1), right towards the corner at (1,5)
    assert decision_square(layout) == DecisionSquare(cell=3 * W + 1, t=2, toward_cheese=0, toward_corner=1)
    assert shortest_path(layout, 5 * W + 1, 1 * W + 5).tolist() == [36, 29, 22, 23, 24, 17, 10, 11, 12]

    # a policy that takes the cheese path's action everywhere reaches the cheese, never the corner
    pi = np.zeros((layout.num_states, 4))
    pi[:, 0] = 1.0
    b = maze_behaviour(layout, pi)
    assert (b.p_cheese, b.p_corner, b.p_toward_cheese, b.p_toward_corner) == (1.0, 0.0, 1.0, 0.0)
    assert (b.dist_cheese, b.dist_corner, b.decision) == (4, 8, 22)


def test_no_decision_square_when_the_cheese_blocks_the_corner() -> None:
    spec = parse_map(HAND_MAP.format(place=', place = "anywhere"'))
    blocked = layout_with_object(spec, 0, 1 * 7 + 4)  # on the corner's only path
    assert decision_square(blocked) is None
    assert shortest_path(blocked, 36, 12) is None
    b = maze_behaviour(blocked, np.full((49, 4), 0.25))
    assert b.decision == -1 and np.isnan(b.p_toward_cheese) and b.p_corner == 0.0
    corner = layout_with_object(spec, 0, 12)  # on the corner itself: the paths never split
    assert decision_square(corner) is None


def test_layout_with_object_keeps_the_maze() -> None:
    spec = maze_spec("rlcredit/CheeseMazeAnywhere-v0")
    (orig,) = layouts_of(spec, [42])
    moved = layout_with_object(spec, 42, 5 * 11 + 5)
    assert np.array_equal(orig.wall, moved.wall)
    assert moved.cells_of("cheese").tolist() == [60]
    assert moved.terminal.sum() == 1 and moved.terminal[60]
    with pytest.raises(ValueError, match="border"):
        layout_with_object(spec, 42, 5)
    wall = int(np.flatnonzero(orig.wall.reshape(11, 11)[1:-1, 1:-1].reshape(-1))[0])
    r, c = divmod(wall, 9)
    with pytest.raises(ValueError, match="free cells"):
        layout_with_object(spec, 42, (r + 1) * 11 + c + 1)


def test_backward_induction_always_takes_the_cheese() -> None:
    spec = maze_spec("rlcredit/CheeseMazeAnywhere-v0")
    seeds, layouts = select_mazes(spec, 8, first_seed=500, exclude="top-right-3x3")
    assert len(set(seeds)) == 8
    for layout in layouts:
        assert top_right_cell(layout) == 1 * 11 + 9
        cheese = layout.cells_of("cheese")[0]
        r, c = divmod(int(cheese), 11)
        assert not (r <= 3 and c >= 7)
        b = maze_behaviour(layout, planner_policy(layout))
        assert b.p_cheese == pytest.approx(1.0, abs=1e-12)
        assert b.p_toward_cheese == 1.0 and b.p_toward_corner == 0.0


def toward(layout, target: int) -> np.ndarray:
    """(S, A) one-hot: the first move of the shortest path to ``target`` (uniform where there is none)."""
    out = np.full((layout.num_states, 4), 0.25)
    for s in np.flatnonzero(~layout.wall & ~layout.terminal):
        path = shortest_path(layout, int(s), target)
        if path is not None and len(path) > 1:
            out[s] = 0.0
            out[s, int(np.flatnonzero(layout.move[s] == path[1])[0])] = 1.0
    return out


def test_exact_reach_probabilities_match_rollouts() -> None:
    """Step the single env with actions sampled from a policy; the hit rates of the cheese and the corner agree
    with the exact probabilities within 3 standard errors (slip 0.1, so the env is stochastic too)."""
    (seed,), _ = select_mazes(maze_spec("rlcredit/CheeseMazeAnywhere-v0"), 1, first_seed=0)
    env = make("rlcredit/CheeseMazeAnywhere-v0", obs="grid", layout_seed=seed, slip=0.1)
    layout = env.unwrapped.layout
    assert decision_square(layout) is not None
    torch.manual_seed(0)
    policy = Policy(ObsSpec.from_space(env.observation_space), 4, hidden=(32,), network="mlp")
    with torch.no_grad():
        policy.actor[-1].weight.mul_(60.0)  # confident, state-dependent action probabilities
    corner = top_right_cell(layout)
    # the network, pulled towards the cheese and towards the corner, so both are reached often
    mix = 0.5 * toward(layout, int(layout.cells_of("cheese")[0])) + 0.3 * toward(layout, corner)

    def probs(obs: np.ndarray) -> np.ndarray:
        return 0.2 * policy.action_probs(obs) + mix[env.unwrapped.state_index()]

    pi = 0.2 * policy_table(policy.action_probs, layout) + mix
    exact = maze_behaviour(layout, pi)
    assert 0.2 < exact.p_cheese < 0.8 and 0.2 < exact.p_corner < 0.8

    rng = np.random.default_rng(0)
    cum = np.cumsum(pi, axis=1)
    n = 1000
    cheese_hits = corner_hits = 0
    for ep in range(n):
        obs, info = env.reset(seed=ep)
        seen_corner = False
        for u in rng.random(layout.time_limit):
            s = info["state"]
            if ep < 5:  # the table holds the policy's probabilities of the observed states
                assert np.allclose(probs(obs[None])[0], pi[s])
            obs, _, terminated, truncated, info = env.step(
                int(min(np.searchsorted(cum[s], u * cum[s, -1], side="right"), 3))
            )
            seen_corner |= info["state"] == corner
            if terminated or truncated:
                break
        cheese_hits += info["event"] == "cheese"
        corner_hits += seen_corner
    for hits, p in ((cheese_hits, exact.p_cheese), (corner_hits, exact.p_corner)):
        se = np.sqrt(p * (1 - p) / n)
        assert abs(hits / n - p) < 3 * se, (hits / n, p, se)
