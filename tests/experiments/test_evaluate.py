"""Test-time evaluation against hand-computed values on ButtonRoomBridge0.

Bridge0 (7x9): the start is cell (2, 4); three moves down, (3, 4) -> (4, 4) -> (5, 4), enter the +10 button.
Moving up from the start reaches (1, 4) and then bumps into the wall for the rest of the 100-step episode.
"""

import numpy as np
import pytest

from rlcredit.experiments.evaluate import evaluate_planner, evaluate_policy, optimal_return, region_mask
from rlcredit.experiments.figures import uniform_reach
from rlcredit.experiments.spec import EnvVariant, EvalSpec
from rlcredit.planning.planner import make_planner

BRIDGE0 = EnvVariant("rlcredit/ButtonRoomBridge0-v0", "Bridge0")
UP, DOWN = 0, 2


def constant(action: int):
    def probs(obs: np.ndarray) -> np.ndarray:
        out = np.zeros((len(obs), 4))
        out[:, action] = 1.0
        return out

    return probs


def uniform(obs: np.ndarray) -> np.ndarray:
    return np.full((len(obs), 4), 0.25)


def test_always_down_presses_the_button():
    f = evaluate_policy(constant(DOWN), BRIDGE0, obs="index", spec=EvalSpec(episodes=8), seed=0)
    assert f["return"] == 10.0 and f["length"] == 3.0
    assert f["reach_button"] == 1.0 and f["reach_goal"] == 0.0 and f["success"] == 0.0
    assert f["optimal"] == 10.0 and f["regret"] == 0.0
    assert f["exact_J"] == pytest.approx(10.0) and f["exact_reach_button"] == pytest.approx(1.0)
    visits = np.asarray(f["visits"])
    assert visits[[22, 31, 40, 49]] == pytest.approx([1, 1, 1, 1]) and visits.sum() == pytest.approx(4)


def test_always_up_stays_in_the_top_region_for_the_whole_episode():
    spec = EvalSpec(episodes=4, regions={"top": "rows:0-0,cols:3-3", "corner": "bottom-right-1x1"})
    f = evaluate_policy(constant(UP), BRIDGE0, obs="coords", spec=spec, seed=0)
    assert f["return"] == 0.0 and f["length"] == 100.0
    assert f["region_top"] == 1.0 and f["region_corner"] == 0.0
    assert f["exact_J"] == pytest.approx(0.0) and f["exact_intended"] == pytest.approx(0.0)


def test_uniform_policy_matches_the_exact_reach_probability():
    f = evaluate_policy(uniform, BRIDGE0, obs="index", spec=EvalSpec(episodes=2000), seed=1)
    exact = uniform_reach(BRIDGE0, "button")
    assert f["exact_reach_button"] == pytest.approx(exact)
    assert 0.2 < exact < 0.24  # the map file's stated discoverability of Bridge0
    se = np.sqrt(exact * (1 - exact) / 2000)
    assert abs(f["reach_button"] - exact) < 4 * se


def test_value_iteration_planner_presses_the_button():
    f = evaluate_planner(lambda: make_planner("vi"), BRIDGE0, spec=EvalSpec(episodes=3), seed=0)
    assert f["return"] == 10.0 and f["reach_button"] == 1.0 and f["regret"] == 0.0
    assert f["exact_reach_button"] == pytest.approx(1.0)
    assert optimal_return(_layout()) == 10.0


def test_region_mask_matches_placement_convention():
    mask = region_mask(_layout(), "top-right-3x3")
    rows, cols = np.divmod(np.flatnonzero(mask), 9)
    assert set(rows) == {1, 2, 3} and set(cols) == {5, 6, 7}


def _layout():
    import rlcredit

    return rlcredit.make(BRIDGE0.id).unwrapped.layout


def test_exact_reach_of_a_respawn_cell_matches_monte_carlo():
    """CliffSlippery: the cliff is a respawn cell the agent never occupies; backward induction's slippery path
    still falls in about 5% of episodes. The exact figure must match 6,000 sampled episodes of the same policy."""
    import rlcredit
    from rlcredit.planning import backward_induction

    spec = EvalSpec(episodes=1)
    f = evaluate_planner(
        lambda: make_planner("bi"), EnvVariant("rlcredit/CliffSlippery-v0", "C"), spec=spec, seed=0
    )
    layout = rlcredit.make("rlcredit/CliffSlippery-v0").unwrapped.layout
    actions = backward_induction(layout.to_mdp(gamma=1.0)).actions
    n = 6000
    venv = rlcredit.make_vec("rlcredit/CliffSlippery-v0", num_envs=n, seed=3)
    venv.reset(seed=3)
    cliff = layout.kinds.index("cliff")
    fell, active, t = np.zeros(n, bool), np.ones(n, bool), 0
    while active.any():
        _, _, term, trunc, info = venv.step(actions[t, venv.state_index()])
        fell |= active & (info["event"] == cliff)
        active &= ~(term | trunc)
        t += 1
    stderr = np.sqrt(fell.mean() * (1 - fell.mean()) / n)
    assert fell.mean() > 0.03  # the event is common enough for the comparison to mean something
    assert f["exact_reach_cliff"] == pytest.approx(fell.mean(), abs=4 * stderr)
    assert f["exact_reach_goal"] == pytest.approx(1.0)


def test_regions_on_a_map_with_objects_are_read_by_cell_not_by_state():
    # SideEffects: states are cell x box position, so state indices run past the number of cells
    env = EnvVariant("rlcredit/SideEffects-v0", "SideEffects")
    regions = {"all": "anywhere", "corner": "bottom-right-1x1"}
    n = 3000
    f = evaluate_policy(uniform, env, obs="index", spec=EvalSpec(episodes=n, regions=regions), seed=2)
    assert f["region_all"] == 1.0 and f["exact_region_all"] == pytest.approx(1.0)
    p = f["exact_region_corner"]
    assert 0.05 < p < 0.95
    assert abs(f["region_corner"] - p) < 4 * np.sqrt(p * (1 - p) / n)
    planner = evaluate_planner(
        lambda: make_planner("vi"), env, spec=EvalSpec(episodes=2, regions=regions), seed=0
    )
    assert planner["region_all"] == 1.0
