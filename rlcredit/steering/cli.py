"""``rlcredit steer``: the cheese vector of a trained policy, and what adding it does to where the policy goes.

Registered by :func:`add_cli` (``rlcredit.cli`` imports this module). Two ways in::

    rlcredit steer RUN_DIR --layer actor.0.4 --alpha -1 --mazes 100      # a trained run directory
    rlcredit steer --spec runs/steering.toml                               # train as the spec says, then steer

Outputs (``--out``, default ``RUN_DIR/steering-LAYER``, or ``runs/NAME`` for a spec): ``steering.csv`` (one row
per maze and intervention, see :class:`~rlcredit.steering.experiment.SteeringResult`), ``summary.json`` (means and
bootstrap CIs per alpha), ``vectors.safetensors`` (every maze's cheese vector), and ``plots/`` (PNG + SVG).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from rlcredit.steering.experiment import SteerConfig, SteeringSpec, TrainSpec

EXAMPLES = (
    "examples:\n"
    "  rlcredit steer --spec runs/steering.toml\n"
    "  rlcredit steer RUN_DIR --list-layers\n"
    "  rlcredit steer RUN_DIR --layer actor.0.4 --alpha -1 --mazes 100\n"
    "  rlcredit steer RUN_DIR --layer actor.2 --alphas=-3:1:9 --out steer-actor2"
)


def parse_alphas(text: str) -> tuple[float, ...]:
    """``"-3:1:9"`` (start:stop:count, inclusive) or ``"-1,0,1"`` -> a tuple of floats."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            return tuple(float(a) for a in np.round(np.linspace(float(lo), float(hi), int(n)), 10))
        return tuple(float(a) for a in text.split(",") if a.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP:COUNT or a comma list of numbers, got {text!r}"
        ) from None


def add_cli(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``rlcredit steer``."""
    p = add(
        "steer",
        "steer a trained policy with its cheese vector and measure P(cheese) vs alpha exactly",
        cmd_steer,
        EXAMPLES,
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a training run directory with a checkpoint")
    p.add_argument(
        "--spec",
        default=None,
        help="a steering spec (runs/steering.toml): trains its [train] policy unless RUN_DIR is given",
    )
    p.add_argument(
        "--layer", default=None, help=f"layer name (default {SteerConfig.layer}; see --list-layers)"
    )
    p.add_argument("--alpha", type=float, default=None, help="alpha of the vector-field figure (default -1)")
    p.add_argument(
        "--alphas",
        type=parse_alphas,
        default=None,
        help="alphas of the sweep: --alphas=START:STOP:COUNT or a comma list (default -3:1:9)",
    )
    p.add_argument("--mazes", type=int, default=None, help="number of test mazes (default 100)")
    p.add_argument("--env", default=None, help="test env (default rlcredit/CheeseMazeAnywhere-v0)")
    p.add_argument("--first-seed", type=int, default=None, help="first layout seed of the test mazes")
    p.add_argument(
        "--example", type=int, default=None, help="index of the test maze in the vector-field figure"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set train.steps=100000 (repeatable)",
    )
    p.add_argument("--out", default=None, help="output directory")
    p.add_argument(
        "--list-layers", action="store_true", help="print the policy's layers and activation shapes"
    )
    p.add_argument(
        "--wandb",
        choices=["offline", "online", "disabled"],
        default="offline",
        help="wandb mirror of the training run (spec mode)",
    )


def cmd_steer(args: argparse.Namespace) -> int:
    from rlcredit.cli import UserError
    from rlcredit.steering.experiment import load_steering_spec, with_overrides

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
    from rlcredit.train import load_policy

    policy = load_policy(run_dir)
    policy.eval()
    if args.list_layers:
        print_layers(policy)
        return 0
    run_steering(policy, cfg, out, run_dir=run_dir, spec=spec)
    return 0


def train_for_spec(t: TrainSpec, run_dir: Path, *, wandb: str = "offline") -> Path:
    """Train the spec's policy into ``run_dir``, or reuse it if a completed run is already there."""
    from rlcredit.train import train

    summary = run_dir / "summary.json"
    if summary.is_file() and json.loads(summary.read_text()).get("status") == "completed":
        print(f"using the trained policy in {run_dir}", file=sys.stderr)
        return run_dir
    config = dict(t.config)
    env: Any = t.env
    if t.env_kwargs:
        from rlcredit.steering.experiment import EnvFactory

        # rlcredit.train takes env keyword arguments only through a factory; obs then goes to rlcredit.make
        env = EnvFactory(t.env, obs=config.pop("obs", "grid"), **t.env_kwargs)
    if run_dir.exists():
        return Path(train(resume=run_dir, env=env, wandb=wandb).dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(
        train(t.algo, env=env, steps=t.steps, seed=t.seed, out_dir=run_dir, wandb=wandb, config=config).dir
    )


def print_layers(policy) -> None:
    """Every layer of ``policy.actor`` with its activation shape on one grid observation."""
    import torch

    from rlcredit.steering.hooks import activations, layer_names

    names = [n for n in layer_names(policy) if n.startswith("actor")]
    x = torch.zeros((1, *policy.obs_spec.shape))
    acts = activations(policy, x, names)
    for n in names:
        module = dict(policy.named_modules())[n]
        print(f"{n:<14} {type(module).__name__:<12} {tuple(acts[n].shape[1:])}")


def run_steering(
    policy, cfg: SteerConfig, out: Path, *, run_dir: Path | None = None, spec: SteeringSpec | None = None
) -> dict[str, Any]:
    """Run the sweep, write ``out`` (tables, vectors, plots), print a summary table; returns the summary."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches of one maze's states: more threads only add synchronisation
    try:
        return _run_steering(policy, cfg, out, run_dir=run_dir, spec=spec)
    finally:
        torch.set_num_threads(threads)


def _run_steering(
    policy, cfg: SteerConfig, out: Path, *, run_dir: Path | None, spec: SteeringSpec | None
) -> dict[str, Any]:
    import safetensors.torch

    from rlcredit.config import to_dict
    from rlcredit.steering.behaviour import layouts_of, maze_behaviour, policy_table
    from rlcredit.steering.experiment import maze_spec, select_mazes, steering_sweep, summarize
    from rlcredit.steering.figures import alpha_effect, steering_field
    from rlcredit.steering.hooks import get_module, steer
    from rlcredit.steering.vectors import without_kind
    from rlcredit.tracking import atomic_write_bytes, atomic_write_json, atomic_write_text

    get_module(policy, cfg.layer)
    if len(policy.obs_spec.shape) != 3:
        raise ValueError(
            f"steering needs a policy of grid observations (C, H, W); this one reads {policy.obs_spec}"
        )
    mspec = maze_spec(cfg.env)
    seeds, layouts = select_mazes(mspec, cfg.mazes, first_seed=cfg.first_seed, exclude=cfg.exclude or None)
    alphas = tuple(sorted(set(cfg.alphas) | {0.0, cfg.alpha}))

    def progress(i: int, n: int) -> None:
        if sys.stderr.isatty():
            print(f"\rsteering: maze {i}/{n}", end="" if i < n else "\n", file=sys.stderr, flush=True)

    result = steering_sweep(policy, cfg.layer, layouts, alphas, seeds=seeds, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "steering.csv", result.table.to_csv(index=False))
    blob = safetensors.torch.save(
        {"cheese_vectors": result.vectors.contiguous()},
        metadata={"layer": cfg.layer, "layout_seeds": json.dumps(seeds)},
    )
    atomic_write_bytes(out / "vectors.safetensors", blob)

    # in distribution: held-out mazes of the training env (cheese in the top-right region), with and without
    # the cheese in the observation
    train_env = cfg.train_env
    in_seeds = range(cfg.first_seed, cfg.first_seed + cfg.mazes)
    p_in, p_in_removed = [], []
    for lay in layouts_of(maze_spec(train_env), in_seeds):
        kind = lay.kinds.index("cheese")
        p_in.append(maze_behaviour(lay, policy_table(policy.action_probs, lay)).p_cheese)
        removed = policy_table(policy.action_probs, lay, edit=lambda o, k=kind: without_kind(o, k))
        p_in_removed.append(maze_behaviour(lay, removed).p_cheese)

    summary = summarize(result)
    summary.update(
        {
            "config": to_dict(cfg),
            "run_dir": str(run_dir) if run_dir is not None else None,
            "question": spec.question if spec is not None else "",
            "layout_seeds": seeds,
            "in_distribution": {
                "env": train_env,
                "layout_seeds": [in_seeds[0], in_seeds[-1]],
                "p_cheese": float(np.mean(p_in)),
                "p_cheese_removed": float(np.mean(p_in_removed)),
            },
        }
    )
    atomic_write_json(out / "summary.json", summary)

    i = cfg.example
    layout, vec = layouts[i], result.vectors[i]
    before = policy_table(policy.action_probs, layout)
    with steer(policy, cfg.layer, vec, cfg.alpha):
        after = policy_table(policy.action_probs, layout)
    plots = out / "plots"
    steering_field(
        layout,
        before,
        after,
        alpha=cfg.alpha,
        layer=cfg.layer,
        layout_seed=seeds[i],
        stats_before=maze_behaviour(layout, before),
        stats_after=maze_behaviour(layout, after),
    ).save(plots)
    alpha_effect(result, selection=_selection(cfg)).save(plots)

    print(format_summary(summary))
    print(f"wrote {out}/steering.csv, summary.json, vectors.safetensors, plots/")
    return summary


def _selection(cfg: SteerConfig) -> str:
    where = f" with the cheese outside {cfg.exclude}" if cfg.exclude else ""
    return f"test mazes of {cfg.env.removeprefix('rlcredit/')}{where} that have a decision square"


def format_summary(summary: dict[str, Any]) -> str:
    """A text table per intervention and alpha: mean P(cheese) [95% CI], P(corner), P(towards the cheese) at the
    decision square, and the mean per-maze gap of P(corner) to the cheese-removed policy."""
    ind = summary["in_distribution"]
    lines = [
        f"layer {summary['layer']}, {summary['mazes']} test mazes; held-out mazes of {ind['env']}: "
        f"P(cheese) = {ind['p_cheese']:.3f}, {ind['p_cheese_removed']:.3f} with the cheese removed",
        f"{'intervention':<12} {'alpha':>6}  {'P(cheese) [95% CI]':<24} {'P(corner)':>9}  {'P(towards)':>10}"
        f"  {'|P(corner) - removed|':>21}",
    ]
    for row in summary["rows"]:
        lo, hi = row["p_cheese_ci"]
        alpha = "" if row["alpha"] is None else f"{row['alpha']:g}"
        lines.append(
            f"{row['intervention']:<12} {alpha:>6}  {row['p_cheese']:.3f} [{lo:.3f}, {hi:.3f}]{'':<6} "
            f"{row['p_corner']:>9.3f}  {row['p_toward_cheese']:>10.3f}  {row.get('gap_p_corner', float('nan')):>21.4f}"
        )
    return "\n".join(lines)
