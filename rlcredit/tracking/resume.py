"""Check a run directory before a trainer continues it: resume never trusts damaged state.

A trainer's run directory at checkpoint ``U`` promises: ``metrics.csv`` rows for updates 1..U (rows after U
may exist: written after the checkpoint, they are rewritten by the resumed run), a readable credit file
for every update 1..U that logs credit, a readable shaping file for every update 1..U when the run writes
them, and a checkpoint whose ``global_step`` is the ``global_step`` of metrics row U and lies between U
smallest and U largest rollouts. :func:`resume_point` checks all of it and names the first file that breaks
the promise (:class:`ResumeError`, one line); it never falls back silently to an earlier state or to a
fresh start. Without any checkpoint it distinguishes a run killed before its first checkpoint (start over,
and say so) from one whose checkpoints were lost (an error).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlcredit.tracking.checkpoint import Checkpoint, Checkpointer, CheckpointError
from rlcredit.tracking.io import CorruptFileError, read_parquet
from rlcredit.tracking.metrics import read_metrics_csv
from rlcredit.tracking.rundir import RunDir

__all__ = ["NO_CHECKPOINT_YET", "ResumeError", "ResumePoint", "resume_point"]

NO_CHECKPOINT_YET = "no checkpoint yet, starting over"
_FILE = re.compile(r"update_(\d+)\.parquet")


class ResumeError(ValueError):
    """A run directory cannot be continued as it is: ``"cannot resume: PATH: <problem>"``."""


@dataclass(frozen=True)
class ResumePoint:
    """Where a checked run continues from.

    Attributes
    ----------
    checkpoint : Checkpoint or None
        The newest checkpoint (verified), or None to start from update 0.
    message : str or None
        What to tell the user (:data:`NO_CHECKPOINT_YET` when a run restarts), else None.
    """

    checkpoint: Checkpoint | None
    message: str | None = None

    @property
    def update(self) -> int:
        """The update the run continues after (0 without a checkpoint)."""
        return 0 if self.checkpoint is None else self.checkpoint.update

    @property
    def global_step(self) -> int:
        """Environment steps done at that update."""
        return 0 if self.checkpoint is None else int(self.checkpoint.state["global_step"])


def resume_point(
    run: RunDir,
    checkpoints: Checkpointer,
    *,
    steps: int,
    batch_steps: tuple[int, int],
    checkpoint_every: int,
    credit_logged: Callable[[int, bool], bool] | None,
    shaping: bool,
) -> ResumePoint:
    """Verify ``run`` against its newest checkpoint and return where to continue.

    Parameters
    ----------
    run : RunDir
    checkpoints : Checkpointer
        The run's checkpoints.
    steps : int
        The run's target environment steps.
    batch_steps : (int, int)
        Fewest and most environment steps one update collects (PPO: both ``num_envs * num_steps``;
        REINFORCE: ``num_envs`` and ``num_envs * max_episode_steps``).
    checkpoint_every : int
        The run's checkpoint interval in updates (0: only at the end).
    credit_logged : callable ``(update, last) -> bool``, or None
        Whether update ``update`` writes a credit file (``last``: it is the run's final update); None when
        the run writes none.
    shaping : bool
        Whether every update writes a shaping file.

    Raises
    ------
    ResumeError
        The first problem found, naming its file.
    """
    try:
        found = checkpoints.latest()
    except CheckpointError as e:
        raise ResumeError(f"cannot resume: {e}") from None
    _, rows = _metrics(run)
    if found is None:
        return _without_checkpoint(run, checkpoints, rows, checkpoint_every)
    update = found.update
    ckpt_path = checkpoints.paths(update)[1]
    gs = int(found.state.get("global_step", -1))
    lo, hi = batch_steps
    if not update * lo <= gs <= update * hi:
        raise ResumeError(
            f"cannot resume: {ckpt_path}: global_step {gs} is impossible after {update} updates of "
            f"{lo if lo == hi else f'{lo}..{hi}'} steps"
        )
    if update < 1:
        raise ResumeError(f"cannot resume: {ckpt_path}: a checkpoint at update {update}")
    if len(rows) < update:
        raise ResumeError(
            f"cannot resume: {run.metrics_path}: {len(rows)} rows, but the checkpoint is at update {update} "
            f"(rows {len(rows) + 1}..{update} are missing)"
        )
    previous = 0
    for i, row in enumerate(rows[:update], start=1):
        u, step = row.get("update"), row.get("global_step")
        if u != i or not isinstance(step, int) or step <= previous:
            raise ResumeError(
                f"cannot resume: {run.metrics_path}: row {i} is update {u!r} at global_step {step!r}; "
                f"expected update {i} after global_step {previous}"
            )
        previous = step
    if previous != gs:
        raise ResumeError(
            f"cannot resume: {ckpt_path}: global_step {gs} disagrees with {run.metrics_path.name} row {update} "
            f"(global_step {previous})"
        )
    last = gs >= steps
    if credit_logged is not None:
        wanted = [u for u in range(1, update + 1) if credit_logged(u, last and u == update)]
        _check_files(run.credit_dir, wanted, "credit")
    if shaping:
        _check_files(run.shaping_dir, list(range(1, update + 1)), "shaping")
    return ResumePoint(found)


def _metrics(run: RunDir) -> tuple[list[str], list[dict]]:
    path = run.metrics_path
    if not path.exists():
        return [], []
    try:
        return read_metrics_csv(path)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        why = str(e).removeprefix(f"{path}: ").splitlines()[0]
        raise ResumeError(f"cannot resume: {path}: unreadable ({why})") from None


def _without_checkpoint(
    run: RunDir, checkpoints: Checkpointer, rows: list[dict], checkpoint_every: int
) -> ResumePoint:
    """No checkpoint record: a run killed before its first checkpoint, or one that lost its checkpoints."""
    orphans = sorted(p.name for p in checkpoints.directory.glob("ckpt_*.safetensors"))
    if checkpoint_every and len(rows) > checkpoint_every:
        raise ResumeError(
            f"cannot resume: {checkpoints.directory}: no checkpoint, but {run.metrics_path.name} has "
            f"{len(rows)} updates (the checkpoint of update {checkpoint_every} or later is missing)"
        )
    if len(orphans) > 1:  # one interrupted save is the first checkpoint being written; more were committed
        raise ResumeError(
            f"cannot resume: {checkpoints.directory}: checkpoint records (JSON) are missing for {', '.join(orphans)}"
        )
    summary = _summary(run)
    if summary.get("last_checkpoint"):
        raise ResumeError(
            f"cannot resume: {checkpoints.directory}: summary.json names the checkpoint "
            f"{summary['last_checkpoint']}, which is gone"
        )
    return ResumePoint(None, NO_CHECKPOINT_YET)


def _summary(run: RunDir) -> dict:
    if not run.summary_path.exists():
        return {}
    try:
        data = run.read_summary()
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ResumeError(f"cannot resume: {run.summary_path}: unreadable ({e})") from None
    return data if isinstance(data, dict) else {}


def _check_files(directory: Path, updates: list[int], what: str) -> None:
    """Every ``update_U.parquet`` of ``updates`` exists and reads back whole (page checksums verified)."""
    for u in updates:
        path = directory / f"update_{u:06d}.parquet"
        if not path.is_file():
            raise ResumeError(f"cannot resume: {path}: the {what} file of update {u} is missing")
        try:
            table = read_parquet(path)
        except CorruptFileError as e:
            raise ResumeError(f"cannot resume: {e}") from None
        if what == "credit" and "update" in table.column_names and table.num_rows:
            col = table.column("update")
            if col[0].as_py() != u:
                raise ResumeError(f"cannot resume: {path}: holds update {col[0].as_py()}, not {u}")
