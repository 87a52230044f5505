"""Experiments: one question, trainers and planners on the same gridworlds and seeds, contrasted.

>>> from rlcredit.experiments import load_spec, run_experiment
>>> spec = load_spec("runs/wirehead.toml")                       # doctest: +SKIP
>>> result = run_experiment(spec, backend="local", wandb="disabled")   # doctest: +SKIP
>>> result.report                                 # doctest: +SKIP
PosixPath('runs/wirehead/20250101-120000/report.html')

- :mod:`~rlcredit.experiments.spec`: ``runs/NAME.toml`` -> :class:`ExperimentSpec` -> pieces (agent x env x seed).
- :mod:`~rlcredit.experiments.runner`: runs the pieces (resumably), then contrast table, figures, report.
- :mod:`~rlcredit.experiments.backends`: a local process pool or Ray tasks.
- :mod:`~rlcredit.experiments.evaluate`: test-time evaluation of trained policies and planners.
- :mod:`~rlcredit.experiments.stats`: bootstrap confidence intervals and the interquartile mean over seeds.
- :mod:`~rlcredit.experiments.contrast`, :mod:`~rlcredit.experiments.figures`,
  :mod:`~rlcredit.experiments.report`: what is written into the experiment directory.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rlcredit.experiments.directory import load_experiment
from rlcredit.experiments.spec import ExperimentSpec, Piece, expand_pieces, load_spec

if TYPE_CHECKING:
    from rlcredit.experiments.pieces import PieceResult
    from rlcredit.experiments.runner import ExperimentResult, finish_experiment, run_experiment

_LAZY = {
    "ExperimentResult": "rlcredit.experiments.runner",
    "PieceResult": "rlcredit.experiments.pieces",
    "finish_experiment": "rlcredit.experiments.runner",
    "run_experiment": "rlcredit.experiments.runner",
}
"""Names whose module (and torch, the trainers and planners with it) is imported on first use: reading,
tabling and plotting an experiment directory needs none of them."""

__all__ = [
    "ExperimentResult",
    "ExperimentSpec",
    "Piece",
    "PieceResult",
    "expand_pieces",
    "finish_experiment",
    "load_experiment",
    "load_spec",
    "run_experiment",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
