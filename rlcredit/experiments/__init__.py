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

from rlcredit.experiments.runner import (
    ExperimentResult,
    PieceResult,
    finish_experiment,
    load_experiment,
    run_experiment,
)
from rlcredit.experiments.spec import ExperimentSpec, Piece, expand_pieces, load_spec

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
