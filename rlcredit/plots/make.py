"""Every applicable figure for a run directory or an experiment directory, from its files alone.

- :func:`plot_run`: ``RUN_DIR/plots/``: the map, learning curve, reachability, policy field, shaping map,
  credit map, sampled-vs-exact credit, and an episode GIF (each when its input files are there).
- :func:`plot_experiment`: ``EXPERIMENT_DIR/plots/``: the run directories below it grouped by label (algo +
  differing config, seeds pooled): learning curves with seed bands and planner lines, reachability curves per
  env, sampled-vs-exact credit per env, contrast bars from ``EXPERIMENT_DIR/contrast.csv``, one episode GIF
  per label; and (``per_run=True``) every run's own figures.
- :func:`plot_path`: either, by what the path is (what ``rlcredit plot PATH`` calls).

Every figure is written as PNG (150 dpi) and SVG with its caption in ``plots/captions.json``.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from rlcredit.config import read_toml
from rlcredit.plots.animate import episode_animation
from rlcredit.plots.contrast import contrast_bars
from rlcredit.plots.credit import credit_map, credit_vs_exact, has_exact_credit
from rlcredit.plots.curves import RETURN, learning_curves, reach_curves
from rlcredit.plots.data import Run, find_runs, labels_for, open_run, reach_kinds
from rlcredit.plots.grid import env_map, policy_field, shaping_map
from rlcredit.plots.style import Plot

__all__ = ["CONTRAST_FILE", "plot_experiment", "plot_path", "plot_run", "slug"]

CONTRAST_FILE = "contrast.csv"
"""Where :func:`plot_experiment` looks for the contrast table (columns: see :mod:`rlcredit.plots.contrast`)."""


def slug(label: str) -> str:
    """A file-name-safe form of a label: ``"ppo λ=0.9"`` -> ``"ppo_lambda0.9"``."""
    text = label.replace("λ", "lambda").replace("γ", "gamma").replace("=", "")
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_") or "run"


def plot_run(
    run_dir: str | os.PathLike[str] | Run, *, update: int | None = None, seed: int = 0, greedy: bool = False
) -> list[Path]:
    """Make every figure that applies to one run, into ``RUN_DIR/plots/``.

    Parameters
    ----------
    run_dir : path or Run
    update : int, optional
        The logged update the shaping map shows (default: the one that moved never-visited states most) and
        whose ``pi_after`` the policy field and the episode GIF use (default: the last logged).
    seed, greedy :
        Of the replayed episode.

    Returns
    -------
    list of Path
        Files written (PNG, SVG, GIF).

    Raises
    ------
    FileNotFoundError
        If the directory does not exist.
    ValueError
        If it is not a run directory.
    """
    run = open_run(run_dir)
    out = run.plots_dir
    paths: list[Path] = []
    gridworld = run.layout is not None
    if gridworld:
        paths += env_map(run).save(out)
    if run.is_planner:
        return paths
    if RETURN in run.metrics.columns:
        paths += learning_curves([run]).save(out)
    if reach_kinds([run]) or "exact/intended" in run.metrics.columns:
        paths += reach_curves([run]).save(out)
    if gridworld and run.shaping_updates():
        paths += policy_field(run, update=update).save(out)
        paths += shaping_map(run, update=update).save(out)
        paths += episode_animation(run, update=update, seed=seed, greedy=greedy).save(out)
    if gridworld and run.credit_files():
        paths += credit_map(run).save(out)
    if has_exact_credit(run):
        paths += credit_vs_exact([run]).save(out)
    return paths


def plot_experiment(
    exp_dir: str | os.PathLike[str],
    *,
    per_run: bool = True,
    contrast: str | os.PathLike[str] | None = None,
    seed: int = 0,
    greedy: bool = False,
) -> list[Path]:
    """Make the experiment's comparison figures into ``EXPERIMENT_DIR/plots/`` (and, with ``per_run``, each
    run's figures into its own ``plots/``).

    Parameters
    ----------
    exp_dir : path
        A directory holding run directories (at any depth).
    per_run : bool
        Also call :func:`plot_run` on every run.
    contrast : path, optional
        The contrast CSV (default ``EXPERIMENT_DIR/contrast.csv`` when it exists).

    Returns
    -------
    list of Path
        Files written.

    Raises
    ------
    FileNotFoundError
        If the directory (or a given contrast CSV) does not exist.
    ValueError
        If no run directory is below it.
    """
    root = Path(exp_dir)
    runs = find_runs(root)
    out = root / "plots"
    paths: list[Path] = []
    labels = labels_for(runs)
    trainers = [r for r in runs if not r.is_planner]
    envs = list(dict.fromkeys(r.env for r in trainers))
    if any(RETURN in r.metrics.columns for r in trainers):
        paths += learning_curves(runs).save(out)
    for env in envs:
        here = [r for r in runs if r.env == env]
        suffix = "" if len(envs) == 1 else f"_{slug(env.rsplit('/', 1)[-1])}"
        env_trainers = [r for r in here if not r.is_planner]
        if reach_kinds(env_trainers) or any("exact/intended" in r.metrics.columns for r in env_trainers):
            plot = reach_curves(here)
            paths += _renamed(plot, f"reach{suffix}").save(out)
        exact = [r for r in env_trainers if has_exact_credit(r)]
        if exact:
            paths += _renamed(credit_vs_exact(exact), f"credit_vs_exact{suffix}").save(out)
    contrast_path = Path(contrast) if contrast is not None else root / CONTRAST_FILE
    if contrast is not None or contrast_path.is_file():
        paths += contrast_bars(contrast_path, metrics=_spec_metrics(root)).save(out)
    for lab in dict.fromkeys(labels[r.path] for r in trainers):
        for env in envs:  # one GIF per label and env: a label's runs on another map replay elsewhere
            members = sorted(
                (
                    r
                    for r in trainers
                    if labels[r.path] == lab and r.env == env and r.shaping_updates() and r.layout is not None
                ),
                key=lambda r: (r.seed is None, r.seed, str(r.path)),
            )
            suffix = "" if len(envs) == 1 else f"_{slug(env.rsplit('/', 1)[-1])}"
            if members:
                paths += episode_animation(
                    members[0], seed=seed, greedy=greedy, name=f"episode_{slug(lab)}{suffix}"
                ).save(out)
    if per_run:
        for r in runs:
            paths += plot_run(r, seed=seed, greedy=greedy)
    return paths


def plot_path(path: str | os.PathLike[str], **kwargs: Any) -> list[Path]:
    """:func:`plot_run` if ``path`` is a run directory, else :func:`plot_experiment`.

    Keyword arguments go to the function called (``update`` only to :func:`plot_run`, ``per_run`` and
    ``contrast`` only to :func:`plot_experiment`).

    Raises
    ------
    FileNotFoundError
        ``"run or experiment directory not found: PATH"``.
    ValueError
        If it is neither a run directory nor a directory holding run directories.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"run or experiment directory not found: {p}")
    if not p.is_dir():
        raise ValueError(f"not a run or experiment directory (a file): {p}")
    if (p / "config.toml").is_file():
        return plot_run(p, **{k: v for k, v in kwargs.items() if k in ("update", "seed", "greedy")})
    return plot_experiment(
        p, **{k: v for k, v in kwargs.items() if k in ("per_run", "contrast", "seed", "greedy")}
    )


def _spec_metrics(root: Path) -> list[str] | None:
    """The ``metrics`` an experiment's resolved spec (``experiment.toml``) asks the contrast to show."""
    path = root / "experiment.toml"
    if not path.is_file():
        return None
    metrics = read_toml(path).get("metrics")
    return [str(m) for m in metrics] if isinstance(metrics, list) and metrics else None


def _renamed(plot: Plot, name: str) -> Plot:
    return replace(plot, name=name)
