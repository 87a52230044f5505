"""``rlcredit train``: train a policy with PPO or REINFORCE and write its run directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rlcredit.cli.common import UserError, env_kwargs
from rlcredit.config import dataclass_help, read_toml
from rlcredit.runs.schema import read_summary
from rlcredit.tracking.rundir import CONFIG_FILE
from rlcredit.tracking.wandb_mirror import sync_hint
from rlcredit.trainers.config import CONFIGS
from rlcredit.trainers.loop import Run, TrainingInterrupted, train

__all__ = ["run_train", "strip_algo_prefix"]

# What `--resume RUN_DIR` takes from the run directory, so these flags cannot apply (flag -> parsed value).
_FIXED_BY_RESUME = {
    "ALGO": "algo",
    "--env": "env",
    "--steps": "steps",
    "--seed": "seed",
    "--set": "set",
    "--config": "config",
    "--env-arg": "env_arg",
    "--env-kwargs": "env_kwargs",
    "--out": "out",
    "--preset": "preset",
}


def strip_algo_prefix(algo: str, overrides: list[str]) -> list[str]:
    """``--set ppo.lr=3e-4`` for ``rlcredit train ppo`` is ``lr=3e-4``: the key may name the trainer's table,
    as it does in a spec and in a ``--config`` file with a table named ALGO."""
    prefix = f"{algo}."
    return [item.removeprefix(prefix) if item.strip().startswith(prefix) else item for item in overrides]


def run_train(args: argparse.Namespace) -> int:
    """Train (or continue a run with ``--resume``), then print the run directory and its final figures.

    Interrupted (Ctrl-C, SIGTERM): the update under way finishes and is checkpointed, the command to continue
    is printed, and the exit status is 130.
    """
    try:
        run = _train(args)
    except TrainingInterrupted as e:
        print(f"rlcredit: interrupted: {e}", file=sys.stderr)
        return 130
    if run is None:
        return 0
    print(run.dir)
    s = read_summary(run.dir)
    if s is not None:
        print(
            f"  {s.global_step} steps, {s.updates} updates, "
            f"mean return (last 100 episodes) {s.return_mean:.3g}, {s.SPS or float('nan'):.0f} steps/s"
        )
    hint = sync_hint(run.dir)
    if hint:
        print(hint)
    return 0


def _train(args: argparse.Namespace) -> Run | None:
    if args.list_config:
        if args.algo is None:
            raise UserError("--list-config needs the trainer: rlcredit train ppo --list-config")
        rows = dataclass_help(CONFIGS[args.algo])
        width = max(len(r.name) for r in rows)
        for r in rows:
            print(f"{r.name.ljust(width)}  {r.type} = {r.default}\n{' ' * width}  {r.doc}")
        return None
    progress = False if args.no_progress else None
    if args.resume:
        given = [flag for flag, dest in _FIXED_BY_RESUME.items() if getattr(args, dest) not in (None, [])]
        if given:
            raise UserError(
                f"--resume continues {args.resume} with its stored algo, env, steps, seed and config; "
                f"drop {', '.join(given)}"
            )
        run = train(resume=args.resume, wandb=args.wandb, progress=progress, group=args.group)
    else:
        if args.algo is None or args.env is None or args.steps is None:
            raise UserError("rlcredit train needs ALGO, --env and --steps (or --resume RUN_DIR)")
        if args.out is not None and (Path(args.out) / CONFIG_FILE).is_file():
            raise UserError(
                f"{args.out} is already a run directory: continue it with rlcredit train --resume {args.out}, "
                "or give a new --out"
            )
        config: dict[str, Any] = {}
        if args.config:
            data = read_toml(args.config)
            config = data.get(args.algo, data)
        if args.preset is not None:
            config = {**config, "preset": args.preset}
        run = train(
            args.algo,
            env=args.env,
            steps=args.steps,
            seed=0 if args.seed is None else args.seed,
            out_dir=args.out,
            root=args.root,
            wandb=args.wandb,
            config=config,
            overrides=strip_algo_prefix(args.algo, args.set),
            progress=progress,
            group=args.group,
            env_kwargs=env_kwargs(args.env_kwargs, args.env_arg),
            announce=print,
        )
    return run
