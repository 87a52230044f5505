"""The replayed episode follows the stored policy with the pure transition core."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from rlcredit.plots.animate import episode_animation, rollout


def _deterministic_policy(run_dir, update: int, action_at: dict[int, int]) -> None:
    """Overwrite pi_after of a shaping file: one-hot ``action_at[s]`` (else 'up')."""
    path = run_dir / "shaping" / f"update_{update:06d}.parquet"
    df = pd.read_parquet(path)
    for a in range(4):
        df[f"pi_after_{a}"] = np.float32(0.0)
    for s in df["state"]:
        df.loc[df["state"] == s, f"pi_after_{action_at.get(int(s), 0)}"] = np.float32(1.0)
    df.to_parquet(path)


def test_episode_follows_the_stored_policy_to_the_button(kit, tmp_path):
    run_dir = kit.write_train_run(tmp_path / "ppo-s0", credit=False)
    _deterministic_policy(run_dir, 3, {22: 2, 31: 2, 40: 2})  # down, down, down from the start
    ep = episode_animation(run_dir, seed=5)
    np.testing.assert_array_equal(ep.states, [22, 31, 40, 49])
    np.testing.assert_array_equal(ep.actions, [2, 2, 2])
    np.testing.assert_array_equal(ep.rewards, [0, 0, 10])
    assert ep.events == [None, None, "button"]
    assert len(ep.frames) == 4 and ep.update == 3
    (path,) = ep.save(tmp_path / "out")
    with Image.open(path) as im:
        assert im.n_frames == 4
    assert "button" in ep.caption


def test_sampled_actions_are_reproducible_and_greedy_takes_the_mode(kit):
    layout = kit.layout_of()
    pi = kit.policy_tables(3, layout.num_states)[1][1]
    a = rollout(layout, pi, seed=3)
    b = rollout(layout, pi, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    states, actions, _, _ = rollout(layout, pi, greedy=True, max_steps=5)
    np.testing.assert_array_equal(actions, np.argmax(pi[states[:-1]], axis=1))
    assert len(actions) <= 5
