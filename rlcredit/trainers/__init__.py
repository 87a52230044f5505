"""Trainers: the learning processes that update a policy from reward (REINFORCE, PPO), and their parts."""

from rlcredit.trainers.config import CommonConfig, PPOConfig, ReinforceConfig, trainer_config
from rlcredit.trainers.gae import gae, returns_to_go
from rlcredit.trainers.networks import ObsSpec, Policy, layer_init
from rlcredit.trainers.ppo import PPO
from rlcredit.trainers.reinforce import Reinforce
from rlcredit.trainers.rollout import ReplayEnv, VecEnv, make_env

__all__ = [
    "PPO",
    "CommonConfig",
    "ObsSpec",
    "PPOConfig",
    "Policy",
    "Reinforce",
    "ReinforceConfig",
    "ReplayEnv",
    "VecEnv",
    "gae",
    "layer_init",
    "make_env",
    "returns_to_go",
    "trainer_config",
]
