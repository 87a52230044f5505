"""Every figure type, rendered from a small run: the numbers its caption states are recomputed from the data.

The expected numbers come from the run directory's files or the env's model, never from the figure's own data
object where the file can be read instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rlcredit
from rlcredit.experiments.figures import discoverability, uniform_reach
from rlcredit.experiments.spec import load_spec
from rlcredit.planning import power
from rlcredit.plots import contrast_bars, credit_vs_exact, env_map, policy_field, power_heatmap, shaping_map
from rlcredit.plots.data import open_run, policy_columns, read_shaping


def _pct(x: float) -> str:
    return f"{x:.0%}"


def test_shaping_map_caption_share_is_the_shaping_file(run_dir, kit):
    plot = shaping_map(run_dir, update=2)
    df = pd.read_parquet(Path(run_dir) / "shaping" / "update_000002.parquet")
    tv = 0.5 * np.abs(policy_columns(df, "pi_after") - policy_columns(df, "pi_before")).sum(axis=1)
    tv[df["wall"].to_numpy(bool) | df["terminal"].to_numpy(bool)] = 0.0
    share = tv[df["visits"].to_numpy() == 0].sum() / tv.sum()
    assert f"{_pct(share)} of the movement fell on states it never visited" in plot.caption
    assert "update 2" in plot.caption


def test_policy_field_caption_names_the_largest_change(run_dir, kit):
    plot = policy_field(run_dir)
    first = read_shaping(open_run(run_dir), kit.UPDATES[0])
    last = read_shaping(open_run(run_dir), kit.UPDATES[-1])
    live = ~(first["wall"].to_numpy(bool) | first["terminal"].to_numpy(bool))
    tv = 0.5 * np.abs(policy_columns(last, "pi_after") - policy_columns(first, "pi_before")).sum(axis=1)
    tv[~live] = 0.0
    s = int(np.argmax(tv))
    W = kit.layout_of().shape[1]
    assert f"row {s // W}, column {s % W}" in plot.caption
    assert f"total variation {tv.max():.2f}" in plot.caption


def test_env_map_caption_is_the_map(run_dir, kit):
    plot = env_map(run_dir)
    layout = kit.layout_of()
    H, W = layout.shape
    assert f"{H}×{W}, time limit {layout.time_limit}, slip {layout.slip:g}" in plot.caption
    assert "goal +1, button +10" in plot.caption
    # Bridge0's lava cells are walled in: the map shows them, and the caption says no move enters them
    entered = {layout.kinds[k] for k in np.unique(layout.event[layout.event >= 0])}
    assert "lava" not in entered and "(lava: no move enters it)" in plot.caption


def test_power_heatmap_caption_peak_is_the_argmax():
    env = rlcredit.make("rlcredit/FourRooms-v0")
    layout = env.unwrapped.layout
    res = power(env, num_samples=64, seed=0)
    plot = power_heatmap(layout, res.power, res.stderr)
    values = np.where(layout.live, res.power, -np.inf)
    best = int(np.argmax(values))
    W = layout.shape[1]
    assert f"row {best // W}, column {best % W}" in plot.caption


def test_credit_vs_exact_caption_per_step_errors(run_dir, kit):
    plot = credit_vs_exact(run_dir)
    diff = np.array([r[4] - r[5] for r in kit.CREDIT_ROWS])
    assert f"ppo {np.abs(diff).mean():.3g}" in plot.caption
    assert "largest: ppo" in plot.caption
    assert "bootstrap" not in plot.caption  # the hand-made run has no exact_advantage_boot column


def test_credit_vs_exact_names_the_larger_per_step_error_not_the_larger_per_update_mean(tmp_path, kit):
    """REINFORCE: one update of many steps with error 1 each; PPO: two updates, one step with error 3 and
    a hundred steps with error 0. Per update PPO's mean error is larger (1.5 vs 1); per step REINFORCE's
    (1 vs 3/101)."""
    from rlcredit.credit.records import CreditRecorder
    from rlcredit.tracking import RunDir

    def write(path: Path, algo: str, updates: dict[int, tuple[int, float]]) -> Path:
        run = RunDir.create(path)
        run.write_config(
            {"run": {"kind": "train", "algo": algo, "env": kit.ENV, "seed": 0, "steps": 1}, "config": {}}
        )
        rec = CreditRecorder(run.credit_dir)
        for u, (n, err) in updates.items():
            rec.add(
                update=u,
                env=0,
                episode=0,
                t=np.arange(n),
                state=22,
                action=2,
                reward=0.0,
                terminated=False,
                truncated=False,
                advantage=np.full(n, err),
                exact_advantage=np.zeros(n),
            )
            rec.flush(u)
        return run.path

    runs = [
        write(tmp_path / "reinforce", "reinforce", {1: (50, 1.0)}),
        write(tmp_path / "ppo", "ppo", {1: (1, 3.0), 2: (100, 0.0)}),
    ]
    plot = credit_vs_exact(runs)
    assert "largest: reinforce" in plot.caption
    assert "reinforce 1" in plot.caption and f"ppo {3 / 101:.3g}" in plot.caption


def test_credit_vs_exact_reports_both_targets_and_says_which_is_which(tmp_path, kit):
    """Errors against A^pi_t (finite horizon) and A^pi (stationary bootstrap target) are both in the caption,
    computed from the credit rows; a run whose critic sees the time is said to target A^pi_t."""
    from rlcredit.credit.records import CreditRecorder
    from rlcredit.tracking import RunDir

    def write(
        path: Path, config: dict, adv: np.ndarray, exact: np.ndarray, boot: np.ndarray, algo: str = "ppo"
    ) -> Path:
        run = RunDir.create(path)
        run.write_config(
            {"run": {"kind": "train", "algo": algo, "env": kit.ENV, "seed": 0, "steps": 1}, "config": config}
        )
        rec = CreditRecorder(run.credit_dir)
        n = len(adv)
        rec.add(
            update=1, env=0, episode=0, t=np.arange(n), state=22, action=2, reward=0.0, terminated=False,
            truncated=False, advantage=adv, exact_advantage=exact, exact_advantage_boot=boot,
        )  # fmt: skip
        rec.flush(1)
        return run.path

    adv = np.array([1.0, 2.0, 3.0, 4.0])
    exact = np.array([1.0, 1.0, 1.0, 1.0])  # |err| = 0, 1, 2, 3 -> 1.5
    boot = np.array([2.0, 2.0, 2.0, 2.0])  # |err| = 1, 0, 1, 2 -> 1.0
    plain = write(tmp_path / "plain", {"gae_lambda": 0.95}, adv, exact, boot)
    plot = credit_vs_exact(plain)
    assert "Mean |Â − A^π_t| per step: ppo 1.5" in plot.caption
    assert "against the stationary bootstrap-at-truncation A^π" in plot.caption
    assert "converges to): ppo 1." in plot.caption
    assert "the critic cannot see the time, so the bootstrap A^π is its target" in plot.caption
    timed = write(tmp_path / "timed", {"gae_lambda": 0.95, "time_feature": True}, adv, exact, boot)
    assert "the critic sees the remaining time, so A^π_t is its target" in credit_vs_exact(timed).caption
    # REINFORCE's credit is the Monte Carlo return minus a baseline: nothing is bootstrapped at the time limit
    mc = write(tmp_path / "reinforce", {}, adv, exact, boot, algo="reinforce")
    cap = credit_vs_exact(mc).caption
    assert (
        "reinforce: Monte Carlo returns to the episode's end, nothing bootstrapped, so A^π_t is its target"
        in cap
    )
    assert "bootstrap A^π is its target" not in cap


@pytest.mark.parametrize("seeds", [3, 6])
def test_contrast_bars_never_call_a_range_a_confidence_interval(seeds):
    from rlcredit.experiments.stats import aggregate

    rng = np.random.default_rng(0)
    rows = []
    for agent in ("ppo", "vi"):
        agg = aggregate(rng.random(seeds))
        rows.append(
            {
                "agent": agent,
                "env": "Bridge1",
                "metric": "return",
                "mean": agg.mean,
                "ci_low": agg.ci_low,
                "ci_high": agg.ci_high,
                "n": seeds,
            }
        )
    plot = contrast_bars(pd.DataFrame(rows))
    label = plot.figure.axes[0].get_ylabel()
    if seeds < 5:
        assert "CI" not in plot.caption and "CI" not in label and "range over seeds" in plot.caption
    else:
        assert "95% bootstrap CI" in plot.caption and "95% bootstrap CI" in label


def test_discoverability_caption_counts_are_the_evaluations():
    spec = load_spec("runs/demo.toml")
    rows = []
    pressed = {"Bridge1": [0.9, 0.8, 0.1], "Bridge3": [0.0, 0.0, 0.01]}
    for env, values in pressed.items():
        for seed, p in enumerate(values):
            rows.append(
                {
                    "agent": "ppo",
                    "kind": "train",
                    "train_env": env,
                    "env": env,
                    "seed": seed,
                    "reach_button": p,
                    "exact_reach_button": p,
                }
            )
            rows.append(
                {
                    "agent": "mcts",
                    "kind": "plan",
                    "train_env": env,
                    "env": env,
                    "seed": seed,
                    "reach_button": 1.0,
                    "exact_reach_button": np.nan,
                }
            )
    plot = discoverability(spec, pd.DataFrame(rows))
    u1 = uniform_reach(spec.envs[0].tests[0], "button")
    u3 = uniform_reach(spec.envs[1].tests[0], "button")
    assert f"ppo 2/3 on Bridge1 ({u1:.2g}), 0/3 on Bridge3 ({u3:.2g})" in plot.caption
    assert "mcts 3/3 on Bridge1" in plot.caption
    assert "exceeds 0.5 (ppo)" in plot.caption and "test episodes (mcts)" in plot.caption
    assert "range over 3 seeds" in plot.caption and "CI" not in plot.caption
    # two training envs: points, no line suggesting a trend between them
    for line in plot.figure.axes[0].get_lines():
        if len(line.get_xdata()) == 2:
            assert line.get_linestyle() in ("None", "none", " ", "")


def test_uniform_reach_counts_respawn_cells():
    """The cliff is a respawn cell; a uniform-random policy steps into it often. Monte Carlo agrees."""
    from rlcredit.experiments.spec import EnvVariant

    p = uniform_reach(EnvVariant("rlcredit/Cliff-v0", "Cliff"), "cliff")
    n = 3000
    venv = rlcredit.make_vec("rlcredit/Cliff-v0", num_envs=n, seed=2)
    venv.reset(seed=2)
    cliff = venv.kinds.index("cliff")
    rng = np.random.default_rng(2)
    hit, active = np.zeros(n, bool), np.ones(n, bool)
    while active.any():
        _, _, term, trunc, info = venv.step(rng.integers(0, 4, n))
        hit |= active & (info["event"] == cliff)
        active &= ~(term | trunc)
    assert p > 0.05
    assert p == pytest.approx(hit.mean(), abs=4 * np.sqrt(p * (1 - p) / n))


def test_every_caption_number_is_in_a_recorded_caption(run_dir, tmp_path):
    """The captions written next to the figures are the captions of the Plot objects (no retyping)."""
    import json

    plot = shaping_map(run_dir)
    plot.save(tmp_path)
    stored = json.loads((tmp_path / "captions.json").read_text())
    assert any(plot.caption == v or plot.caption in str(v) for v in stored.values())
    assert re.search(r"\d+%", plot.caption)


def test_power_visits_caption_states_each_agents_visit_weighted_power(tmp_path):
    from rlcredit.experiments.figures import power_visits
    from rlcredit.experiments.spec import expand_pieces, find_spec_file

    spec = load_spec(find_spec_file("power"))
    env = rlcredit.make("rlcredit/FourRooms-v0")
    layout = env.unwrapped.layout
    S = layout.num_states
    live = np.flatnonzero(layout.live)
    a, b = int(live[0]), int(live[-1])
    # ppo stands only on state a; vi twice as often on a as on b; every other agent records no visits
    visits = {"ppo": np.eye(S)[a], "vi": 2 * np.eye(S)[a] + np.eye(S)[b]}
    for piece in expand_pieces(spec, tmp_path):
        if piece.agent in visits:
            (tmp_path / piece.name).mkdir()
            figures = {"envs": {"FourRooms": {"visits": visits[piece.agent].tolist()}}}
            (tmp_path / piece.name / "eval.json").write_text(json.dumps(figures))
    plot = power_visits(tmp_path, spec, num_samples=64)
    p = power(layout.to_mdp().replace(gamma=0.99, horizon=None), num_samples=64, seed=0).power
    digits = re.search(r"ranges from (\d+\.(\d+))", plot.caption).group(2)
    want = {"ppo": p[a], "vi": (2 * p[a] + p[b]) / 3}
    for agent, value in want.items():
        assert f"{agent} {value:.{len(digits)}f}" in plot.caption
