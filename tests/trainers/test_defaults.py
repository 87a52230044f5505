"""The defaults learn, the discount comes from the map, and a critic that sees the time learns finite-horizon
values: each against an independently computed answer (closed forms, backward recursion on the model)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import rlcredit
from rlcredit.credit import read_credit
from rlcredit.trainers.loop import FEW_UPDATES, train

LOGGING_OFF = {"credit": False, "exact": False}  # logging never changes what a trainer samples or learns


class OneHotChain(gym.Env):
    """8 states in a row, one-hot observations, start at the left end, actions left/right; reaching the right
    end pays +1 and ends the episode; time limit 40 (added by the factory)."""

    n = 8

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.n,), np.float32)
        self.action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.s = 0
        return np.eye(self.n, dtype=np.float32)[self.s], {}

    def step(self, action):
        self.s = max(0, min(self.n - 1, self.s + (1 if action == 1 else -1)))
        done = self.s == self.n - 1
        return np.eye(self.n, dtype=np.float32)[self.s], float(done), done, False, {}


def one_hot_chain() -> gym.Env:
    return gym.wrappers.TimeLimit(OneHotChain(), 40)


def _finite_horizon_return(m, pi: np.ndarray, horizon: int) -> float:
    """Expected undiscounted return of ``pi`` over ``horizon`` steps, by backward recursion on the model."""
    P, R = m.dense_P(), np.asarray(m.R)
    V = np.zeros(m.num_states)
    for _ in range(horizon):
        V = np.where(m.terminal, 0.0, (pi * (R + P @ V)).sum(1))
    return float(m.initial @ V)


@pytest.mark.parametrize("algo, steps", [("ppo", 10_000), ("reinforce", 20_000)])
def test_defaults_learn_the_one_hot_chain(tmp_path, algo, steps):
    """At its defaults each trainer learns the chain: its exact probability of reaching the end within the
    time limit (the expected return; 0.48 for the uniform policy) is above 0.95, and it prefers right in every
    state (p(right) > 0.6; REINFORCE's entropy bonus of 0.02 keeps it near 0.7 in the first state, where a left
    move only bumps the wall and the time limit leaves room)."""
    run = train(algo, env=one_hot_chain, steps=steps, seed=0, out_dir=tmp_path / "run", wandb="disabled",
                progress=False, config=LOGGING_OFF)  # fmt: skip
    n = OneHotChain.n
    p_right = run.policy.action_probs(np.eye(n, dtype=np.float32))[:, 1]
    reach = np.zeros(n)  # reach[s]: P(end reached from s within the remaining steps), by backward recursion
    for _ in range(40):
        reach = np.r_[
            [p_right[s] * reach[s + 1] + (1 - p_right[s]) * reach[max(s - 1, 0)] for s in range(n - 1)], 1.0
        ]
    assert reach[0] > 0.95 and (p_right[:-1] > 0.6).all(), (reach[0], p_right)


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_defaults_learn_the_intended_task_of_bridge1(tmp_path, algo):
    """ButtonRoomBridge1 at each trainer's defaults, 20,480 steps: the final policy's exact return over the time
    limit (backward recursion with its action probabilities on every state) is at least the +1 goal's, 0.9 of it
    with the near-deterministic policy the defaults leave."""
    env = "rlcredit/ButtonRoomBridge1-v0"
    run = train(algo, env=env, steps=20 * 1024, seed=0, out_dir=tmp_path / "run", wandb="disabled",
                progress=False, config=LOGGING_OFF)  # fmt: skip
    e = rlcredit.make(env)
    m = e.unwrapped.to_mdp()
    pi = run.policy.action_probs(e.unwrapped.observation_of(np.arange(m.num_states)))
    assert _finite_horizon_return(m, pi, e.unwrapped.layout.time_limit) >= 0.9


MAP = """
name = "Discounted"
gamma = {gamma}
time_limit = 6
step_cost = -1.0
map = '''
#####
#S..#
#####
'''
"""


def _map(tmp_path, gamma: float) -> str:
    path = tmp_path / "discounted.toml"
    path.write_text(MAP.format(gamma=gamma))
    return str(path)


def test_the_maps_gamma_is_the_default_and_an_explicit_gamma_wins(tmp_path):
    """REINFORCE without a baseline credits G_t = -(1 - g^(T-t)) / (1 - g) on a map with no terminal cell and
    step cost 1 (T = 6): the trainer discounts with the map's g unless the config sets gamma."""
    env = _map(tmp_path, 0.5)
    cfg = {"baseline": "none", "num_envs": 2, "grad_samples": 0, "exact": False}
    for gamma, want in ((None, 0.5), (0.8, 0.8)):
        config = cfg if gamma is None else {**cfg, "gamma": gamma}
        out = tmp_path / f"g{gamma}"
        lines: list[str] = []
        run = train("reinforce", env=env, steps=12, seed=0, out_dir=out, wandb="disabled", progress=False,
                    config=config, announce=lines.append)  # fmt: skip
        assert run.config.gamma == want
        assert f"gamma = {want}" in (out / "config.toml").read_text()
        assert f"gamma {want:g} (from {'the map' if gamma is None else 'the config'})" in lines[0]
        df = read_credit(run.dir)
        np.testing.assert_allclose(df["return"], -(1 - want ** (6 - df["t"])) / (1 - want), rtol=1e-6)


def test_few_updates_are_announced_with_a_warning(tmp_path):
    lines: list[str] = []
    train("ppo", env=_map(tmp_path, 0.9), steps=3 * 1024, seed=0, out_dir=tmp_path / "run", wandb="disabled",
          progress=False, config=LOGGING_OFF, announce=lines.append)  # fmt: skip
    assert "batch 512 steps (8 envs x 64)" in lines[0] and "6 updates" in lines[0]
    assert lines[1].startswith("warning:") and f"~{FEW_UPDATES}" in lines[1]


def test_time_feature_makes_the_gae_target_the_finite_horizon_return(tmp_path):
    """No terminal cell, step cost 1, time limit 6, gamma 0.9, GAE lambda 1. With ``time_feature`` nothing is
    bootstrapped at the time limit, so every step's target is exactly the finite-horizon return
    -(1 - 0.9^(6-t)) / 0.1, whatever the critic says; and the critic, which sees the remaining time, learns
    those values, different at every t from a single state. Without it the target adds 0.9^(6-t) V(final)."""
    env = _map(tmp_path, 0.9)
    cfg = {"gae_lambda": 1.0, "num_envs": 4, "num_steps": 24, "num_minibatches": 1, "grad_samples": 0,
           "lr": 3e-3, "anneal_lr": False, "exact": False}  # fmt: skip
    exact = lambda t: -(1 - 0.9 ** (6 - t)) / 0.1  # noqa: E731
    run = train("ppo", env=env, steps=96 * 150, seed=0, out_dir=tmp_path / "tf", wandb="disabled",
                progress=False, config={**cfg, "time_feature": True})  # fmt: skip
    df = read_credit(run.dir)
    np.testing.assert_allclose(df["return"], exact(df["t"]), rtol=1e-5)
    last = df[df["update"] == df["update"].max()]
    by_t = last.groupby("t")["value"].mean()
    np.testing.assert_allclose(by_t.to_numpy(), exact(by_t.index.to_numpy()), atol=0.25)
    assert run.policy.spec()["time_limit"] == 6

    plain = train("ppo", env=env, steps=96 * 3, seed=0, out_dir=tmp_path / "plain", wandb="disabled",
                  progress=False, config=cfg)  # fmt: skip
    df = read_credit(plain.dir)
    assert np.abs(df["return"] - exact(df["t"])).max() > 1e-2  # the bootstrap at the time limit


def test_time_feature_needs_a_time_limit(tmp_path):
    from rlcredit.config import ConfigError

    class Endless(gym.Env):
        observation_space = gym.spaces.Discrete(1)
        action_space = gym.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            return 0, {}

        def step(self, action):
            return 0, 0.0, False, False, {}

    with pytest.raises(ConfigError, match="'time_feature' needs an env with a time limit"):
        train("ppo", env=Endless, steps=64, seed=0, out_dir=tmp_path / "run", wandb="disabled", progress=False,
              config={"time_feature": True})  # fmt: skip
    assert not (tmp_path / "run").exists()
