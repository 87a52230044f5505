"""Trainer configs: strict loading, overrides, derived sizes, documented fields."""

import dataclasses

import pytest

from rlcredit.config import ConfigError
from rlcredit.trainers import PPOConfig, ReinforceConfig, trainer_config


def test_defaults_and_derived_sizes():
    cfg = trainer_config("ppo")
    assert isinstance(cfg, PPOConfig)
    assert (cfg.num_envs, cfg.num_steps, cfg.num_minibatches) == (64, 128, 4)
    assert cfg.batch_size == 64 * 128 and cfg.minibatch_size == 64 * 128 // 4
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
