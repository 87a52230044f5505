"""An experiment directory's fixed file names and reading its spec back (no torch: plotting and reporting
an experiment read it too).

See :mod:`rlcredit.experiments.pieces` for what the directory holds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rlcredit.config import read_toml
from rlcredit.experiments.spec import ExperimentSpec, spec_from_data

__all__ = ["EVAL_FILE", "EXPERIMENT_FILE", "load_experiment", "newest_experiment"]

EXPERIMENT_FILE = "experiment.toml"
"""The resolved spec with its ``[experiment]`` table (run id, wandb group) and ``[_meta]``."""
EVAL_FILE = "eval.json"
"""A piece's test-time evaluation, written last: its presence marks the piece finished."""


def load_experiment(exp_dir: str | os.PathLike[str]) -> tuple[ExperimentSpec, dict[str, Any]]:
    """The resolved spec and the ``[experiment]`` table of an experiment directory.

    Raises
    ------
    FileNotFoundError
        ``"experiment directory not found: PATH"`` or ``"not an experiment directory (no experiment.toml): PATH"``.
    rlcredit.config.ConfigError
        If ``experiment.toml`` is malformed.
    """
    p = Path(exp_dir)
    if not p.is_dir():
        raise FileNotFoundError(f"experiment directory not found: {p}")
    path = p / EXPERIMENT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"not an experiment directory (no {EXPERIMENT_FILE}): {p}")
    data = read_toml(path)
    info = data.pop("experiment", {})
    data.pop("_meta", None)
    return spec_from_data(data, source=str(path)), info


def newest_experiment(spec: ExperimentSpec, *, root: str | os.PathLike[str] = "runs") -> Path:
    """The most recently created experiment directory of ``spec`` under ``ROOT/NAME/`` (what
    ``rlcredit run SPEC --resume`` continues).

    Raises
    ------
    FileNotFoundError
        If ``ROOT/NAME/`` holds no experiment directory.
    """
    parent = Path(root) / spec.name
    found = sorted(
        (load_experiment(d)[1].get("created", ""), d.name, d)
        for d in (parent.iterdir() if parent.is_dir() else ())
        if (d / EXPERIMENT_FILE).is_file()
    )
    if not found:
        raise FileNotFoundError(f"no experiment of {spec.name!r} to resume in {parent}/; run it first")
    return found[-1][2]
