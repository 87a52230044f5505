"""What the trainers learn, against independently known answers: exact credit from the model, optima from
backward induction, and Stable-Baselines3's PPO with the same hyperparameters."""

import math

import numpy as np
import pandas as pd
import pytest

import rlcredit
from rlcredit.credit import ExactCredit, read_credit
from rlcredit.planning import backward_induction, policy_q
from rlcredit.trainers.loop import train

# A small slippery room: a goal (+1) and a lava cell (-1) ahead, a step cost, a short time limit. Episodes end
# at the goal, in the lava or at the time limit, so returns vary a lot from step to step.
SLIPPERY = """
name = "SmallSlippery"
time_limit = 12
slip = 0.2
step_cost = -0.05
map = '''
######
#S..G#
#.L..#
#....#
######
'''
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
L = { kind = "lava", reward = -1.0, terminal = true }
"""

# A fixed maze: the goal is 6 moves from the start, with two dead ends on the way.
MAZE = """
name = "SmallMaze"
time_limit = 30
map = '''
######
#S.#.#
##.#.#
#....#
#.##G#
######
'''
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
"""


def _map(tmp_path, text, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def _mean_and_se(df: pd.DataFrame, x: np.ndarray) -> tuple[float, float]:
    """Mean of ``x`` over steps and its standard error, clustered by episode (steps of one episode are
    correlated; episodes are independent)."""
    keys = ["update", "env", "episode"]
    per_episode = pd.DataFrame({"x": x, **{k: df[k].to_numpy() for k in keys}}).groupby(keys)["x"]
    sums, counts = per_episode.sum(), per_episode.count()
    n = counts.sum()
    mean = sums.sum() / n
    return mean, math.sqrt(((sums - mean * counts) ** 2).sum()) / n


def test_reinforce_credit_is_an_unbiased_estimate_of_exact_credit(tmp_path):
    """With the policy held fixed (lr = 0), REINFORCE's Monte Carlo return G_t has expectation Q_t(s_t, a_t)
    of the exact model: their mean difference over ~60k steps is within 3 standard errors of 0."""
    env = _map(tmp_path, SLIPPERY, "slippery")
    cfg = {"num_envs": 512, "lr": 0.0, "gamma": 0.9, "baseline": "none", "grad_samples": 0}
    run = train("reinforce", env=env, steps=60_000, seed=0, out_dir=tmp_path / "run", wandb="disabled",
                progress=False, config=cfg)  # fmt: skip
    df = read_credit(run.dir)
    assert len(df) >= 60_000 and (df["advantage"] == df["return"]).all()  # no baseline: the credit is G_t
    G = df["return"].to_numpy(np.float64)
    mean, se = _mean_and_se(df, G - df["exact_q"].to_numpy())
    assert abs(mean) < 3 * se, (mean, se)
    assert se < 0.01  # the test can see a bias of a few hundredths
    # A_t(s, a) = Q_t - V_t has mean 0 over a ~ pi(.|s): so over the steps the policy took.
    mean, se = _mean_and_se(df, df["exact_advantage"].to_numpy(np.float64))
    assert abs(mean) < 3 * se, (mean, se)

    # The check has power: the infinite-horizon Q of the same policy (ignoring the time limit) is off.
    m = ExactCredit(rlcredit.make(env), gamma=0.9).mdp()
    q_inf = policy_q(m, run.policy.action_probs(np.arange(m.num_states)), horizon=math.inf)
    mean, se = _mean_and_se(df, G - q_inf[df["state"], df["action"]])
    assert abs(mean) > 10 * se


SOLVE = {
    # env, algo: (steps, config), pinned (not the defaults); no or a small entropy bonus, so the policies can
    # become (nearly) deterministic and optimal.
    ("rlcredit/DelayedCorridor-v0", "ppo"): (80_000, {"lr": 1e-3, "ent_coef": 0.0}),
    ("rlcredit/DelayedCorridor-v0", "reinforce"): (30_000, {"lr": 1e-2, "num_envs": 32, "ent_coef": 0.0}),
    ("maze", "ppo"): (20_000, {"lr": 1e-3, "num_envs": 32, "num_steps": 32, "gamma": 0.95, "ent_coef": 0.01}),
    ("maze", "reinforce"): (30_000, {"lr": 1e-2, "num_envs": 32, "gamma": 0.95, "ent_coef": 0.01}),
}


@pytest.mark.parametrize("env, algo", list(SOLVE))
def test_trainers_solve_the_corridor_and_a_small_maze(tmp_path, env, algo):
    """The final policy's exact return is within 3% of the optimum (backward induction, trainer's gamma)."""
    steps, cfg = SOLVE[env, algo]
    env = _map(tmp_path, MAZE, "maze") if env == "maze" else env
    gamma = cfg.get("gamma", 0.99)
    m = ExactCredit(rlcredit.make(env), gamma=gamma).mdp()
    optimum = float(m.initial @ backward_induction(m).V[0])
    run = train(algo, env=env, steps=steps, seed=0, out_dir=tmp_path / "run", wandb="disabled", progress=False,
                config={**cfg, "credit": False})  # fmt: skip
    J = run.metrics["exact/J"].iloc[-1]
    assert J >= 0.97 * optimum, (J, optimum, run.metrics["exact/J"].tolist())
    if "Corridor" in env:
        assert optimum == pytest.approx(gamma**8)  # 9 moves right
        greedy = run.policy.action_probs(np.arange(13, 22)).argmax(1)
        assert (greedy == 1).all()


# The same PPO, hyperparameter for hyperparameter: SB3's defaults where rlcredit's differ (constant learning
# rate, no value clipping), no entropy bonus.
SAME = {"n_envs": 8, "n_steps": 128, "batch_size": 256, "n_epochs": 4, "learning_rate": 1e-3, "gamma": 0.99,
        "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 0.5}  # fmt: skip
COMPARE_ENV = "rlcredit/ButtonRoomBridge0-v0"  # goal +1 two cells away, button +10 past a lava bridge
COMPARE_STEPS = 20_000


def _sb3_final_return(seed: int) -> float:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        h = dict(SAME)
        venv = make_vec_env(
            lambda: rlcredit.make(COMPARE_ENV, obs="index"), n_envs=h.pop("n_envs"), seed=seed
        )
        model = PPO("MlpPolicy", venv, device="cpu", seed=seed, verbose=0, **h)  # index obs: one-hot
        model.learn(COMPARE_STEPS)
        return float(np.mean([e["r"] for e in model.ep_info_buffer]))  # the last 100 episodes
    finally:
        torch.set_num_threads(threads)


def _rlcredit_final_return(seed: int, tmp_path) -> float:
    cfg = {"num_envs": SAME["n_envs"], "num_steps": SAME["n_steps"],
           "num_minibatches": SAME["n_envs"] * SAME["n_steps"] // SAME["batch_size"],
           "update_epochs": SAME["n_epochs"], "lr": SAME["learning_rate"], "anneal_lr": False,
           "gamma": SAME["gamma"], "gae_lambda": SAME["gae_lambda"], "clip_coef": SAME["clip_range"],
           "clip_vloss": False, "ent_coef": SAME["ent_coef"], "vf_coef": SAME["vf_coef"],
           "max_grad_norm": SAME["max_grad_norm"], "obs": "index"}  # fmt: skip
    run = train("ppo", env=COMPARE_ENV, steps=COMPARE_STEPS, seed=seed, out_dir=tmp_path / f"s{seed}",
                wandb="disabled", progress=False, config=cfg)  # fmt: skip
    return run.summary["return_mean"]


@pytest.mark.slow
def test_rlcredit_ppo_and_sb3_ppo_reach_the_same_final_return(tmp_path):
    """Three seeds each; the mean final return (last 100 episodes) agrees within the larger seed spread of
    the two (or 0.5, 5% of the button's reward, when every seed ends at the same return)."""
    ours = [_rlcredit_final_return(seed, tmp_path) for seed in range(3)]
    sb3 = [_sb3_final_return(seed) for seed in range(3)]
    spread = max(np.ptp(ours), np.ptp(sb3), 0.5)
    assert abs(np.mean(ours) - np.mean(sb3)) <= spread, (ours, sb3)
    assert np.mean(sb3) > 1.0  # the comparison is about learning the button, not the near goal
