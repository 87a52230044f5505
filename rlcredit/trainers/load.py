"""Trained policies back from a run directory's checkpoints."""

from __future__ import annotations

from pathlib import Path

from rlcredit.tracking import Checkpointer, CheckpointError, RunDir
from rlcredit.trainers.networks import Policy

__all__ = ["load_policy"]


def load_policy(run_dir: str | Path, update: int | None = None) -> Policy:
    """The policy saved in a run directory's checkpoint (the latest, or that of ``update``).

    Raises
    ------
    FileNotFoundError
        If the run has no checkpoint.
    rlcredit.tracking.CheckpointError
        If the checkpoint is damaged, or its weights do not fit its ``policy_spec`` (one line naming the file).
    """
    checkpoints = Checkpointer(RunDir.open(run_dir).checkpoints_dir)
    found = checkpoints.latest() if update is None else checkpoints.load(update)
    if found is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    where = checkpoints.paths(found.update)[1]
    if "policy_spec" not in found.state:
        raise CheckpointError(f"corrupt checkpoint {where}: state has no 'policy_spec'")
    policy = Policy.from_spec(found.state["policy_spec"])  # checked (sizes bounded) when the JSON was read
    try:
        policy.load_state_dict({k[7:]: v for k, v in found.tensors.items() if k.startswith("policy/")})
    except RuntimeError as e:  # missing, unexpected or mis-shaped tensors: the files disagree with each other
        detail = " ".join(str(e).split())
        raise CheckpointError(
            f"corrupt checkpoint {where}: weights do not fit its policy_spec ({detail[:300]})"
        ) from None
    return policy
