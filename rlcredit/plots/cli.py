"""``rlcredit plot PATH``: every figure of a run directory or an experiment directory."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

EXAMPLES = (
    "examples:\n"
    "  rlcredit plot runs/ppo-ButtonRoom-20250101-120000-ab12\n"
    "  rlcredit plot runs/wirehead/            (an experiment: comparison figures + every run's figures)\n"
    "  rlcredit plot runs/wirehead/ --no-runs --contrast runs/wirehead/contrast.csv\n"
    "  rlcredit plot RUN_DIR --update 40 --greedy"
)


def cmd_plot(args: argparse.Namespace) -> int:
    """Make the figures and print where they went."""
    from rlcredit.plots.make import plot_path

    paths = plot_path(
        args.path,
        update=args.update,
        per_run=not args.no_runs,
        contrast=args.contrast,
        seed=args.seed,
        greedy=args.greedy,
    )
    by_dir: dict[Path, int] = {}
    for p in paths:
        by_dir[p.parent] = by_dir.get(p.parent, 0) + 1
    if not paths:
        print(f"no figures apply to {args.path} (no metrics, shaping or credit files yet)")
    for d, n in by_dir.items():
        print(f"wrote {n} files to {d}")
    return 0


def add_cli(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``rlcredit plot``."""
    p = add(
        "plot",
        "make the figures of a run directory or an experiment directory (PNG + SVG + GIF in plots/)",
        cmd_plot,
        EXAMPLES,
    )
    p.add_argument(
        "path", metavar="RUN_OR_EXPERIMENT_DIR", help="a run directory, or a directory of run directories"
    )
    p.add_argument(
        "--update",
        type=int,
        default=None,
        help="logged update to show: the shaping map (default: the one that moved never-visited states most), "
        "the policy field and the episode (default: the last)",
    )
    p.add_argument("--no-runs", action="store_true", help="for an experiment: only the comparison figures")
    p.add_argument(
        "--contrast", default=None, help="contrast CSV (default EXPERIMENT_DIR/contrast.csv if present)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the replayed episode (default 0)")
    p.add_argument(
        "--greedy", action="store_true", help="replay the most probable actions instead of sampling"
    )
