"""``rlcredit steer``: the cheese vector of a trained policy, and what adding it does to where the policy goes.

Two ways in::

    rlcredit steer RUN_DIR --layer actor.0.4 --alpha -1 --mazes 100      # a trained run directory
    rlcredit steer --spec runs/steering.toml                               # train as the spec says, then steer

Outputs (``--out``, default ``RUN_DIR/steering-LAYER``, or ``runs/NAME`` for a spec): see
:mod:`rlcredit.steering.run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rlcredit.cli.common import UserError
from rlcredit.steering.experiment import SteeringSpec, load_steering_spec, with_overrides
from rlcredit.steering.run import print_layers, run_steering, train_for_spec
from rlcredit.trainers.load import load_policy

__all__ = ["run_steer"]


def run_steer(args: argparse.Namespace) -> int:
    """Steer a trained policy (RUN_DIR, or the one a --spec trains) and report what it does."""
    if args.spec is None and args.run_dir is None:
        raise UserError("give RUN_DIR or --spec FILE")
    if args.set and args.spec is None:
        raise UserError("--set overrides values of a --spec file")
    spec = load_steering_spec(args.spec, overrides=args.set) if args.spec else SteeringSpec()
    cfg = with_overrides(
        spec.steer,
        layer=args.layer,
        alpha=args.alpha,
        alphas=args.alphas,
        mazes=args.mazes,
        env=args.env,
        first_seed=args.first_seed,
        example=args.example,
    )
    if args.run_dir is not None:
        run_dir = Path(args.run_dir)
        out = Path(args.out) if args.out else run_dir / f"steering-{cfg.layer}"
    else:
        if spec.train is None:
            raise UserError(f"{args.spec} has no [train] table; give the RUN_DIR of a trained policy")
        out = Path(args.out) if args.out else Path("runs") / spec.name
        run_dir = train_for_spec(spec.train, out / "train", wandb=args.wandb)
    policy = load_policy(run_dir)
    policy.eval()
    if args.list_layers:
        print_layers(policy)
        return 0
    run_steering(policy, cfg, out, run_dir=run_dir, spec=spec)
    return 0
