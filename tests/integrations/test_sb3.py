"""CreditCallback on short SB3 runs: the credit files hold exactly what SB3's rollout buffer held."""

import math

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

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
        # PPO's per-minibatch normalization: unit std within each minibatch, so over the batch the std of
        # advantage_norm is close to 1 and advantage_norm * adv_scale is the advantage minus a minibatch mean
        assert np.isfinite(df["adv_scale"]).all() and (df["adv_scale"] > 0).all()
        np.testing.assert_allclose(
            df["credit"], np.where(df["clipped"], 0, df["advantage_norm"] * df["ratio"]), rtol=1e-5, atol=1e-7
        )
        # exact credit of the policy that collected the rollout, at the step's episode time
        Q = policy_q(m, buf["pi"], horizon=m.horizon)
        s, t, a = df["state"].to_numpy(), df["t"].to_numpy(), df["action"].to_numpy()
        np.testing.assert_allclose(df["exact_q"], Q[t, s, a], rtol=1e-4, atol=1e-6)
        assert np.isfinite(df["logp_new"]).all() and not np.array_equal(df["logp_new"], df["logp_old"])
        assert np.isfinite(df["ratio"]).all() and df["grad_norm"].isna().all()
        # the stationary (bootstrap-at-truncation) target: infinite-horizon A^pi of the same policy
        Q_boot = policy_q(m, buf["pi"], horizon=math.inf)
        A_boot = Q_boot - (buf["pi"] * Q_boot).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(df["exact_advantage_boot"], A_boot[s, a], rtol=1e-4, atol=1e-5)

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
    # one gradient step on the whole batch, weight A_t (A2C's loss has no ratio)
    assert (df["adv_scale"] == 1).all() and (df["ratio"] == 1).all() and not df["clipped"].any()
    np.testing.assert_array_equal(df["applied_weight"], df["advantage"])
    assert df["exact_q"].isna().all() and (df["state"] >= 13).all()
    assert not list((run / "shaping").iterdir())


def _logp(policy, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        _, logp, _ = policy.evaluate_actions(torch.as_tensor(obs), torch.as_tensor(actions))
    return logp.numpy()


class TrainInputs(BaseCallback):
    """At the end of each rollout: SB3's buffer (env-major, the order ``train`` indexes), log pi of its steps
    under the policy that collected them, and numpy's global random state, from which SB3's ``train`` draws
    its minibatch permutations."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[dict] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.rollout_buffer
        obs = np.swapaxes(buf.observations, 0, 1).reshape(-1, *buf.obs_shape)
        actions = env_major(buf.actions[..., 0]).astype(np.int64)
        self.rollouts.append(
            {
                "adv": env_major(buf.advantages).astype(np.float32),
                "logp_old": env_major(buf.log_probs).astype(np.float32),
                "logp_k": _logp(self.model.policy, obs, actions),
                "rng": np.random.get_state(),  # noqa: NPY002 - the state SB3 draws its permutations from
            }
        )


def test_ppo_loss_weights_replay_sb3s_minibatches(tmp_path):
    """adv_scale, advantage_norm and applied_weight against SB3's minibatches replayed from numpy's random
    state and the buffer: the scale is the final epoch's minibatch std, and in the first minibatch of the
    first epoch (parameters still those of the rollout) the weight is (A - minibatch mean) * pi/pi_old."""
    make = lambda: rlcredit.make("rlcredit/DelayedCorridor-v0", obs="coords")  # noqa: E731
    n_envs, n_steps, batch, epochs = 2, 48, 32, 2
    model = sb3.PPO(
        "MlpPolicy",
        make_vec_env(make, n_envs=n_envs, seed=0),
        n_steps=n_steps,
        batch_size=batch,
        n_epochs=epochs,
        seed=0,
    )
    inputs = TrainInputs()
    model.learn(2 * n_steps * n_envs, callback=CallbackList([CreditCallback(tmp_path / "run"), inputs]))
    credit = read_credit(tmp_path / "run")
    n = n_steps * n_envs
    for update, r in enumerate(inputs.rollouts, start=1):
        df = credit[credit["update"] == update]
        rng = np.random.RandomState()
        rng.set_state(r["rng"])
        perms = [rng.permutation(n) for _ in range(epochs)]
        adv = torch.as_tensor(r["adv"])
        scale = np.empty(n)
        norm = np.empty(n)
        for start in range(0, n, batch):
            mb = perms[-1][start : start + batch]
            scale[mb] = float(adv[mb].std()) + 1e-8
            norm[mb] = ((adv[mb] - adv[mb].mean()) / (adv[mb].std() + 1e-8)).numpy()
        np.testing.assert_allclose(df["adv_scale"], scale, rtol=1e-6)
        np.testing.assert_allclose(df["advantage_norm"], norm, rtol=1e-5, atol=1e-6)
        # first minibatch of the first epoch: the gradient is taken at the rollout's parameters
        first = perms[0][:batch]
        ratio = torch.as_tensor(np.exp(r["logp_k"][first] - r["logp_old"][first]))
        epoch0 = ((adv[first] - adv[first].mean()) * ratio).numpy()
        last = (df["credit"] * df["adv_scale"]).to_numpy()[
            first
        ]  # the final epoch's weight (no clipping at this size)
        assert not df["clipped"].to_numpy()[first].any()
        np.testing.assert_allclose(
            df["applied_weight"].to_numpy()[first], epoch0 + last, rtol=1e-4, atol=1e-6
        )


def test_ppo_one_gradient_step_weight_is_the_centred_advantage(tmp_path):
    """One epoch on one minibatch of the whole batch: the gradient is taken at the rollout's parameters, so
    applied_weight = (A - mean A) * pi/pi_old and adv_scale = std(A) + 1e-8, all from SB3's buffer."""
    make = lambda: rlcredit.make("rlcredit/DelayedCorridor-v0", obs="coords")  # noqa: E731
    model = sb3.PPO(
        "MlpPolicy", make_vec_env(make, n_envs=2, seed=3), n_steps=32, batch_size=64, n_epochs=1, seed=3
    )
    inputs = TrainInputs()
    model.learn(64, callback=CallbackList([CreditCallback(tmp_path / "run"), inputs]))
    (r,) = inputs.rollouts
    df = read_credit(tmp_path / "run")
    adv = r["adv"].astype(np.float64)
    ratio = np.exp(r["logp_k"] - r["logp_old"])
    np.testing.assert_allclose(df["adv_scale"], adv.std(ddof=1) + 1e-8, rtol=1e-5)
    np.testing.assert_allclose(df["ratio"], ratio, rtol=1e-5)
    np.testing.assert_allclose(df["applied_weight"], (adv - adv.mean()) * ratio, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(df["credit"] * df["adv_scale"], df["applied_weight"], rtol=1e-5, atol=1e-6)


class EpisodeLog(gym.Wrapper):
    """Records (last global step, return, summed info['performance']) of every episode the env finishes."""

    def __init__(self, env) -> None:
        super().__init__(env)
        self.steps, self.ret, self.perf, self.done = 0, 0.0, 0.0, []

    def reset(self, **kwargs):
        self.ret, self.perf = 0.0, 0.0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, term, trunc, info = self.env.step(action)
        self.steps += 1
        self.ret += float(reward)
        self.perf += float(info["performance"])
        if term or trunc:
            self.done.append((self.steps, self.ret, self.perf))
        return obs, reward, term, trunc, info


def test_callback_logs_the_intended_performance_of_each_rollouts_episodes(tmp_path):
    log = EpisodeLog(rlcredit.make("rlcredit/RewardTampering-v0", obs="index"))
    venv = make_vec_env(lambda: log, n_envs=1, seed=2)
    n_steps = 50
    model = sb3.A2C("MlpPolicy", venv, n_steps=n_steps, seed=2)
    model.learn(10 * n_steps, callback=CreditCallback(root=tmp_path, name="a2c"))
    (run,) = tmp_path.iterdir()
    m = pd.read_csv(run / "metrics.csv")
    assert len(m) == 10
    for _, row in m.iterrows():
        k = int(row["update"])
        mine = [(r, q) for s, r, q in log.done if (k - 1) * n_steps < s <= k * n_steps]
        if not mine:
            assert math.isnan(row["charts/episodic_performance"])
            continue
        assert row["charts/episodic_performance"] == pytest.approx(np.mean([q for _, q in mine]), abs=1e-12)
        assert row["charts/reward_minus_intended"] == pytest.approx(
            np.mean([r for r, _ in mine]) - np.mean([q for _, q in mine]),
            abs=1e-6,  # SB3 keeps float32 rewards
        )
    assert m["charts/episodic_performance"].notna().sum() >= 5
