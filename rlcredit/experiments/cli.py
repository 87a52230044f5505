"""``rlcredit run``, ``rlcredit sweep``, ``rlcredit report`` and ``rlcredit demo``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

EXAMPLES = {
    "run": (
        "examples:\n"
        "  rlcredit run runs/wirehead.toml\n"
        "  rlcredit run runs/cheese.toml --seeds 100 --backend ray --address auto --wandb online\n"
        "  rlcredit run runs/demo.toml --out runs/demo/mine --workers 2 --wandb disabled\n"
        "  rlcredit run runs/wirehead.toml -o trainers.ppo.steps=20000     # override a spec key\n"
        "  rlcredit run --resume runs/wirehead/20250101-120000              # finish an interrupted experiment"
    ),
    "sweep": (
        "examples:\n"
        "  rlcredit sweep runs/credit_anatomy.toml --set ppo.config.gae_lambda=0.5,0.9,0.95,1.0\n"
        "  rlcredit sweep runs/demo.toml --set ppo.config.lr=1e-3,3e-4 --set ppo.config.ent_coef=0,0.01 --seeds 5"
    ),
    "report": "examples:\n  rlcredit report runs/wirehead/20250101-120000",
    "demo": "examples:\n  rlcredit demo\n  rlcredit demo --out /tmp/demo --wandb disabled",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="run seeds 0..N-1 (default: the spec's; added to an existing experiment's)",
    )
    p.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local process pool (default) or Ray tasks",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="auto|HOST:PORT",
        help="Ray cluster to join (default: start a local Ray with --workers CPUs, 2 if not given)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="K",
        help="pieces run at once (local default: all cores; 1 runs in this process)",
    )
    p.add_argument(
        "--wandb",
        choices=["offline", "online", "disabled"],
        default="offline",
        help="each piece is a wandb run in one group per experiment (default offline: `wandb sync` later)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="experiment directory (default runs/NAME/YYYYmmdd-HHMMSS); an existing one is continued",
    )
    p.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec key, e.g. trainers.ppo.steps=20000 (repeatable)",
    )


def _load(args: argparse.Namespace, spec_arg: str | None):
    from rlcredit.cli import UserError
    from rlcredit.experiments.runner import load_experiment
    from rlcredit.experiments.spec import load_spec

    if getattr(args, "resume", None):
        if spec_arg is not None:
            raise UserError("give either a SPEC or --resume EXP_DIR, not both")
        if args.override:
            raise UserError("--override changes the spec; --resume continues an experiment as it is")
        if args.out is not None:
            raise UserError("--resume EXP_DIR already names the experiment directory; drop --out")
        spec, _ = load_experiment(args.resume)
        out = args.resume
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


def _execute(args: argparse.Namespace, spec, out) -> int:
    from rlcredit.cli import UserError
    from rlcredit.experiments.runner import run_experiment, summary_lines

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
    return 0 if result.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    """Run an experiment spec (every trainer and planner x seed), then contrast, plot and report."""
    if args.spec and _is_steering_spec(args.spec):
        return _run_steering_spec(args)
    spec, out = _load(args, args.spec)
    return _execute(args, spec, out)


def _is_steering_spec(path: str) -> bool:
    """A steering spec (``runs/steering.toml``) has a ``[steer]`` table; it is run by ``rlcredit steer``."""
    from pathlib import Path

    from rlcredit.config import read_toml

    p = Path(path)
    return p.suffix == ".toml" and p.is_file() and "steer" in read_toml(p)


def _run_steering_spec(args: argparse.Namespace) -> int:
    from rlcredit.cli import UserError
    from rlcredit.steering.cli import cmd_steer

    if args.resume or args.seeds is not None or args.backend != "local" or args.override:
        raise UserError(
            f"{args.spec} is a steering spec: only --out and --wandb apply (see rlcredit steer --help)"
        )
    from rlcredit.cli import build_parser

    argv = ["steer", "--spec", args.spec, "--wandb", args.wandb] + (["--out", args.out] if args.out else [])
    steer_args = build_parser().parse_args(argv)
    return cmd_steer(steer_args)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a spec over a grid of config values (x seeds)."""
    from rlcredit.cli import UserError
    from rlcredit.experiments.spec import parse_sweep_args

    if not args.set:
        raise UserError("sweep needs at least one --set AGENT.config.KEY=V1,V2,...")
    spec, out = _load(args, args.spec)
    spec = spec.with_sweep(parse_sweep_args(args.set), source=f"{args.spec} --set")
    return _execute(args, spec, out)


def cmd_report(args: argparse.Namespace) -> int:
    """Rebuild the contrast table, figures and report.html of an experiment directory."""
    from rlcredit.cli import UserError
    from rlcredit.experiments.runner import finish_experiment

    report = finish_experiment(args.exp_dir, log=lambda line: print(line, flush=True))
    if report is None:
        raise UserError(f"no piece of {args.exp_dir} has finished yet: nothing to report")
    print(report)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The wirehead demo: does a PPO- or REINFORCE-trained policy press the button that planners press?"""
    from rlcredit.experiments.runner import run_experiment, summary_lines
    from rlcredit.experiments.spec import load_spec, specs_dir

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
    return 0 if result.ok else 1


def add_cli(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``run``, ``sweep``, ``report`` and ``demo`` with the ``rlcredit`` command."""
    p = add(
        "run",
        "run an experiment spec: trainers and planners x seeds, then contrast table, plots, report",
        cmd_run,
        EXAMPLES["run"],
    )
    p.add_argument(
        "spec",
        nargs="?",
        metavar="SPEC",
        help="runs/NAME.toml (or a shipped spec's name: demo, wirehead, ...)",
    )
    p.add_argument("--resume", default=None, metavar="EXP_DIR", help="continue an experiment directory")
    _common(p)

    p = add("sweep", "run a spec over a grid of config values (x seeds)", cmd_sweep, EXAMPLES["sweep"])
    p.add_argument("spec", metavar="SPEC", help="runs/NAME.toml")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="AGENT.config.KEY=V1,V2,...",
        help="values to sweep (repeatable: the grid is their product)",
    )
    _common(p)

    p = add(
        "report",
        "(re)build an experiment's contrast table, figures and self-contained report.html",
        cmd_report,
        EXAMPLES["report"],
    )
    p.add_argument("exp_dir", metavar="EXPERIMENT_DIR", help="runs/NAME/RUN_ID")

    p = add(
        "demo",
        "a small wirehead experiment (ButtonRoom; PPO, REINFORCE, value iteration, MCTS): ~2 minutes",
        cmd_demo,
        EXAMPLES["demo"],
    )
    p.add_argument(
        "--out", default=None, metavar="DIR", help="experiment directory (default runs/demo/YYYYmmdd-HHMMSS)"
    )
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], default="offline")
    p.add_argument(
        "--workers", type=int, default=None, metavar="K", help="parallel pieces (default: all cores)"
    )
