"""One piece of an experiment (a trainer or planner on one env and seed) and the experiment directory.

An experiment directory ``runs/NAME/RUN_ID/`` holds::

    experiment.toml     the resolved spec, plus an [experiment] table (run id, wandb group) and [_meta]
    AGENT-sSEED/        one run directory per piece (train or plan), each with an eval.json
    contrast.csv        the spec's metrics per agent x env variant: mean, bootstrap CI over seeds, IQM (long form)
    contrast.md         the same as a table for reading (plus steps and wall time)
    evals.csv           every test-time figure of every piece (one row per piece x test variant)
    plots/              experiment figures (PNG + SVG) and captions.json
    report.html         everything above in one self-contained page

A piece is finished when its ``eval.json`` exists (it is written last, atomically). Running a piece again
skips it when finished; a training run that was stopped continues from its last checkpoint
(``rlcredit.train(resume=...)``), and a training run that completed but was not evaluated yet is only
evaluated. The backends (:mod:`rlcredit.experiments.backends`) run pieces; the runner
(:mod:`rlcredit.experiments.runner`) runs a whole experiment.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import tomli_w
import torch

from rlcredit.config import ConfigError
from rlcredit.experiments.directory import EVAL_FILE, EXPERIMENT_FILE, load_experiment
from rlcredit.experiments.evaluate import eval_seed, evaluate_planner, evaluate_policy, run_planner
from rlcredit.experiments.spec import ExperimentSpec, Piece
from rlcredit.planning.planner import make_planner
from rlcredit.plots import plot_run
from rlcredit.runs.schema import RunConfig, RunSummary, read_summary, write_config, write_summary
from rlcredit.tracking import (
    MetricsWriter,
    RunDir,
    WandbMirror,
    WandbMode,
    atomic_write_json,
    atomic_write_text,
    environment_info,
)
from rlcredit.tracking.io import sync_dirs
from rlcredit.tracking.lock import DirLock
from rlcredit.tracking.wandb_mirror import mirror_plots
from rlcredit.trainers.load import load_policy
from rlcredit.trainers.loop import train

__all__ = [
    "PieceResult",
    "piece_finished",
    "prepare_experiment",
    "run_piece",
    "run_piece_safely",
]


@dataclass(frozen=True)
class PieceResult:
    """What happened to one piece.

    Attributes
    ----------
    name : str
        The piece's directory name.
    agent : str
        Its contrast-table label.
    status : {"done", "skipped", "failed", "interrupted"}
        ``skipped``: it was already finished; ``interrupted``: stopped by Ctrl-C before it finished (its run
        directory keeps what it wrote; running the experiment again continues it).
    seconds : float
        Wall time spent on it now.
    headline : dict
        A few figures on its first test variant (return, success, reach rates) for the progress line.
    error : str
        ``"Type: message"`` when it failed.
    details : str
        The traceback when it failed.
    warnings : list of str
        Non-fatal problems (e.g. a run plot that could not be drawn).
    """

    name: str
    agent: str
    status: Literal["done", "skipped", "failed", "interrupted"]
    seconds: float = 0.0
    headline: dict[str, float] = field(default_factory=dict)
    error: str = ""
    details: str = ""
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- one piece


def piece_finished(piece: Piece) -> bool:
    """Whether the piece's run directory has its ``eval.json`` (the last file a piece writes)."""
    return (Path(piece.run_dir) / EVAL_FILE).is_file()


def run_piece_safely(piece: Piece) -> PieceResult:
    """:func:`run_piece`, with any exception turned into a failed :class:`PieceResult` (for backends)."""
    t0 = time.perf_counter()
    try:
        return run_piece(piece)
    except Exception as e:  # a backend reports every failure and carries on with the other pieces
        msg = str(e).splitlines()[0] if str(e) else ""
        return PieceResult(
            piece.name,
            piece.agent,
            "failed",
            time.perf_counter() - t0,
            error=f"{type(e).__name__}: {msg}" if msg else type(e).__name__,
            details=traceback.format_exc(),
        )


def run_piece(piece: Piece) -> PieceResult:
    """Run one piece to the end in this process, continuing whatever its run directory already holds.

    Trainers train (or resume), then their final policy is evaluated on every test variant; planners act for
    ``piece.episodes`` episodes in the training env (their run directory), then are evaluated the same way.
    ``eval.json`` is written last.
    """
    t0 = time.perf_counter()
    if piece_finished(piece):
        return PieceResult(piece.name, piece.agent, "skipped", headline=_headline(_read_eval(piece)))
    Path(piece.run_dir).mkdir(parents=True, exist_ok=True)
    # The run directory's lock is held throughout: by train() while it trains, here while the piece plans,
    # evaluates and writes eval.json (nothing else writes the directory then, and the progress line tells
    # running pieces from waiting ones by it).
    steps, wall = _train(piece) if piece.kind == "train" else (0, math.nan)
    with DirLock(piece.run_dir, what="run directory"):
        if piece.kind == "train":
            figures = _evaluate_trained(piece)
        else:
            steps, wall = _plan(piece)
            figures = _evaluate_planner(piece)
        notes: list[str] = []
        if piece.plots:
            notes += _plot_run(piece)
        record = {
            "piece": piece.name,
            "agent": piece.agent,
            "kind": piece.kind,
            "algo": piece.algo,
            "seed": piece.seed,
            "train_env": piece.env.label,
            "swept": piece.swept,
            "episodes": piece.eval.episodes,
            "greedy": piece.eval.greedy,
            "steps": steps,
            "wall_time": wall,
            "piece_time": time.perf_counter() - t0,
            "envs": figures,
        }
        sync_dirs()  # eval.json declares the piece finished: the files before it must be on disk first
        atomic_write_json(Path(piece.run_dir) / EVAL_FILE, record)
    return PieceResult(
        piece.name, piece.agent, "done", time.perf_counter() - t0, _headline(record), warnings=notes
    )


def _read_eval(piece: Piece) -> dict[str, Any]:
    return json.loads((Path(piece.run_dir) / EVAL_FILE).read_text(encoding="utf-8"))


def _headline(record: dict[str, Any]) -> dict[str, float]:
    envs = record.get("envs") or {}
    if not envs:
        return {}
    first = next(iter(envs.values()))
    keys = ["return", "success", *sorted(k for k in first if k.startswith(("reach_", "region_")))]
    return {k: first[k] for k in keys if k in first}


def _train(piece: Piece) -> tuple[int, float]:
    """Train (or resume, or nothing if training completed); returns (env steps, training wall time)."""
    run_dir = Path(piece.run_dir)
    summary = read_summary(run_dir)
    if summary is None or summary.status != "completed":
        common: dict[str, Any] = {
            "wandb": piece.wandb,
            "progress": False,
            "group": piece.group,
            "tags": (piece.experiment, piece.agent),
        }
        if (run_dir / "config.toml").is_file():
            # Continue from the last checkpoint; the run's stored algo, env, steps, seed and config are used.
            train(resume=run_dir, **common)
        else:
            train(
                piece.algo,
                env=piece.env.id,
                steps=piece.steps,
                seed=piece.seed,
                out_dir=run_dir,
                config=piece.config,
                **common,
            )
        summary = read_summary(run_dir)
    if summary is None:
        return piece.steps, math.nan
    return int(summary.global_step or 0), summary.wall_seconds


def _evaluate_trained(piece: Piece) -> dict[str, dict[str, Any]]:
    policy = load_policy(piece.run_dir)
    policy.eval()
    out = {}
    with torch.inference_mode():
        for j, test in enumerate(piece.tests):
            out[test.label] = {
                "id": test.id,
                **evaluate_policy(
                    policy.action_probs, test, obs=piece.obs, spec=piece.eval, seed=eval_seed(piece.seed, j)
                ),
            }
    return out


def _planner(piece: Piece) -> Any:
    config = dict(piece.config)
    if piece.algo == "mcts":
        config.setdefault("seed", piece.seed)
    return make_planner(piece.algo, **config)


def _plan(piece: Piece) -> tuple[int, float]:
    """The planner's run directory: it acts for ``piece.episodes`` episodes in the training env."""
    run_dir = Path(piece.run_dir)
    summary = read_summary(run_dir)
    if summary is not None and summary.status == "completed":
        return int(summary.global_step or 0), summary.wall_seconds
    run = RunDir(run_dir) if (run_dir / "config.toml").is_file() else RunDir.create(run_dir)
    config = RunConfig(
        kind="plan",
        algo=piece.algo,
        env=piece.env.id,
        seed=piece.seed,
        env_kwargs=dict(piece.env.kwargs),
        episodes=piece.episodes,
        config=dict(piece.config),
    )
    write_config(run, config)
    t0 = time.perf_counter()
    planner = _planner(piece)
    rows, figures, layout = run_planner(
        planner, piece.env, episodes=piece.episodes, seed=piece.seed, regions=piece.eval.regions
    )
    wall = time.perf_counter() - t0
    metrics = MetricsWriter(run.metrics_path)
    if metrics.path.exists():  # rows of an interrupted earlier attempt
        metrics.truncate(0)
    kinds = layout.kinds
    with WandbMirror(
        cast(WandbMode, piece.wandb),  # checked by run_experiment against WANDB_MODES
        group=piece.group,
        job_type="plan",
        tags=(piece.experiment, piece.agent),
        name=piece.name,
        config=run.read_config(),
        dir=run.path,
    ) as wb:
        for row in rows:
            line = {
                "episode": row["episode"],
                "return": row["return"],
                "length": row["length"],
                "intended": int(row["intended"]),
            }
            line.update({f"reached_{k}": int(k in row["events"]) for k in kinds})
            metrics.log(line)
            wb.log(line, step=int(row["episode"]))
        steps = int(np.sum([r["length"] for r in rows]))
        outcome = RunSummary(
            status="completed",
            kind="plan",
            algo=piece.algo,
            env=piece.env.label,
            seed=piece.seed,
            global_step=steps,
            wall_seconds=wall,
            return_mean=figures["return"],
            episodes=len(rows),
            figures={
                "optimal_value": figures["optimal"],
                "intended_rate": figures["success"],
                **{f"reach_rate/{k}": figures[f"reach_{k}"] for k in kinds},
            },
        )
        write_summary(run, outcome)
        if wb.enabled:
            wb.update_summary(outcome.to_json_data())
    return steps, wall


def _evaluate_planner(piece: Piece) -> dict[str, dict[str, Any]]:
    out = {}
    for j, test in enumerate(piece.tests):
        out[test.label] = {
            "id": test.id,
            **evaluate_planner(lambda: _planner(piece), test, spec=piece.eval, seed=eval_seed(piece.seed, j)),
        }
    return out


def _plot_run(piece: Piece) -> list[str]:
    """Draw the run's own figures; a figure that fails is a warning, never a failed piece."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plot_run(piece.run_dir)
    except Exception as e:  # plots are derived data: the piece's results stand without them
        return [f"{piece.name}: plots: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"]
    try:  # the README promises the per-run plots in wandb too
        mirror_plots(piece.run_dir, cast(WandbMode, piece.wandb))
    except Exception as e:  # wandb is a mirror, never the only copy: the plots are in the run directory
        return [f"{piece.name}: wandb plots: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"]
    return []


# ---------------------------------------------------------------------------------------- the experiment


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS``: the default name of an experiment directory under ``runs/NAME/``."""
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def _fresh_dir(parent: Path) -> Path:
    """A new directory ``PARENT/YYYYmmdd-HHMMSS`` (``-2``, ``-3``, ... if taken), created here."""
    parent.mkdir(parents=True, exist_ok=True)
    stem, i = new_run_id(), 1
    while True:
        path = parent / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()  # the atomic claim on the name
            return path
        except FileExistsError:
            i += 1


def _write_experiment(exp_dir: Path, spec: ExperimentSpec, info: dict[str, Any]) -> None:
    data = {"experiment": info, **_drop_none(spec.to_data()), "_meta": environment_info()}
    atomic_write_text(exp_dir / EXPERIMENT_FILE, tomli_w.dumps(data))


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


def _first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            d = _first_difference(a.get(k), b.get(k), f"{prefix}{k}.")
            if d is not None:
                return d
        return None
    return None if a == b else prefix[:-1] or "(top level)"


def prepare_experiment(
    spec: ExperimentSpec,
    out: str | os.PathLike[str] | None = None,
    *,
    root: str | os.PathLike[str] = "runs",
    wandb: str | None = None,
) -> tuple[Path, ExperimentSpec, dict[str, Any]]:
    """Create the experiment directory (or reopen it) and write ``experiment.toml``.

    The wandb mode an experiment is started with is recorded in the ``[experiment]`` table (``wandb``: the
    ``wandb`` given, default ``"offline"``); reopening keeps the record (experiments written before the mode
    was recorded get the one given).

    Reopening an existing directory needs the same spec, apart from seeds: new seeds are added to the
    experiment (so ``--seeds 20`` after a 5-seed run adds seeds 5..19).

    Returns
    -------
    (exp_dir, spec, info)
        The directory, the spec to run (its seeds the union), and the ``[experiment]`` table.

    Raises
    ------
    ConfigError
        If ``out`` holds an experiment with a different spec.
    """
    exp_dir = Path(out) if out is not None else _fresh_dir(Path(root) / spec.name)
    if exp_dir.exists() and not exp_dir.is_dir():
        raise NotADirectoryError(f"--out {exp_dir} is a file, not a directory")
    if (exp_dir / EXPERIMENT_FILE).is_file():
        stored, info = load_experiment(exp_dir)
        a = {k: v for k, v in stored.to_data().items() if k != "seeds"}
        b = {k: v for k, v in spec.to_data().items() if k != "seeds"}
        diff = _first_difference(a, b)
        if diff is not None:
            raise ConfigError(
                f"{exp_dir} holds experiment {stored.name!r} with a different spec (first difference: '{diff}'); "
                f"choose another --out, or continue it as it is with --resume {exp_dir}"
            )
        seeds = stored.seed_list + [s for s in spec.seed_list if s not in stored.seed_list]
        spec = stored if seeds == stored.seed_list else stored.with_seeds(seeds)
        info.setdefault("wandb", wandb or "offline")
    else:
        exp_dir.mkdir(parents=True, exist_ok=True)
        info = {
            "run_id": exp_dir.name,
            "group": f"{spec.name}-{exp_dir.name}",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "wandb": wandb or "offline",
        }
    _write_experiment(exp_dir, spec, info)
    return exp_dir, spec, info
