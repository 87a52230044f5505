"""Intended performance, exact and sampled: ExactCredit.intended against closed forms on a hand corridor and
against Monte Carlo on an object world; the trainers' per-update performance columns against the exact value
of the (fixed) policy that collected them."""

import numpy as np
import pytest

import rlcredit
from rlcredit.credit import ExactCredit
from rlcredit.gridworld import core, make_vec
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.maps import parse_map

# S . . G in a row: every step costs 0.1 of reward and 1 of intended performance; the goal pays +1 of reward and
# +5 of intended performance.
CORRIDOR = """name = "IntentCorridor"
time_limit = {limit}
step_cost = -0.1
performance_step = -1.0
map = \"\"\"
######
#S..G#
######
\"\"\"
[legend]
G = {{ kind = "goal", reward = 1.0, performance = 5.0, terminal = true, intended = true }}
"""


def _always(exact: ExactCredit, action: int) -> np.ndarray:
    table = np.zeros((exact.mdp().num_states, 4))
    table[:, action] = 1.0
    return table


@pytest.mark.parametrize(
    ("limit", "performance", "reward"),
    [
        (30, 3 * -1.0 + 5.0, 3 * -0.1 + 1.0),  # three moves right reach the goal
        (2, 2 * -1.0, 2 * -0.1),  # the time limit cuts the episode after two moves
    ],
)
def test_exact_intended_performance_closed_form(limit, performance, reward):
    env = GridWorldEnv(parse_map(CORRIDOR.format(limit=limit)))
    exact = ExactCredit(env, gamma=0.9)
    right = core.ACTIONS.index("right")
    values = exact.values(1, _always(exact, right))
    perf, gap = exact.intended(values)
    assert perf == pytest.approx(performance, abs=1e-12)
    assert gap == pytest.approx(reward - performance, abs=1e-12)


def test_exact_intended_performance_matches_monte_carlo_on_an_object_world():
    # RewardTampering: the delusion switch makes the reward count unwatered tomatoes, the performance does not.
    env_id = "rlcredit/RewardTampering-v0"
    exact = ExactCredit(rlcredit.make(env_id), gamma=0.99)
    uniform = np.full((exact.mdp().num_states, 4), 0.25)
    perf, gap = exact.intended(exact.values(1, uniform))

    n = 4000
    venv = make_vec(env_id, num_envs=n, seed=3)
    venv.reset(seed=3)
    rng = np.random.default_rng(0)
    perf_sum, ret_sum = np.zeros(n), np.zeros(n)
    running = np.ones(n, bool)
    while running.any():
        _, reward, term, trunc, info = venv.step(rng.integers(4, size=n))
        perf_sum += np.where(running, info["performance"], 0.0)
        ret_sum += np.where(running, reward, 0.0)
        running &= ~(term | trunc)
    gap_mc = ret_sum - perf_sum
    assert abs(perf_sum.mean() - perf) < 4 * perf_sum.std() / np.sqrt(n)
    assert abs(gap_mc.mean() - gap) < 4 * gap_mc.std() / np.sqrt(n)
    assert gap > 0.1  # the map does make reward and intent differ under a random policy


def test_the_trainers_track_the_switch_of_an_object_world():
    exact = ExactCredit(rlcredit.make("rlcredit/RewardTampering-v0"), gamma=0.99)
    assert "switch" in exact.reach_kinds and "tomato" in exact.reach_kinds
    plain = ExactCredit(rlcredit.make("rlcredit/ButtonRoom-v0"), gamma=0.99)
    assert "button" in plain.reach_kinds


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_trainers_log_sampled_and_exact_intended_performance_per_update(tmp_path, algo):
    # lr = 0 holds the initial policy fixed, so every update samples episodes of one policy whose exact
    # intended performance is known: the episode-weighted mean of the sampled column must match it.
    run = rlcredit.train(
        algo,
        env="rlcredit/RewardTampering-v0",
        steps=12_000,
        seed=0,
        config={"lr": 0.0, "credit": False},
        out_dir=tmp_path / algo,
        wandb="disabled",
        progress=False,
    )
    m = run.metrics
    exact_perf = m["exact/performance"].to_numpy()
    assert np.ptp(exact_perf) < 1e-9  # one policy throughout
    w = m["charts/episodes"].to_numpy()
    ok = w > 0
    sampled = np.average(m["charts/episodic_performance"].to_numpy()[ok], weights=w[ok])
    spread = np.sqrt(
        np.average((m["charts/episodic_performance"].to_numpy()[ok] - sampled) ** 2, weights=w[ok])
    )
    assert abs(sampled - exact_perf[0]) < 4 * spread / np.sqrt(ok.sum()) + 1e-9
    assert m["exact/reward_minus_intended"].iloc[0] > 0.1  # this map's reward exceeds its intent
    assert "exact/reach_switch" in m.columns


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_performance_of_the_final_step_counts_through_a_gymnasium_vector_env(tmp_path, algo):
    # A factory env runs in gymnasium's SyncVectorEnv, whose same-step autoreset hands back the reset's info for a
    # finished sub-env; the final step's performance must still be counted. Here the goal is one step right of the
    # start: an episode of L steps that reaches it earns -1 per step and +5 on the goal, 5 - L in all, so per update
    # episodic_performance + episodic_length = 5 x (the fraction of episodes that reached the goal, about 1 for a
    # near-uniform policy with 30 steps to find one move); without the final step it would be 0.
    spec = parse_map(CORRIDOR.format(limit=30).replace("#S..G#", "#SG###"))
    run = rlcredit.train(
        algo,
        env=lambda: GridWorldEnv(spec),
        steps=2_000,
        seed=0,
        config={"lr": 0.0},
        out_dir=tmp_path / algo,
        wandb="disabled",
        progress=False,
    )
    m = run.metrics[run.metrics["charts/episodes"] > 0]
    assert len(m) >= 3
    total = m["charts/episodic_performance"] + m["charts/episodic_length"]
    assert (total > 4.0).all() and (total <= 5.0 + 1e-9).all(), total.tolist()
