"""PUCT on top of a learned policy: the prior comes from a trained run directory's checkpoint."""

import numpy as np

import rlcredit
from rlcredit.cli import main
from rlcredit.planning import mcts, policy_prior
from rlcredit.train import load_policy


def test_policy_prior_is_the_trained_policy_on_every_state(tmp_path, capsys):
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
    env = rlcredit.make("rlcredit/DelayedCorridor-v0")
    prior = policy_prior(run.dir, env)
    states = np.arange(env.unwrapped.layout.num_states)
    expected = load_policy(run.dir).action_probs(env.unwrapped.observation_of(states))
    np.testing.assert_allclose(prior(states), expected, rtol=1e-6)
    m = env.unwrapped.to_mdp()
    start = int(np.argmax(m.initial))
    res = mcts(m, start, num_simulations=400, seed=0, prior=prior)
    assert res.visits.sum() == 400 and 0 <= res.action < 4
    assert (
        main(
            [
                "plan",
                "--planner",
                "mcts",
                "--prior",
                str(run.dir),
                "--env",
                "rlcredit/DelayedCorridor-v0",
                "--simulations",
                "200",
                "--episodes",
                "1",
                "--out",
                str(tmp_path / "plan"),
                "--wandb",
                "disabled",
            ]
        )
        == 0
    )
    assert 'prior = "' in (tmp_path / "plan" / "config.toml").read_text()
