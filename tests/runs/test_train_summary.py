"""A training run's summary.json: episodes, the spread of the returns, and the final exact figures."""

import math

import pandas as pd

from rlcredit.runs.schema import read_summary
from rlcredit.trainers.loop import train

# One step per episode: +1 for stepping right onto the goal, else 0 when the time limit of 1 truncates it.
ONE_STEP = """
name = "OneStep"
time_limit = 1
map = '''
#####
#SG.#
#####
'''
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
"""
CFG = {"num_envs": 8, "num_steps": 16, "num_minibatches": 2, "lr": 0.0, "gamma": 0.9}


def test_training_summary_counts_episodes_and_gives_the_returns_spread(tmp_path):
    path = tmp_path / "one_step.toml"
    path.write_text(ONE_STEP)
    run = train("ppo", env=str(path), steps=8 * 16 * 5, out_dir=tmp_path / "run", config=CFG, wandb="disabled",
                progress=False)  # fmt: skip
    s = read_summary(run.dir)
    assert s.env == "one_step"
    assert s.global_step == 640
    assert s.episodes == 640  # every episode is one step long
    # returns are 0 or 1, so their standard deviation is sqrt(m (1 - m)) of their mean m
    assert 0 < s.return_mean < 1
    assert math.isclose(s.return_std, math.sqrt(s.return_mean * (1 - s.return_mean)), rel_tol=1e-9)
    last = pd.read_csv(run.dir / "metrics.csv").iloc[-1]
    exact = {k: float(last[k]) for k in last.index if k.startswith("exact/") and not pd.isna(last[k])}
    assert "exact/J" in exact
    for k, v in exact.items():
        assert s.get(k) == v, k
