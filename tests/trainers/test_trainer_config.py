"""Trainer configs: strict loading, overrides, derived sizes, documented fields."""

import dataclasses

import pytest

from rlcredit.config import ConfigError
from rlcredit.trainers import PPOConfig, ReinforceConfig, trainer_config


def test_defaults_and_derived_sizes():
    cfg = trainer_config("ppo")
    assert isinstance(cfg, PPOConfig)
    assert (cfg.num_envs, cfg.num_steps, cfg.num_minibatches, cfg.update_epochs) == (8, 64, 4, 4)
    assert cfg.batch_size == 8 * 64 and cfg.minibatch_size == 8 * 64 // 4
    reinforce = trainer_config("reinforce")
    assert (reinforce.num_envs, reinforce.lr, reinforce.ent_coef) == (4, 2e-2, 0.02)
    assert trainer_config("ppo").ent_coef == 0.01
    assert isinstance(trainer_config("reinforce"), ReinforceConfig)


def test_overrides_from_strings_apply_on_top_of_data():
    cfg = trainer_config(
        "ppo", {"lr": 1e-3, "num_envs": 8}, overrides=["lr=3e-4", "hidden=[32, 16]", "norm_adv=false"]
    )
    assert cfg.lr == 3e-4 and cfg.num_envs == 8 and cfg.hidden == (32, 16) and cfg.norm_adv is False


def test_unknown_key_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"unknown key 'lr2'.*known: .*lr"):
        trainer_config("ppo", {"lr2": 1e-3})
    with pytest.raises(ConfigError, match="unknown key 'gae_lambda'"):
        trainer_config("reinforce", {"gae_lambda": 0.9})


def test_invalid_values_are_errors():
    with pytest.raises(ConfigError, match="not divisible"):
        trainer_config("ppo", {"num_envs": 3, "num_steps": 5, "num_minibatches": 4})
    with pytest.raises(ConfigError, match="baseline"):
        trainer_config("reinforce", {"baseline": "critic"})
    with pytest.raises(ConfigError, match="expects float"):
        trainer_config("ppo", overrides=["lr=fast"])
    with pytest.raises(ValueError, match="unknown trainer"):
        trainer_config("dqn")


@pytest.mark.parametrize("cls", [PPOConfig, ReinforceConfig])
def test_every_field_is_documented(cls):
    for f in dataclasses.fields(cls):
        assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"


@pytest.mark.parametrize(
    "algo, item, key",
    [
        ("ppo", "lr=-1e-3", "lr"),
        ("reinforce", "lr=nan", "lr"),
        ("ppo", "adam_eps=0", "adam_eps"),
        ("ppo", "gae_lambda=1.01", "gae_lambda"),
        ("ppo", "gae_lambda=-0.1", "gae_lambda"),
        ("ppo", "clip_coef=-0.2", "clip_coef"),
        ("ppo", "max_grad_norm=-1", "max_grad_norm"),
        ("ppo", "max_grad_norm=inf", "max_grad_norm"),
        ("ppo", "target_kl=0", "target_kl"),
        ("ppo", "hidden=[64, 0]", "hidden"),
        ("ppo", "hidden=[]", "hidden"),
        ("ppo", "ent_coef=inf", "ent_coef"),
        ("reinforce", "vf_coef=nan", "vf_coef"),
        ("ppo", "gamma=1.5", "gamma"),
        ("ppo", "obs='pixels'", "obs"),
        ("ppo", "torch_threads=100000", "torch_threads"),
        ("ppo", "num_envs=0", "num_envs"),
        ("reinforce", "max_episode_steps=0", "max_episode_steps"),
    ],
)
def test_every_bad_value_is_one_line_naming_the_key(algo, item, key):
    with pytest.raises(ConfigError) as err:
        trainer_config(algo, overrides=[item], source="runs/x.toml [trainers.a.config]")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("runs/x.toml [trainers.a.config]") and f"'{key}'" in msg


def test_boundary_values_are_accepted():
    cfg = trainer_config(
        "ppo",
        {
            "gae_lambda": 0.0,
            "clip_coef": 0.0,
            "max_grad_norm": 0.0,
            "gamma": 1.0,
            "target_kl": 0.01,
            "lr": 0.0,
        },
    )  # lr = 0 holds the policy fixed (used to measure the credit of one policy)
    assert (cfg.gae_lambda, cfg.clip_coef, cfg.max_grad_norm, cfg.gamma) == (0.0, 0.0, 0.0, 1.0)


def test_sb3_preset_matches_stable_baselines3_ppo_defaults():
    """The preset against SB3's own PPO object built with its defaults (one env, as make_vec_env makes)."""
    inspect = pytest.importorskip("inspect")
    sb3 = pytest.importorskip("stable_baselines3")
    import gymnasium as gym

    model = sb3.PPO("MlpPolicy", gym.make("CartPole-v1"), device="cpu")
    cfg = trainer_config("ppo", {"preset": "sb3"})
    assert cfg.num_envs == model.n_envs == 1
    assert cfg.num_steps == model.n_steps
    assert cfg.minibatch_size == model.batch_size
    assert cfg.update_epochs == model.n_epochs
    assert cfg.lr == model.learning_rate and cfg.anneal_lr is False  # a constant schedule
    assert cfg.ent_coef == model.ent_coef
    assert cfg.clip_coef == model.clip_range(1.0) and cfg.gae_lambda == model.gae_lambda
    assert cfg.clip_vloss is (model.clip_range_vf is not None)
    assert cfg.max_grad_norm == model.max_grad_norm and cfg.target_kl == model.target_kl
    assert cfg.norm_adv is model.normalize_advantage
    # SB3's value loss is the mean squared error; rlcredit's is 0.5 * squared error
    assert cfg.vf_coef * 0.5 == model.vf_coef
    assert cfg.adam_eps == model.policy.optimizer.defaults["eps"]
    assert cfg.hidden == tuple(model.policy.net_arch["pi"]) == tuple(model.policy.net_arch["vf"])
    assert inspect.signature(sb3.PPO).parameters["gamma"].default == cfg.gamma


def test_cleanrl_preset_is_cleanrl_ppo_args():
    # cleanrl/ppo.py's Args (CleanRL is not a dependency; the values are its documented defaults)
    cfg = trainer_config("ppo", overrides=["preset=cleanrl"])
    assert (cfg.num_envs, cfg.num_steps, cfg.num_minibatches, cfg.update_epochs) == (4, 128, 4, 4)
    assert (cfg.lr, cfg.anneal_lr, cfg.ent_coef, cfg.vf_coef, cfg.clip_coef) == (2.5e-4, True, 0.01, 0.5, 0.2)
    assert (cfg.clip_vloss, cfg.norm_adv, cfg.max_grad_norm, cfg.target_kl) == (True, True, 0.5, None)
    assert (cfg.gae_lambda, cfg.gamma, cfg.adam_eps) == (0.95, 0.99, 1e-5)


def test_preset_keys_beside_it_win_and_bad_presets_are_errors():
    cfg = trainer_config("ppo", {"preset": "sb3", "ent_coef": 0.05})
    assert cfg.ent_coef == 0.05 and cfg.num_steps == 2048
    assert trainer_config("ppo", preset="rlcredit") == trainer_config("ppo")
    with pytest.raises(ConfigError, match="key 'preset' must be one of rlcredit, sb3, cleanrl"):
        trainer_config("ppo", {"preset": "sb4"})
    with pytest.raises(ConfigError, match="preset 'sb3' has no reinforce setting"):
        trainer_config("reinforce", {"preset": "sb3"})


@pytest.mark.parametrize(
    "config, key",
    [("{ lr = -1e-3 }", "lr"), ("{ adam_eps = 0.0 }", "adam_eps"), ("{ preset = 'sb4' }", "preset")],
)
def test_rlcredit_run_refuses_a_bad_trainer_value_at_spec_load(tmp_path, capsys, config, key):
    """The spec loader builds every trainer config, so `rlcredit run` fails before any piece starts: exit 2,
    one line naming the spec file and the key, no experiment directory written."""
    from rlcredit.cli import main

    spec = tmp_path / "bad.toml"
    spec.write_text(
        'name = "bad"\nquestion = "?"\nseeds = 1\nmetrics = ["return"]\n'
        '[[envs]]\nid = "rlcredit/ButtonRoomBridge0-v0"\n'
        f"[trainers.ppo]\nsteps = 1000\nconfig = {config}\n"
    )
    out = tmp_path / "exp"
    assert main(["run", str(spec), "--out", str(out), "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(spec) in err[0] and f"'{key}'" in err[0], err
    assert not out.exists()
