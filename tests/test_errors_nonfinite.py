"""A loss that turns non-finite stops the run with a message that offers `--resume` only when it can work."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import pytest

import rlcredit


class NaNLater(gym.Env):
    """Two observations, two actions, episodes of 4 steps; the reward is NaN after ``good`` steps per env."""

    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, good: int = 200) -> None:
        self.good, self.steps, self.t = good, 0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.steps += 1
        self.t += 1
        reward = 1.0 if self.steps <= self.good else float("nan")
        return int(action), reward, False, self.t >= 4, {}


CONFIG = {"num_envs": 2, "num_steps": 16, "num_minibatches": 2, "exact": False}


@pytest.mark.parametrize(("checkpoint_every", "resumable"), [(1, True), (0, False)])
def test_non_finite_loss_message(tmp_path: Path, checkpoint_every: int, resumable: bool) -> None:
    run = tmp_path / "run"
    with pytest.raises(FloatingPointError) as e:
        rlcredit.train(
            "ppo",
            env=lambda: NaNLater(good=80),  # 5 updates of 32 steps (16 per env) are finite
            steps=2000,
            out_dir=run,
            wandb="disabled",
            progress=False,
            config={**CONFIG, "checkpoint_every": checkpoint_every},
        )
    msg = str(e.value)
    assert msg.startswith("non-finite loss at update ")
    if resumable:
        (ckpt,) = re.findall(r"last good checkpoint: (\S+);", msg)
        assert Path(ckpt).is_file() and Path(ckpt).parent == run / "checkpoints"
        assert f"`rlcredit train --resume {run}` continues from it" in msg
    else:
        assert "no checkpoint was saved yet, so there is nothing to resume" in msg
        assert "--resume" not in msg
