"""``rlcredit run``, ``rlcredit sweep``, ``rlcredit report`` and ``rlcredit demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlcredit.cli.common import UserError
from rlcredit.cli.parser import build_parser
from rlcredit.cli.steer import run_steer
from rlcredit.config import read_toml
from rlcredit.experiments.contrast import piece_problems
from rlcredit.experiments.runner import (
    finish_experiment,
    load_experiment,
    newest_experiment,
    run_experiment,
    summary_lines,
)
from rlcredit.experiments.spec import ExperimentSpec, load_spec, parse_sweep_args, specs_dir
from rlcredit.tracking.wandb_mirror import sync_hint

__all__ = ["run_demo", "run_report", "run_run", "run_sweep"]


def _load(args: argparse.Namespace, spec_arg: str | None) -> tuple[ExperimentSpec, str | Path | None]:
    """The spec to run and the experiment directory (None: a new one under runs/NAME/)."""
    resume = getattr(args, "resume", None)
    out: str | Path | None
    if resume is True:
        # `rlcredit run SPEC --resume`: the newest experiment of SPEC, continued as it is.
        if spec_arg is None:
            raise UserError("--resume without EXP_DIR needs the SPEC whose newest experiment to continue")
        if args.override:
            raise UserError("--override changes the spec; --resume continues an experiment as it is")
        if args.out is not None:
            raise UserError("--out names the experiment directory: give it as --resume EXP_DIR instead")
        out = newest_experiment(load_spec(spec_arg))
        spec, _ = load_experiment(out)
    elif resume:
        if spec_arg is not None:
            raise UserError("give either a SPEC or --resume EXP_DIR, not both")
        if args.override:
            raise UserError("--override changes the spec; --resume continues an experiment as it is")
        if args.out is not None:
            raise UserError("--resume EXP_DIR already names the experiment directory; drop --out")
        spec, _ = load_experiment(resume)
        out = resume
    else:
        if spec_arg is None:
            raise UserError("give a spec file (e.g. runs/wirehead.toml) or --resume EXP_DIR")
        spec = load_spec(spec_arg, overrides=args.override)
        out = args.out
    if args.seeds is not None:
        if args.seeds < 1:
            raise UserError(f"--seeds must be >= 1, got {args.seeds}")
        spec = spec.with_seeds(args.seeds)
    return spec, out


def _execute(args: argparse.Namespace, spec: ExperimentSpec, out: str | Path | None) -> int:
    try:
        result = run_experiment(
            spec,
            out=out,
            backend=args.backend,
            address=args.address,
            workers=args.workers,
            wandb=args.wandb,
            log=lambda line: print(line, flush=True),
        )
    except ImportError as e:
        raise UserError(str(e)) from None
    print()
    for line in summary_lines(result):
        print(line)
    hint = sync_hint(result.exp_dir)
    if hint:
        print(hint)
    return 0 if result.ok else 1


def run_run(args: argparse.Namespace) -> int:
    """Run an experiment spec (every trainer and planner x seed), then contrast, plot and report."""
    if args.spec and _is_steering_spec(args.spec):
        return _run_steering_spec(args)
    spec, out = _load(args, args.spec)
    return _execute(args, spec, out)


def _is_steering_spec(path: str) -> bool:
    """A steering spec (``runs/steering.toml``) has a ``[steer]`` table; it is run by ``rlcredit steer``."""
    p = Path(path)
    return p.suffix == ".toml" and p.is_file() and "steer" in read_toml(p)


def _run_steering_spec(args: argparse.Namespace) -> int:
    if args.resume or args.seeds is not None or args.backend != "local" or args.override:
        raise UserError(
            f"{args.spec} is a steering spec: only --out and --wandb apply (see rlcredit steer --help)"
        )
    argv = ["steer", "--spec", args.spec, "--wandb", args.wandb or "offline"] + (
        ["--out", args.out] if args.out else []
    )
    return run_steer(build_parser().parse_args(argv))


def run_sweep(args: argparse.Namespace) -> int:
    """Run a spec over a grid of config values (x seeds)."""
    if not args.set:
        raise UserError("sweep needs at least one --set AGENT.config.KEY=V1,V2,...")
    spec, out = _load(args, args.spec)
    spec = spec.with_sweep(parse_sweep_args(args.set), source=f"{args.spec} --set")
    return _execute(args, spec, out)


def run_report(args: argparse.Namespace) -> int:
    """Rebuild the contrast table, figures and report.html of an experiment directory.

    Pieces that are missing, unfinished or unreadable are listed as warnings; without ``--partial`` they are
    an error, so a contrast table never silently lacks an agent or a seed.
    """
    spec, _ = load_experiment(args.exp_dir)
    problems = piece_problems(args.exp_dir, spec)
    for line in problems:
        print(f"rlcredit: warning: {line}", file=sys.stderr)
    if problems and not args.partial:
        n = len(problems)
        raise UserError(
            f"{args.exp_dir}: {n} piece{'s' if n > 1 else ''} missing, unfinished or unreadable (listed above); "
            "finish them with `rlcredit run --resume`, or build the report anyway with --partial"
        )
    report = finish_experiment(args.exp_dir, log=lambda line: print(line, flush=True))
    if report is None:
        raise UserError(f"no piece of {args.exp_dir} has finished yet: nothing to report")
    print(report)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """The wirehead demo: does a PPO- or REINFORCE-trained policy press the button that planners press?"""
    spec = load_spec(specs_dir() / "demo.toml")
    result = run_experiment(
        spec,
        out=args.out,
        backend="local",
        workers=args.workers,
        wandb=args.wandb,
        log=lambda line: print(line, flush=True),
    )
    print()
    lines = summary_lines(result)
    if result.report is not None:
        lines[-1] = "open the report:"
        lines.append(str(result.report))
    for line in lines:
        print(line)
    hint = sync_hint(result.exp_dir)
    if hint:
        print(hint)
    return 0 if result.ok else 1
