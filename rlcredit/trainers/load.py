"""Trained policies back from a run directory's checkpoints."""

from __future__ import annotations

from pathlib import Path

from rlcredit.tracking import Checkpointer, RunDir
from rlcredit.trainers.networks import Policy

__all__ = ["load_policy"]


def load_policy(run_dir: str | Path, update: int | None = None) -> Policy:
    """The policy saved in a run directory's checkpoint (the latest, or that of ``update``).

    Raises
    ------
    FileNotFoundError
        If the run has no checkpoint.
    """
    checkpoints = Checkpointer(RunDir.open(run_dir).checkpoints_dir)
    found = checkpoints.latest() if update is None else checkpoints.load(update)
    if found is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    policy = Policy.from_spec(found.state["policy_spec"])
    policy.load_state_dict({k[7:]: v for k, v in found.tensors.items() if k.startswith("policy/")})
    return policy
