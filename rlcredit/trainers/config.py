"""Trainer configs: one frozen dataclass per trainer, every field documented, derived sizes as properties.

Load one from plain data (a TOML table, a dict, ``KEY=VALUE`` strings) with :func:`trainer_config`::

    cfg = trainer_config("ppo", {"lr": 3e-4}, overrides=["num_envs=128"])

Unknown keys and wrongly typed values raise :class:`rlcredit.config.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rlcredit.config import apply_overrides, load_dataclass


def _doc(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class CommonConfig:
    """Fields every trainer has: environment batch, network, optimizer, logging and checkpoints."""

    obs: str | None = _doc(
        None,
        "Observation kind for rlcredit gridworlds: 'index', 'coords' or 'grid' (None: the env's default).",
    )
    num_envs: int = _doc(64, "Sub-environments stepped together (one batched numpy env or a SyncVectorEnv).")
    gamma: float = _doc(0.99, "Discount factor.")
    lr: float = _doc(2.5e-4, "Adam learning rate (the start value when anneal_lr).")
    anneal_lr: bool = _doc(True, "Decay the learning rate linearly to 0 over the run.")
    adam_eps: float = _doc(1e-5, "Adam epsilon (CleanRL's 1e-5 rather than torch's 1e-8).")
    hidden: tuple[int, ...] = _doc((64, 64), "Hidden layer widths of the actor and of the critic MLP (tanh).")
    network: Literal["mlp", "cnn"] = _doc(
        "mlp", "'mlp' flattens the observation; 'cnn' puts two 3x3 convolutions first ((C, H, W) grids only)."
    )
    ent_coef: float = _doc(0.01, "Entropy bonus coefficient.")
    vf_coef: float = _doc(0.5, "Value loss coefficient.")
    max_grad_norm: float = _doc(0.5, "Global gradient norm clip (0 disables clipping).")
    credit: bool = _doc(True, "Write the per-step credit records (credit/update_*.parquet).")
    credit_every: int = _doc(1, "Write credit records every this many updates (and at the last update).")
    exact: bool = _doc(
        True,
        "On gridworlds: exact credit (exact_q, exact_advantage) and per-update shaping files and exact/* metrics.",
    )
    grad_samples: int = _doc(
        256, "Steps per update whose per-sample policy-gradient norm and cosine are computed (0: none)."
    )
    checkpoint_every: int = _doc(50, "Save a checkpoint every this many updates (0: only at the end).")
    checkpoint_keep: int = _doc(3, "How many checkpoints to keep (the newest).")
    torch_threads: int = _doc(1, "torch.set_num_threads for the run (1 is fastest for small networks).")

    def __post_init__(self) -> None:
        for name in ("num_envs", "credit_every", "checkpoint_keep", "torch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("grad_samples", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.num_envs > 32767:
            raise ValueError(
                f"num_envs must be <= 32767 (credit records store it as int16), got {self.num_envs}"
            )


@dataclass(frozen=True)
class PPOConfig(CommonConfig):
    """PPO with GAE (Schulman et al. 2017), CleanRL's defaults and names."""

    num_steps: int = _doc(128, "Steps per sub-environment per rollout.")
    num_minibatches: int = _doc(4, "Minibatches per epoch.")
    update_epochs: int = _doc(4, "Passes over the rollout per update.")
    gae_lambda: float = _doc(0.95, "GAE lambda.")
    clip_coef: float = _doc(0.2, "Surrogate clipping epsilon.")
    clip_vloss: bool = _doc(True, "Clip the value loss around the old values, as in the PPO paper's code.")
    norm_adv: bool = _doc(True, "Normalize advantages per minibatch.")
    target_kl: float | None = _doc(
        None, "Stop the update's epochs once an epoch's mean approx KL exceeds this."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_steps", "num_minibatches", "update_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_envs * num_steps = {self.batch_size} is not divisible by num_minibatches = {self.num_minibatches}"
            )

    @property
    def batch_size(self) -> int:
        """Steps per rollout: ``num_envs * num_steps``."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        """``batch_size // num_minibatches``."""
        return self.batch_size // self.num_minibatches


@dataclass(frozen=True)
class ReinforceConfig(CommonConfig):
    """REINFORCE (Williams 1992): one complete episode per sub-environment per update, Monte Carlo returns."""

    lr: float = _doc(1e-3, "Adam learning rate (the start value when anneal_lr).")
    baseline: Literal["none", "value", "batch_mean"] = _doc(
        "value", "b(s_t) subtracted from G_t: a learned critic ('value'), the batch's mean return, or none."
    )
    norm_adv: bool = _doc(False, "Normalize G_t - b(s_t) over the batch to zero mean, unit std.")
    max_episode_steps: int | None = _doc(
        None, "Cut episodes longer than this (marked truncated); None: the env's time limit, else 1000."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {self.max_episode_steps}")


CONFIGS: dict[str, type[CommonConfig]] = {"ppo": PPOConfig, "reinforce": ReinforceConfig}


def trainer_config(
    algo: str,
    data: Mapping[str, Any] | CommonConfig | None = None,
    *,
    overrides: Sequence[str] = (),
    source: str = "config",
) -> CommonConfig:
    """Build the config of trainer ``algo`` ("ppo" or "reinforce").

    Parameters
    ----------
    data : mapping or config, optional
        Field values (a config instance is used as is when there are no overrides).
    overrides : sequence of str
        ``"lr=3e-4"``-style strings applied on top of ``data``.
    source : str
        Named in error messages.

    Raises
    ------
    ValueError
        For an unknown trainer name.
    rlcredit.config.ConfigError
        For an unknown key, a wrongly typed or invalid value.
    """
    if algo not in CONFIGS:
        raise ValueError(f"unknown trainer {algo!r}; choose one of {', '.join(CONFIGS)}")
    cls = CONFIGS[algo]
    if isinstance(data, CommonConfig):
        if not isinstance(data, cls):
            raise TypeError(f"trainer {algo!r} needs a {cls.__name__}, got {type(data).__name__}")
        if not overrides:
            return data
        from rlcredit.config import to_dict

        data = to_dict(data)
    return load_dataclass(cls, apply_overrides(dict(data or {}), list(overrides)), source=source)
