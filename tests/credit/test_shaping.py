"""Shaping rows and the update's exact scalars, against values computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest

import rlcredit
from rlcredit.credit import ExactCredit, ShapingRecorder, policy_change, shaping_frame
from rlcredit.planning import reach_probability


def test_policy_change_by_hand():
    before = np.array([[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0]])
    after = np.array([[0.4, 0.2, 0.2, 0.2], [0.5, 0.25, 0.25, 0.0]])
    tv, kl = policy_change(before, after)
    np.testing.assert_allclose(tv, [0.5 * (0.15 + 3 * 0.05), 0.25])
    np.testing.assert_allclose(
        kl, [0.25 * (math.log(0.25 / 0.4) + 3 * math.log(0.25 / 0.2)), 0.5 * math.log(2.0)]
    )
    _, kl_back = policy_change(after, before)
    assert kl_back[1] == math.inf  # pi_after puts mass where pi_before has none


def test_shaping_file_has_every_state_walls_marked_and_changes_by_hand(tmp_path):
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")  # 3 x 12 grid: row 1 is the corridor, cols 1..10
    exact = ExactCredit(env, gamma=0.99)
    S = 36
    before = np.full((S, 4), 0.25)
    after = before.copy()
    after[13] = [0.1, 0.7, 0.1, 0.1]  # the start cell, visited
    after[20] = [0.25, 0.55, 0.1, 0.1]  # a corridor cell the batch never visited
    batch = {"states": np.array([13, 13, 14, 15, 13, -1])}
    metrics = ShapingRecorder(exact, tmp_path)(12, before, after, batch)

    df = pd.read_parquet(tmp_path / "update_000012.parquet")
    assert len(df) == S and (df.state.to_numpy() == np.arange(S)).all()
    assert (df["update"] == 12).all() and (df.layout_seed == -1).all()
    np.testing.assert_array_equal(df.row, np.arange(S) // 12)
    np.testing.assert_array_equal(df.col, np.arange(S) % 12)
    corridor = np.zeros(S, bool)
    corridor[13:23] = True
    np.testing.assert_array_equal(df.wall, ~corridor)
    np.testing.assert_array_equal(df.terminal, np.arange(S) == 22)  # the goal
    visits = np.zeros(S, int)
    visits[[13, 14, 15]] = [3, 1, 1]
    np.testing.assert_array_equal(df.visits, visits)
    np.testing.assert_allclose(
        df.loc[13, ["pi_after_0", "pi_after_1", "pi_after_2", "pi_after_3"]], after[13]
    )
    tv13, tv20 = 0.5 * (0.15 + 0.45 + 0.15 + 0.15), 0.5 * (0.3 + 0.15 + 0.15)
    kl13 = 0.25 * (3 * math.log(0.25 / 0.1) + math.log(0.25 / 0.7))
    assert df.tv[13] == pytest.approx(tv13, rel=1e-6) and df.tv[20] == pytest.approx(tv20, rel=1e-6)
    assert df.kl[13] == pytest.approx(kl13, rel=1e-5)
    assert (df.tv.drop([13, 20]) == 0).all() and (df.kl.drop([13, 20]) == 0).all()
    # visited acting states: 13, 14, 15; never visited: the other 6 non-goal corridor cells
    assert metrics["shaping/mean_tv"] == pytest.approx(tv13 / 3)
    assert metrics["shaping/unvisited_tv"] == pytest.approx(tv20 / 6)


def test_exact_scalars_of_a_hand_checkable_room():
    env = rlcredit.make("rlcredit/ButtonRoomBridge0-v0")  # the goal is two cells left of the start
    exact = ExactCredit(env, gamma=0.9)
    m = exact.mdp()
    layout = exact.layout()
    uniform = np.full((m.num_states, 4), 0.25)
    left = np.tile([0.0, 0.0, 0.0, 1.0], (m.num_states, 1))
    metrics = ShapingRecorder(exact)(1, uniform, left, {"states": [int(np.argmax(m.initial))]})

    assert set(metrics) == {
        "exact/J",
        "exact/J_after",
        "exact/reach_goal",
        "exact/reach_button",
        "exact/reach_lava",
        "exact/intended",
        "exact/performance",
        "exact/reward_minus_intended",
        "shaping/mean_tv",
        "shaping/unvisited_tv",
    }
    # the map declares no intent of its own: the intended performance is the undiscounted return
    assert metrics["exact/reward_minus_intended"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["exact/J_after"] == pytest.approx(0.9)  # +1 on the second move, discounted once
    for kind in ("goal", "button", "lava"):
        want = m.initial @ reach_probability(m, uniform, layout.cells_of(kind), horizon=layout.time_limit)
        assert metrics[f"exact/reach_{kind}"] == pytest.approx(want, rel=1e-10)
    assert metrics["exact/intended"] == metrics["exact/reach_goal"]  # the goal is the intended cell
    assert metrics["exact/J"] == pytest.approx(exact.values(1, uniform).J)
    assert metrics["shaping/mean_tv"] == pytest.approx(0.75)  # uniform -> one-hot moves 3/4 of the mass


def test_procedural_batches_use_their_layouts_and_pi_before_from_exact_fn(tmp_path):
    venv = rlcredit.make_vec("rlcredit/CheeseMaze-v0", num_envs=2, seed=0, obs="coords")
    exact = ExactCredit(venv, gamma=0.99)
    S = 11 * 11
    uniform = np.full((S, 4), 0.25)
    seeds = np.array([5, 5, 5, 9])
    states = np.array([100, 100, 89, 100])
    exact(3, states, np.zeros(4, int), np.zeros(4, int), uniform, layout_seeds=seeds)
    shaping = ShapingRecorder(exact, tmp_path)
    metrics = shaping(3, None, uniform, {"states": states, "layout_seeds": seeds})
    df = pd.read_parquet(shaping.path(3))
    assert (df.layout_seed == 5).all()  # the most visited layout
    assert df.visits[100] == 2 and df.visits[89] == 1 and df.visits.sum() == 3
    np.testing.assert_array_equal(df.wall, venv.layouts.get(5).wall)
    J = [exact.cached(3, s).J for s in (5, 9)]
    assert metrics["exact/J"] == pytest.approx(np.mean(J))
    assert metrics["shaping/mean_tv"] == 0.0
    with pytest.raises(ValueError, match="exact_fn"):
        shaping(4, None, uniform, {"states": states, "layout_seeds": seeds})


def test_env_without_a_model_gives_no_scalars(tmp_path):
    import gymnasium as gym

    shaping = ShapingRecorder(ExactCredit(gym.make("CartPole-v1"), gamma=0.99), tmp_path)
    assert shaping(1, None, np.ones((1, 2)) / 2, {"states": np.zeros(3, int)}) == {}
    assert not list(tmp_path.iterdir())


def test_frame_without_a_layout():
    df = shaping_frame(
        2,
        np.full((3, 2), 0.5),
        np.full((3, 2), 0.5),
        np.array([1, 0, 2]),
        terminal=np.array([False, False, True]),
    )
    assert list(df.columns) == [
        "update",
        "layout_seed",
        "state",
        "row",
        "col",
        "wall",
        "terminal",
        "visits",
        "pi_before_0",
        "pi_before_1",
        "pi_after_0",
        "pi_after_1",
        "tv",
        "kl",
    ]
    assert (df.row == -1).all() and df.terminal.tolist() == [False, False, True]
