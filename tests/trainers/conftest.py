"""A tiny corridor env (a plain gymnasium Env) that the trainers must solve."""

import gymnasium as gym
import pytest


class Corridor(gym.Env):
    """Cells ``0..n-1``, start in 0. Action 1 moves right, 0 left (a wall at 0); with probability ``slip``
    the other action happens. Entering cell ``n-1`` pays +1 and terminates; after ``time_limit`` steps the
    episode is truncated. With ``nan_after``, every reward after that many steps of this env is NaN."""

    def __init__(self, n: int = 6, time_limit: int = 30, slip: float = 0.0, nan_after: int | None = None):
        self.n, self.time_limit, self.slip, self.nan_after = n, time_limit, slip, nan_after
        self.observation_space = gym.spaces.Discrete(n)
        self.action_space = gym.spaces.Discrete(2)
        self.total_steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = 0, 0
        return self.pos, {}

    def step(self, action):
        if self.slip and self.np_random.random() < self.slip:
            action = 1 - action
        self.pos = max(0, self.pos + (1 if action == 1 else -1))
        self.t += 1
        self.total_steps += 1
        terminated = self.pos == self.n - 1
        reward = 1.0 if terminated else 0.0
        if self.nan_after is not None and self.total_steps > self.nan_after:
            reward = float("nan")
        return self.pos, reward, terminated, not terminated and self.t >= self.time_limit, {}


@pytest.fixture
def corridor():
    return Corridor
