"""CreditCallback on short SB3 runs: the credit files hold exactly what SB3's rollout buffer held."""

import numpy as np
import pandas as pd
import pytest

import rlcredit
from rlcredit.credit import read_credit
from rlcredit.planning import policy_q
from rlcredit.runs.schema import read_config, read_summary
from rlcredit.tracking import read_metrics_csv

sb3 = pytest.importorskip("stable_baselines3")
from stable_baselines3.common.callbacks import BaseCallback, CallbackList  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from rlcredit.integrations.sb3 import CreditCallback  # noqa: E402

W = 12  # DelayedCorridor is 3 x 12


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny networks: threading only adds overhead (and SB3 runs slow on busy machines)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class BufferCopy(BaseCallback):
    """Keeps a copy of every rollout buffer, and the policy on every state that collected it."""

    def __init__(self, all_obs: np.ndarray) -> None:
        super().__init__()
        self.all_obs = all_obs
        self.rollouts: list[dict[str, np.ndarray]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.rollout_buffer
        copy = {
            k: getattr(buf, k).copy()
            for k in (
                "observations",
                "rewards",
                "episode_starts",
                "values",
                "log_probs",
                "advantages",
                "returns",
            )
        }
        copy["pi"] = self.model.policy.get_distribution(self.model.policy.obs_to_tensor(self.all_obs)[0])
        copy["pi"] = copy["pi"].distribution.probs.detach().double().numpy()
        self.rollouts.append(copy)


def env_major(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, 0, 1).reshape(-1)


def test_ppo_credit_files_match_the_rollout_buffer(tmp_path):
    make = lambda: rlcredit.make("rlcredit/DelayedCorridor-v0", obs="coords")  # noqa: E731
    venv = make_vec_env(make, n_envs=2, seed=0)
    model = sb3.PPO("MlpPolicy", venv, n_steps=48, batch_size=32, n_epochs=2, gamma=0.95, seed=0)
    probe = make()
    m = probe.unwrapped.to_mdp(gamma=0.95)
    copies = BufferCopy(probe.unwrapped.observation_of(np.arange(m.num_states)))
    cb = CreditCallback(tmp_path / "run")
    model.learn(3 * 96, callback=CallbackList([cb, copies]))

    assert len(copies.rollouts) == 3
    credit = read_credit(tmp_path / "run")
    for update, buf in enumerate(copies.rollouts, start=1):
        df = credit[credit["update"] == update]
        assert len(df) == 96
        np.testing.assert_array_equal(df["env"], np.repeat([0, 1], 48))
        for column, key in (
            ("return", "returns"),
            ("advantage", "advantages"),
            ("value", "values"),
            ("logp_old", "log_probs"),
        ):
            np.testing.assert_array_equal(df[column].to_numpy(), env_major(buf[key]), err_msg=column)
        obs = buf["observations"]
        np.testing.assert_array_equal(df["state"], env_major(obs[..., 0] * W + obs[..., 1]).astype(int))
        np.testing.assert_array_equal(df["t"] == 0, env_major(buf["episode_starts"]) == 1)
        # the raw env reward; SB3's buffer adds gamma * V(final obs) where a time limit cut the episode
        raw = env_major(buf["rewards"])
        assert df["truncated"].any()
        np.testing.assert_array_equal(df["reward"][~df["truncated"]], raw[~df["truncated"].to_numpy()])
        assert (df["reward"][df["truncated"]] == 0).all() and (raw[df["truncated"].to_numpy()] != 0).all()
        adv = env_major(buf["advantages"]).astype(np.float64)
        np.testing.assert_allclose(
            df["advantage_norm"], (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8), rtol=1e-5
        )
        np.testing.assert_array_equal(df["credit"], df["advantage_norm"])
        # exact credit of the policy that collected the rollout, at the step's episode time
        Q = policy_q(m, buf["pi"], horizon=m.horizon)
        s, t, a = df["state"].to_numpy(), df["t"].to_numpy(), df["action"].to_numpy()
        np.testing.assert_allclose(df["exact_q"], Q[t, s, a], rtol=1e-4, atol=1e-6)
        assert np.isfinite(df["logp_new"]).all() and not np.array_equal(df["logp_new"], df["logp_old"])
        assert df["ratio"].isna().all() and df["grad_norm"].isna().all()

    run = tmp_path / "run"
    columns, rows = read_metrics_csv(run / "metrics.csv")
    assert [r["update"] for r in rows] == [1, 2, 3]
    assert [r["global_step"] for r in rows] == [96, 192, 288]
    for column in (
        "losses/policy_loss",
        "losses/approx_kl",
        "exact/J",
        "exact/J_after",
        "exact/reach_goal",
        "exact/intended",
        "exact/grad_cos",
        "shaping/mean_tv",
        "charts/SPS",
    ):
        assert column in columns, column
    assert rows[0]["exact/J_after"] == pytest.approx(rows[1]["exact/J"], rel=1e-4)  # pi after update 1 = pi_2
    config = read_config(run)
    assert config.env == "rlcredit/DelayedCorridor-v0" and config.algo == "ppo"
    assert config.kind == "train" and config.library == "stable-baselines3" and config.config["n_steps"] == 48
    assert sorted(p.name for p in (run / "shaping").iterdir()) == [
        f"update_00000{u}.parquet" for u in (1, 2, 3)
    ]
    shaping = pd.read_parquet(run / "shaping" / "update_000002.parquet")
    np.testing.assert_allclose(
        shaping[["pi_before_0", "pi_before_1", "pi_before_2", "pi_before_3"]],
        copies.rollouts[1]["pi"],
        rtol=1e-5,
    )
    summary = read_summary(run)
    assert summary is not None and (summary.global_step, summary.updates) == (288, 3)


def test_a2c_without_exact_credit(tmp_path):
    venv = make_vec_env(lambda: rlcredit.make("rlcredit/DelayedCorridor-v0", obs="index"), n_envs=2, seed=1)
    model = sb3.A2C("MlpPolicy", venv, n_steps=5, seed=1)
    model.learn(20, callback=CreditCallback(exact=False, root=tmp_path, name="a2c"))
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("a2c-")
    df = read_credit(run)
    assert len(df) == 20 and sorted(df["update"].unique()) == [1, 2]
    np.testing.assert_array_equal(df["credit"], df["advantage"])  # A2C does not normalize advantages
    assert df["exact_q"].isna().all() and (df["state"] >= 13).all()
    assert not list((run / "shaping").iterdir())
