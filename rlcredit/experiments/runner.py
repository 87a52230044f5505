"""Running an experiment: its pieces (on a backend), then the contrast table, figures and report.

An experiment directory ``runs/NAME/RUN_ID/`` holds one run directory per piece and, once the pieces
have run, the contrast table, figures and report (:mod:`rlcredit.experiments.pieces` lists every file).

Running an experiment again (``--resume EXP_DIR``, or the same ``--out``) skips finished pieces
(:mod:`rlcredit.experiments.pieces` runs one piece and owns the directory layout).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from rlcredit.config import to_dict
from rlcredit.experiments.backends import ProgressTicker, make_backend
from rlcredit.experiments.contrast import build_contrast, headline, write_contrast
from rlcredit.experiments.directory import EVAL_FILE, EXPERIMENT_FILE, load_experiment, newest_experiment
from rlcredit.experiments.figures import experiment_figures
from rlcredit.experiments.pieces import (
    PieceResult,
    piece_finished,
    prepare_experiment,
    run_piece,
    run_piece_safely,
)
from rlcredit.experiments.report import write_report
from rlcredit.experiments.spec import ExperimentSpec, expand_pieces
from rlcredit.tracking import WANDB_MODES, WandbMirror, WandbMode
from rlcredit.tracking.lock import DirLock

__all__ = [
    "EVAL_FILE",
    "EXPERIMENT_FILE",
    "ExperimentResult",
    "PieceResult",
    "finish_experiment",
    "load_experiment",
    "newest_experiment",
    "prepare_experiment",
    "run_experiment",
    "run_piece",
    "run_piece_safely",
    "summary_lines",
]


@dataclass(frozen=True)
class ExperimentResult:
    """A finished (or partly finished) experiment.

    Attributes
    ----------
    exp_dir : Path
    spec : ExperimentSpec
        The resolved spec (seeds included).
    results : list of PieceResult
        One per piece, in piece order.
    report : Path or None
        ``report.html`` (None if it could not be written).
    wall_time : float
        Seconds for the whole call.
    """

    exp_dir: Path
    spec: ExperimentSpec
    results: list[PieceResult]
    report: Path | None
    wall_time: float

    @property
    def failed(self) -> list[PieceResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed


Log = Callable[[str], None]


def run_experiment(
    spec: ExperimentSpec,
    *,
    out: str | os.PathLike[str] | None = None,
    root: str | os.PathLike[str] = "runs",
    backend: Literal["local", "ray"] = "local",
    address: str | None = None,
    workers: int | None = None,
    wandb: WandbMode | None = None,
    log: Log | None = print,
) -> ExperimentResult:
    """Run every unfinished piece of an experiment, then write the contrast table, figures and report.

    Parameters
    ----------
    spec : ExperimentSpec
    out : path-like, optional
        The experiment directory; default ``ROOT/NAME/YYYYmmdd-HHMMSS``. An existing experiment directory is
        continued (finished pieces are skipped).
    root : path-like
        Parent of default experiment directories.
    backend : {"local", "ray"}
        Local process pool, or Ray tasks (see :mod:`rlcredit.experiments.backends`).
    address : str, optional
        Ray cluster address (``"auto"`` or ``HOST:PORT``); None starts a local Ray.
    workers : int, optional
        Parallel pieces (local: default all cores; 1 runs the pieces in this process).
    wandb : {"offline", "online", "disabled"}, optional
        Every piece is a wandb run in the group ``NAME-RUN_ID``; the contrast table is logged to it too.
        Default ``"offline"``; a continued experiment keeps the mode it was started with unless another is
        given (then the log says so).
    log : callable or None
        Receives progress lines (default ``print``).

    Returns
    -------
    ExperimentResult
    """
    if wandb is not None and wandb not in WANDB_MODES:
        raise ValueError(f"--wandb must be one of {', '.join(WANDB_MODES)}; got {wandb!r}")
    say = log or (lambda _line: None)
    t0 = time.perf_counter()
    exp_dir, spec, info = prepare_experiment(spec, out, root=root, wandb=wandb)
    started_with = cast(WandbMode, info["wandb"])
    if wandb is not None and wandb != started_with:
        say(f"  wandb: {wandb} as asked (this experiment was started with {started_with})")
    wandb = wandb or started_with
    exp_dir = exp_dir.resolve()
    # One `rlcredit run` per experiment directory (a second one fails here naming the holder's pid). Released
    # at the end; after an exception, when this frame goes (the process exits, or the traceback is dropped).
    lock = DirLock(exp_dir, what="experiment directory").acquire()
    pieces = expand_pieces(spec, exp_dir, wandb=wandb, group=info["group"])
    todo = [p for p in pieces if not piece_finished(p)]
    runner = make_backend(backend, address=address, workers=workers)
    n_agents, n_seeds = len({p.agent for p in pieces}), len(spec.seed_list)
    say(f"experiment {spec.name}: {spec.question}")
    say(
        f"  {len(pieces)} pieces ({_n(n_agents, 'agent')} x {_n(len(spec.envs), 'training env')} x "
        f"{_n(n_seeds, 'seed')}) in {exp_dir}"
    )
    if len(todo) < len(pieces):
        say(f"  {len(pieces) - len(todo)} already finished, {len(todo)} to run")
    say(f"  backend: {runner.describe(len(todo))}; wandb: {wandb} (group {info['group']})")

    results: dict[str, PieceResult] = {}
    done = [0]
    width = max((len(p.name) for p in pieces), default=0)

    def on_result(r: PieceResult) -> None:
        results[r.name] = r
        done[0] += 1
        say(_progress_line(r, done[0], len(todo), width))
        for w in r.warnings:
            say(f"    warning: {w}")

    if todo:
        try:
            with ProgressTicker(todo, say):  # long pieces are never silent: a status line every few seconds
                runner.run(todo, on_result)
        except KeyboardInterrupt:
            say(f"  interrupted: finished pieces are kept; continue with: rlcredit run --resume {exp_dir}")
            raise
    for p in pieces:
        if p.name not in results:
            results[p.name] = PieceResult(p.name, p.agent, "skipped")
    ordered = [results[p.name] for p in pieces]
    report = finish_experiment(exp_dir, spec, info, wandb=wandb, log=say)
    lock.release()
    return ExperimentResult(exp_dir, spec, ordered, report, time.perf_counter() - t0)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _progress_line(r: PieceResult, i: int, n: int, width: int) -> str:
    head = f"  [{i:>{len(str(n))}}/{n}] {r.name:<{width}}"
    if r.status == "failed":
        return f"{head}  FAILED after {r.seconds:.1f}s: {r.error}"
    bits = []
    for k, v in r.headline.items():
        if k == "return":
            bits.append(f"return {v:+.2f}")
        else:
            bits.append(f"{k.removeprefix('reach_').removeprefix('region_')} {v:.0%}")
    return f"{head}  {r.status:<4} {r.seconds:6.1f}s  " + "  ".join(bits)


def finish_experiment(
    exp_dir: str | os.PathLike[str],
    spec: ExperimentSpec | None = None,
    info: dict[str, Any] | None = None,
    *,
    wandb: WandbMode = "disabled",
    log: Log | None = print,
) -> Path | None:
    """Contrast table, figures, wandb table and report from the run directories' files.

    Works on a partly finished experiment (agents without a finished piece are left out). Returns the
    report's path, or None if no piece has finished yet.
    """
    say = log or (lambda _line: None)
    exp_dir = Path(exp_dir)
    if spec is None or info is None:
        spec, info = load_experiment(exp_dir)
    evals, table = build_contrast(exp_dir, spec)
    if table.empty:
        say("  no finished piece yet: no contrast table")
        return None
    write_contrast(exp_dir, spec, evals, table)
    say(f"  contrast table written; drawing the experiment's figures ({len(evals)} evaluations) ...")
    for problem in experiment_figures(exp_dir, spec, evals, table):
        say(f"    warning: {problem}")
    if wandb != "disabled":
        _wandb_contrast(exp_dir, spec, info, table, wandb)
    say("  writing report.html ...")
    return write_report(exp_dir, table=table)


def _wandb_contrast(
    exp_dir: Path, spec: ExperimentSpec, info: dict[str, Any], table: Any, mode: WandbMode
) -> None:
    group = info.get("group", spec.name)
    with WandbMirror(
        mode,
        group=group,
        job_type="contrast",
        name=f"{group}-contrast",
        tags=(spec.name,),
        config={"spec": to_dict(spec)},
        dir=exp_dir,
    ) as wb:
        wb.log_table("contrast", table)
        for png in sorted((exp_dir / "plots").glob("*.png")):
            wb.log_image(f"plots/{png.stem}", png)


def summary_lines(result: ExperimentResult, *, metrics: Sequence[str] | None = None) -> list[str]:
    """The closing lines of ``rlcredit run``: one line per agent x env, failures, then where everything is
    (the report's path last)."""
    lines = []
    _, table = build_contrast(result.exp_dir, result.spec)
    if not table.empty:
        lines += headline(table, metrics or result.spec.metrics)
    n_failed = len(result.failed)
    if n_failed:
        lines.append(f"{n_failed} of {len(result.results)} pieces failed:")
        lines += [f"  {r.name}: {r.error}" for r in result.failed]
        lines.append(f"finish them with: rlcredit run --resume {result.exp_dir}")
    lines.append(f"experiment directory: {result.exp_dir}  ({result.wall_time:.0f} s)")
    if result.report is not None:
        lines.append(f"report: {result.report}")
    return lines
