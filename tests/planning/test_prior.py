"""PUCT on top of a learned policy: ``policy_prior`` feeds a policy the observations of the searched states."""

from types import SimpleNamespace

import numpy as np

import rlcredit
from rlcredit.cli import main
from rlcredit.planning import mcts, policy_prior


class _IndexPolicy:
    """A policy of index observations that prefers action ``s % 4`` in state ``s`` with probability 0.7."""

    obs_spec = SimpleNamespace(kind="discrete", shape=())

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def action_probs(self, obs: np.ndarray) -> np.ndarray:
        self.seen.append(np.asarray(obs))
        p = np.full((len(obs), 4), 0.1)
        p[np.arange(len(obs)), np.asarray(obs) % 4] = 0.7
        return p


def test_policy_prior_evaluates_the_policy_on_the_searched_states():
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")
    policy = _IndexPolicy()
    prior = policy_prior(policy, env)
    states = np.array([5, 0, 3, 3, 7])
    expected = np.full((5, 4), 0.1)
    expected[np.arange(5), [1, 0, 3, 3, 3]] = 0.7
    np.testing.assert_array_equal(prior(states), expected)
    np.testing.assert_array_equal(policy.seen[-1], states)  # index observations are the states themselves


def test_mcts_with_few_simulations_follows_a_confident_prior():
    """With one simulation per action and a prior concentrated on one action, PUCT's visits go where the prior
    points (the values of untried actions are equal), so the chosen action is the prior's."""
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")
    m = env.unwrapped.to_mdp()
    start = int(np.argmax(m.initial))

    def prior(states: np.ndarray) -> np.ndarray:
        p = np.full((len(states), 4), 0.01)
        p[:, 2] = 0.97
        return p

    res = mcts(m, start, num_simulations=8, seed=0, prior=prior)
    assert int(np.argmax(res.visits)) == 2


def test_plan_with_a_trained_prior_records_it(tmp_path):
    run = rlcredit.train(
        "ppo",
        env="rlcredit/DelayedCorridor-v0",
        steps=2048,
        seed=0,
        out_dir=tmp_path / "run",
        wandb="disabled",
        progress=False,
        config={"num_envs": 8, "num_steps": 128},
    )
    argv = ["plan", "--planner", "mcts", "--prior", str(run.dir), "--env", "rlcredit/DelayedCorridor-v0"]
    argv += [
        "--simulations",
        "200",
        "--episodes",
        "1",
        "--out",
        str(tmp_path / "plan"),
        "--wandb",
        "disabled",
    ]
    assert main(argv) == 0
    assert 'prior = "' in (tmp_path / "plan" / "config.toml").read_text()
