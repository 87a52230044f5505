"""rlcredit.train end to end: learning, the run directory, determinism, resume, failure modes."""

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from rlcredit.config import ConfigError
from rlcredit.credit.records import CREDIT_SCHEMA, read_credit
from rlcredit.runs.schema import read_config, read_summary
from rlcredit.trainers.load import load_policy
from rlcredit.trainers.loop import train

# gamma 0.9: a wasted step costs 10% of the return, a clear signal for a short run.
FAST_PPO = {
    "num_envs": 16,
    "num_steps": 16,
    "num_minibatches": 2,
    "lr": 1e-2,
    "gamma": 0.9,
    "grad_samples": 16,
}
FAST_REINFORCE = {"num_envs": 16, "lr": 2e-2, "gamma": 0.9, "grad_samples": 16}
TIMING = ["charts/SPS"]


def _train(algo, env, steps, tmp_path, name="run", **kw):
    kw.setdefault("config", FAST_PPO if algo == "ppo" else FAST_REINFORCE)
    return train(algo, env=env, steps=steps, seed=kw.pop("seed", 0), out_dir=tmp_path / name, wandb="disabled",
                 progress=False, **kw)  # fmt: skip


def _p_right(policy, n=6):
    return policy.action_probs(np.arange(n - 1))[:, 1]


def test_ppo_solves_the_corridor(tmp_path, corridor):
    run = _train("ppo", corridor, 4000, tmp_path)
    assert (_p_right(run.policy) > 0.9).all(), _p_right(run.policy)
    last = run.metrics.iloc[-5:]
    assert (last["charts/episodic_return"] == 1.0).all()
    assert last["charts/episodic_length"].mean() < 6.5  # 5 steps is optimal


@pytest.mark.parametrize("baseline", ["value", "batch_mean", "none"])
def test_reinforce_solves_the_corridor(tmp_path, corridor, baseline):
    run = _train("reinforce", corridor, 6000, tmp_path, config={**FAST_REINFORCE, "baseline": baseline})
    assert (_p_right(run.policy) > 0.9).all(), _p_right(run.policy)
    assert run.metrics["charts/episodic_length"].iloc[-5:].mean() < 6.5


def test_run_directory_holds_config_metrics_credit_checkpoints_summary(tmp_path, corridor):
    run = _train("ppo", corridor, 1024, tmp_path, config={**FAST_PPO, "checkpoint_every": 2})
    d = run.dir
    config = read_config(d)
    assert (config.kind, config.algo, config.steps, config.seed) == ("train", "ppo", 1024, 0)
    assert config.env_kind == "factory" and config.config["num_envs"] == 16
    metrics = pd.read_csv(d / "metrics.csv")
    for col in [
        "update", "global_step", "charts/episodic_return", "charts/episodic_length", "charts/learning_rate",
        "charts/SPS", "losses/policy_loss", "losses/value_loss", "losses/entropy", "losses/approx_kl",
        "losses/clipfrac", "losses/explained_variance",
    ]:  # fmt: skip
        assert col in metrics.columns, col
    assert list(metrics["update"]) == [1, 2, 3, 4]
    assert list(metrics["global_step"]) == [256, 512, 768, 1024]
    # Linear annealing from lr to 0 over the run.
    np.testing.assert_allclose(metrics["charts/learning_rate"], 1e-2 * (1 - np.arange(4) / 4))
    assert sorted(p.name for p in (d / "checkpoints").glob("*.json")) == [
        "ckpt_000002.json",
        "ckpt_000004.json",
    ]
    summary = read_summary(d)
    assert summary is not None and summary.status == "completed"
    assert (summary.global_step, summary.updates) == (1024, 4)

    df = read_credit(d)
    assert list(df.columns) == [c.name for c in CREDIT_SCHEMA]
    assert len(df) == 4 * 256 and sorted(df["update"].unique()) == [1, 2, 3, 4]
    np.testing.assert_allclose(df["advantage"], df["return"] - df["value"], atol=1e-5)
    clipped = df["clipped"].to_numpy()
    np.testing.assert_allclose(
        df["credit"][~clipped], (df["advantage_norm"] * df["ratio"])[~clipped], rtol=1e-5
    )
    assert (df["credit"][clipped] == 0).all()
    # Clipped means the clipped objective passed no gradient: ratio outside the band on the advantage's side.
    adv, ratio = df["advantage_norm"][clipped], df["ratio"][clipped]
    assert (((adv > 0) & (ratio > 1.2)) | ((adv < 0) & (ratio < 0.8))).all()
    assert np.isfinite(df["logp_new"]).all() and (df["state"] == df["state"].clip(0, 5)).all()
    assert (df.groupby("update")["grad_norm"].count() == 16).all()
    assert df["exact_q"].isna().all()  # no exact model for a plain gymnasium env
    # The saved policy is the returned one.
    np.testing.assert_array_equal(
        load_policy(d).action_probs(np.arange(6)), run.policy.action_probs(np.arange(6))
    )


def _comparable(run_dir):
    return pd.read_csv(run_dir / "metrics.csv").drop(columns=TIMING)


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_same_seed_gives_identical_metrics_and_credit(tmp_path, corridor, algo):
    env = functools.partial(corridor, slip=0.2)
    a = _train(algo, env, 2048, tmp_path, "a", seed=3)
    b = _train(algo, env, 2048, tmp_path, "b", seed=3)
    c = _train(algo, env, 2048, tmp_path, "c", seed=4)
    pd.testing.assert_frame_equal(_comparable(a.dir), _comparable(b.dir))
    pd.testing.assert_frame_equal(read_credit(a.dir), read_credit(b.dir))
    assert not _comparable(a.dir).equals(_comparable(c.dir))


class _Kill(Exception):
    pass


def _kill_during(monkeypatch, algo, update):
    """Make the trainer die in the middle of update ``update`` (after collecting, before learning)."""
    from rlcredit.trainers.loop import TRAINERS

    cls = TRAINERS[algo]
    learn = cls.learn

    def dying(self, k, lr):
        if k == update:
            raise _Kill
        return learn(self, k, lr)

    monkeypatch.setattr(cls, "learn", dying)


@pytest.mark.parametrize("algo", ["ppo", "reinforce"])
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path, corridor, algo, monkeypatch):
    env = functools.partial(corridor, slip=0.2)
    cfg = {**(FAST_PPO if algo == "ppo" else FAST_REINFORCE), "checkpoint_every": 3}
    whole = _train(algo, env, 3000, tmp_path, "whole", config=cfg)
    # Killed during update 8: updates 1..7 are logged, the last checkpoint is update 6.
    with monkeypatch.context() as m, pytest.raises(_Kill):
        _kill_during(m, algo, 8)
        _train(algo, env, 3000, tmp_path, "killed", config=cfg)
    killed = tmp_path / "killed"
    assert len(pd.read_csv(killed / "metrics.csv")) == 7
    assert json.loads((killed / "summary.json").read_text())["status"] == "interrupted"
    resumed = train(resume=killed, env=env, wandb="disabled", progress=False)
    pd.testing.assert_frame_equal(_comparable(whole.dir), _comparable(killed))
    pd.testing.assert_frame_equal(read_credit(whole.dir), read_credit(killed))
    assert resumed.summary["global_step"] == whole.summary["global_step"]


def test_resume_needs_the_factory_again(tmp_path, corridor):
    run = _train("ppo", corridor, 256, tmp_path)
    with pytest.raises(ValueError, match="pass env= again"):
        train(resume=run.dir, wandb="disabled", progress=False)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, corridor):
    # Each of the 16 envs steps 16 times per update: rewards turn NaN during update 4.
    env = functools.partial(corridor, nan_after=50)
    with pytest.raises(FloatingPointError, match=r"non-finite loss at update 4 .*ckpt_000003\.json"):
        _train("ppo", env, 10_000, tmp_path, config={**FAST_PPO, "checkpoint_every": 1})
    d = tmp_path / "run"
    assert len(pd.read_csv(d / "metrics.csv")) == 3
    summary = json.loads((d / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["updates"] == 3
    assert "non-finite loss at update 4" in summary["error"]
    assert np.isfinite(load_policy(d).action_probs(np.arange(6))).all()


def test_unknown_config_key_is_an_error_before_anything_is_written(tmp_path, corridor):
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'"):
        _train("ppo", corridor, 256, tmp_path, config={"learning_rate": 1e-3})
    assert not (tmp_path / "run").exists()


def test_on_update_metrics_join_the_row(tmp_path, corridor):
    seen = []

    def hook(update, before, after, batch):
        seen.append((update, before, len(batch["credit"])))
        return {"custom/credit_sum": float(np.sum(batch["credit"]))}

    run = _train("ppo", corridor, 512, tmp_path, on_update=hook)
    assert [s[0] for s in seen] == [1, 2] and all(s[1] is None and s[2] == 256 for s in seen)
    assert "custom/credit_sum" in run.metrics.columns


# ------------------------------------------------------------------------------------- rlcredit gridworlds
# DelayedCorridor: a 3x12 grid; the corridor is row 1, cells 13 (start) .. 22 (goal, +1, terminal); action 1
# moves right, up and down bump into walls. The optimal return from the start is gamma^8 (9 moves).
CORRIDOR = np.arange(13, 22)


def test_gridworld_run_records_exact_credit_and_shaping(tmp_path):
    run = _train("ppo", "rlcredit/DelayedCorridor-v0", 512, tmp_path, config={**FAST_PPO, "gamma": 0.99})
    df = read_credit(run.dir)
    assert df["state"].isin(CORRIDOR).all()  # every step starts in a corridor cell
    assert (
        df["t"].max() < 40 and np.isfinite(df["exact_q"]).all() and np.isfinite(df["exact_advantage"]).all()
    )
    # Q of a step that enters the goal is its reward, 1; no other step can be worth more.
    enters_goal = df["terminated"].to_numpy()
    np.testing.assert_allclose(df["exact_q"][enters_goal], 1.0, rtol=1e-6)
    assert (df["exact_q"] <= 1.0 + 1e-6).all()
    for col in ("exact/J", "exact/reach_goal", "shaping/mean_tv", "exact/grad_cos"):
        assert col in run.metrics.columns
    assert len(list((run.dir / "shaping").glob("update_*.parquet"))) == 2
    # The cosine of the sampled and the exact policy gradient, every update.
    cos = run.metrics["exact/grad_cos"]
    assert np.isfinite(cos).all() and (cos.abs() <= 1.0).all()
    # logp_new of the last update is log pi(a|s) of the final policy.
    last = df[df["update"] == 2]
    probs = run.policy.action_probs(last["state"].to_numpy().copy())
    np.testing.assert_allclose(
        last["logp_new"], np.log(probs[np.arange(len(last)), last["action"]]), rtol=1e-5, atol=1e-6
    )


def test_actor_copies_are_reused_only_two_updates_later():
    import torch

    from rlcredit.credit.measure import ActorCopies as _ActorCopies
    from rlcredit.trainers.networks import ObsSpec, Policy

    actor = Policy(ObsSpec("discrete", (), 3), 2, hidden=(4,)).actor
    copies = _ActorCopies(actor)
    first = copies.take(1, "before")
    with torch.no_grad():
        actor[0].weight += 1.0
    second = copies.take(2, "before")  # update 1's copy may still be in use: another module
    assert second is not first and not torch.equal(second[0].weight, first[0].weight)
    with torch.no_grad():
        actor[0].weight += 1.0
    third = copies.take(3, "before")
    assert third is first and torch.equal(third[0].weight, actor[0].weight)
    assert copies.take(3, "after") is not third


# Two rows, the goal two moves right of the start and lava below the middle cell, slippery: a tiny MDP whose
# exact policy gradient is not trivial.
TINY = """
name = "Tiny"
time_limit = 7
slip = 0.2
map = '''
#####
#S.G#
#.L.#
#####
'''
[legend]
G = { kind = "goal", reward = 1.0, terminal = true }
L = { kind = "lava", reward = -1.0, terminal = true }
"""


@pytest.fixture
def tiny_map(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return str(path)


def test_grad_cos_of_a_huge_reinforce_batch_is_near_one(tmp_path, tiny_map, monkeypatch):
    """REINFORCE with gamma = 1 and no baseline is an unbiased estimate of the exact gradient: with 4096
    episodes per update its direction is the exact one; with the credit negated it is the opposite."""
    from rlcredit.trainers.reinforce import Reinforce

    cfg = {"num_envs": 4096, "lr": 0.0, "gamma": 1.0, "baseline": "none", "grad_samples": 0}
    cos = _train("reinforce", tiny_map, 20_000, tmp_path, "right", config=cfg).metrics["exact/grad_cos"]
    assert len(cos) == 2 and (cos > 0.9).all(), cos

    learn = Reinforce.learn

    def negated(self, update, lr):
        result = learn(self, update, lr)
        result.first_credit = -result.first_credit
        return result

    monkeypatch.setattr(Reinforce, "learn", negated)
    cos = _train("reinforce", tiny_map, 20_000, tmp_path, "negated", config=cfg).metrics["exact/grad_cos"]
    assert (cos < -0.9).all(), cos


# ------------------------------------------------------------------------------------------ env kwargs


def test_env_kwargs_reach_the_env_and_config_and_resume_uses_them(tmp_path, monkeypatch):
    cfg = {**FAST_PPO, "gamma": 0.99, "checkpoint_every": 2}
    kwargs = {"time_limit": 12, "slip": 0.1}
    whole = _train(
        "ppo", "rlcredit/DelayedCorridor-v0", 1280, tmp_path, "whole", config=cfg, env_kwargs=kwargs
    )
    assert read_config(whole.dir).env_kwargs == kwargs
    df = read_credit(whole.dir)
    assert df["t"].max() == 11  # episodes are cut at 12 steps (the goal is 9 moves away: some are cut)
    assert df["truncated"].any() and (df.loc[df["truncated"], "t"] == 11).all()
    # Exact values know the time limit: from t = 4 on, 8 steps are left, too few to reach the goal.
    assert (df.loc[(df["t"] >= 4) & (df["state"] == 13), "exact_q"] == 0).all()

    with monkeypatch.context() as m, pytest.raises(_Kill):
        _kill_during(m, "ppo", 4)
        _train("ppo", "rlcredit/DelayedCorridor-v0", 1280, tmp_path, "killed", config=cfg, env_kwargs=kwargs)
    with pytest.raises(ValueError, match="env_kwargs"):
        train(resume=tmp_path / "killed", wandb="disabled", progress=False, env_kwargs={"time_limit": 13})
    train(resume=tmp_path / "killed", wandb="disabled", progress=False)  # the stored kwargs
    pd.testing.assert_frame_equal(_comparable(whole.dir), _comparable(tmp_path / "killed"))
    pd.testing.assert_frame_equal(read_credit(whole.dir), read_credit(tmp_path / "killed"))


def test_env_kwargs_go_to_gym_make_and_to_factories(tmp_path, corridor):
    run = _train("ppo", "CartPole-v1", 256, tmp_path, "gym", env_kwargs={"max_episode_steps": 5})
    assert run.metrics["charts/episodic_length"].max() <= 5
    run = _train("ppo", corridor, 256, tmp_path, "factory", env_kwargs={"n": 3, "time_limit": 4})
    assert run.metrics["charts/episodic_length"].max() <= 4
    assert read_credit(run.dir)["state"].max() <= 1  # cells 0, 1 and the goal 2


def test_bad_env_kwargs_fail_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="time_limt"):
        _train("ppo", "rlcredit/DelayedCorridor-v0", 256, tmp_path, env_kwargs={"time_limt": 5})
    with pytest.raises(ValueError, match="obs"):
        _train("ppo", "rlcredit/DelayedCorridor-v0", 256, tmp_path, env_kwargs={"obs": "grid"})
    assert not (tmp_path / "run").exists()


def test_cli_env_args(tmp_path):
    from rlcredit.cli import main

    out = tmp_path / "cli"
    argv = ["train", "ppo", "--env", "rlcredit/DelayedCorridor-v0", "--steps", "256", "--out", str(out),
            "--wandb", "disabled", "--no-progress", "--set", "num_envs=16", "--set", "num_steps=16",
            "--env-kwargs", "{slip = 0.1, time_limit = 30}", "--env-arg", "time_limit=20"]  # fmt: skip
    assert main(argv) == 0
    assert read_config(out).env_kwargs == {"slip": 0.1, "time_limit": 20}


def test_exact_can_be_turned_off(tmp_path):
    run = _train("ppo", "rlcredit/DelayedCorridor-v0", 256, tmp_path, config={**FAST_PPO, "exact": False})
    assert read_credit(run.dir)["exact_q"].isna().all()
    assert not any(c.startswith("exact/") for c in run.metrics.columns)


@pytest.mark.parametrize("env", ["rlcredit/DelayedCorridor-v0", "rlcredit/CliffSlippery-v0"])
def test_gridworld_resume_continues_exactly(tmp_path, env, monkeypatch):
    cfg = {**FAST_PPO, "gamma": 0.99, "checkpoint_every": 3}
    whole = _train("ppo", env, 2560, tmp_path, "whole", config=cfg)
    with monkeypatch.context() as m, pytest.raises(_Kill):
        _kill_during(m, "ppo", 8)
        _train("ppo", env, 2560, tmp_path, "killed", config=cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the env's state is restored, not reset
        train(resume=tmp_path / "killed", wandb="disabled", progress=False)
    pd.testing.assert_frame_equal(_comparable(whole.dir), _comparable(tmp_path / "killed"))
    pd.testing.assert_frame_equal(read_credit(whole.dir), read_credit(tmp_path / "killed"))


@pytest.mark.slow
def test_wandb_offline_mirror_and_progress_bar(tmp_path, corridor, capsys):
    run = train("ppo", env=corridor, steps=512, out_dir=tmp_path / "run", config=FAST_PPO, progress=True)
    (offline,) = (run.dir / "wandb").glob("offline-run-*")
    assert "ppo" in capsys.readouterr().err  # the bar's description
    # a bounded sample of the credit rows is mirrored as a wandb.Table with the credit schema's columns
    (table_file,) = (offline / "files" / "media" / "table").glob("credit_*.table.json")
    table = __import__("json").loads(table_file.read_text())
    assert "credit" in table["columns"] and "exact_advantage" in table["columns"]
    assert 0 < len(table["data"]) <= 2000


def test_resume_from_a_corrupt_checkpoint_is_a_clear_error_and_loses_nothing(tmp_path, corridor):
    from rlcredit.tracking.resume import ResumeError

    run = train(
        "ppo",
        env=corridor,
        steps=1024,
        out_dir=tmp_path / "run",
        config=FAST_PPO,
        wandb="disabled",
        progress=False,
    )
    metrics_before = (run.dir / "metrics.csv").read_bytes()
    (ckpt,) = sorted((run.dir / "checkpoints").glob("*.safetensors"))[-1:]
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(ResumeError, match=r"^cannot resume: corrupt checkpoint .*truncated"):
        train(resume=run.dir, env=corridor, progress=False, wandb="disabled")
    assert (run.dir / "metrics.csv").read_bytes() == metrics_before
