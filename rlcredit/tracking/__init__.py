"""The run directory and everything that writes to it: config, metrics, checkpoints, wandb mirror.

Every write is atomic (temporary file in the same directory, fsync, rename), so a crash never leaves a
half-written file. Importing this package imports neither torch nor wandb; they are loaded when a
checkpoint is saved or loaded, or a wandb run is started.
"""

from rlcredit.tracking.checkpoint import (
    Checkpoint,
    Checkpointer,
    CheckpointError,
    rng_from_json,
    rng_state_to_json,
)
from rlcredit.tracking.io import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    to_jsonable,
    write_parquet,
)
from rlcredit.tracking.metrics import MetricsWriter, read_metrics_csv
from rlcredit.tracking.rundir import RunDir, environment_info
from rlcredit.tracking.wandb_mirror import WANDB_MODES, WandbMirror, WandbMode

__all__ = [
    "WANDB_MODES",
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "MetricsWriter",
    "RunDir",
    "WandbMirror",
    "WandbMode",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "environment_info",
    "read_metrics_csv",
    "rng_from_json",
    "rng_state_to_json",
    "to_jsonable",
    "write_parquet",
]
