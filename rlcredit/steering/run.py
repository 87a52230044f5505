"""Running a steering experiment: train (or reuse) the policy of a spec, sweep the cheese vector over test mazes,
write the outputs and print the summary.

Outputs (in ``out``): ``steering.csv`` (one row per maze and intervention, see
:class:`~rlcredit.steering.experiment.SteeringResult`), ``summary.json`` (means and bootstrap CIs per alpha),
``vectors.safetensors`` (every maze's cheese vector), and ``plots/`` (PNG + SVG).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from rlcredit.config import to_dict
from rlcredit.runs.schema import read_summary
from rlcredit.steering.behaviour import layouts_of, maze_behaviour, policy_table
from rlcredit.steering.experiment import (
    EnvFactory,
    SteerConfig,
    SteeringSpec,
    TrainSpec,
    maze_spec,
    select_mazes,
    steering_sweep,
    summarize,
)
from rlcredit.steering.figures import alpha_effect, steering_field
from rlcredit.steering.hooks import activations, get_module, layer_names, steer
from rlcredit.steering.vectors import without_kind
from rlcredit.tracking import WandbMode, atomic_write_bytes, atomic_write_json, atomic_write_text
from rlcredit.trainers.loop import train
from rlcredit.trainers.networks import Policy

__all__ = ["format_summary", "print_layers", "run_steering", "train_for_spec"]


def train_for_spec(t: TrainSpec, run_dir: Path, *, wandb: WandbMode = "offline") -> Path:
    """Train the spec's policy into ``run_dir``, or reuse it if a completed run is already there."""
    summary = read_summary(run_dir) if run_dir.is_dir() else None
    if summary is not None and summary.status == "completed":
        print(f"using the trained policy in {run_dir}", file=sys.stderr)
        return run_dir
    config = dict(t.config)
    env: Any = t.env
    if t.env_kwargs:
        # rlcredit.train takes env keyword arguments only through a factory; obs then goes to rlcredit.make
        env = EnvFactory(t.env, obs=config.pop("obs", "grid"), **t.env_kwargs)
    if run_dir.exists():
        return Path(train(resume=run_dir, env=env, wandb=wandb).dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(
        train(t.algo, env=env, steps=t.steps, seed=t.seed, out_dir=run_dir, wandb=wandb, config=config).dir
    )


def print_layers(policy: Policy) -> None:
    """Every layer of ``policy.actor`` with its activation shape on one grid observation."""
    names = [n for n in layer_names(policy) if n.startswith("actor")]
    x = torch.zeros((1, *policy.obs_spec.shape))
    acts = activations(policy, x, names)
    for n in names:
        module = dict(policy.named_modules())[n]
        print(f"{n:<14} {type(module).__name__:<12} {tuple(acts[n].shape[1:])}")


def run_steering(
    policy: Policy,
    cfg: SteerConfig,
    out: Path,
    *,
    run_dir: Path | None = None,
    spec: SteeringSpec | None = None,
) -> dict[str, Any]:
    """Run the sweep, write ``out`` (tables, vectors, plots), print a summary table; returns the summary."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # batches of one maze's states: more threads only add synchronisation
    try:
        return _run_steering(policy, cfg, out, run_dir=run_dir, spec=spec)
    finally:
        torch.set_num_threads(threads)


def _run_steering(
    policy: Policy, cfg: SteerConfig, out: Path, *, run_dir: Path | None, spec: SteeringSpec | None
) -> dict[str, Any]:
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
        removed = policy_table(policy.action_probs, lay, edit=functools.partial(without_kind, kind=kind))
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
