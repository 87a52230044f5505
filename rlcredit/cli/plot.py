"""``rlcredit plot PATH``: every figure of a run directory or an experiment directory."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlcredit.experiments.contrast import build_contrast, piece_problems
from rlcredit.experiments.directory import load_experiment
from rlcredit.plots.make import plot_path

__all__ = ["run_plot"]


def run_plot(args: argparse.Namespace) -> int:
    """Make the figures and print where they went; for an experiment, first warn about every piece that is
    missing, unfinished or unreadable (its figures would silently lack it)."""

    spec = None
    if (Path(args.path) / "experiment.toml").is_file():
        spec, _ = load_experiment(args.path)
        for line in piece_problems(args.path, spec):
            print(f"rlcredit: warning: {line}", file=sys.stderr)
    paths = plot_path(
        args.path,
        update=args.update,
        per_run=not args.no_runs,
        contrast=args.contrast,
        seed=args.seed,
        greedy=args.greedy,
    )
    if spec is not None and spec.figures:
        # the spec's own figures (discoverability, power, history) too, from the same files as the run drew them;
        # deferred: POWER and the reach figures need the compiled planners (numba), which plain `plot` does not
        from rlcredit.experiments.figures import experiment_figures

        evals, table = build_contrast(args.path, spec)
        if not table.empty:
            for problem in experiment_figures(args.path, spec, evals, table, standard=False):
                print(f"rlcredit: warning: {problem}", file=sys.stderr)
            print(f"drew the spec's figures ({', '.join(spec.figures)}) in {Path(args.path) / 'plots'}")
    by_dir: dict[Path, int] = {}
    for p in paths:
        by_dir[p.parent] = by_dir.get(p.parent, 0) + 1
    if not paths:
        print(f"no figures apply to {args.path} (no metrics, shaping or credit files yet)")
    for d, n in by_dir.items():
        print(f"wrote {n} files to {d}")
    return 0
