"""``rlcredit plan``: plan on an env's exact model, draw the plan, act for episodes, compute POWER."""

from __future__ import annotations

import argparse
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np

import rlcredit
from rlcredit.cli.common import UserError
from rlcredit.gridworld.core import Layout
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.observe import render_ansi
from rlcredit.mdp import TabularMDP
from rlcredit.planning import (
    backward_induction,
    make_planner,
    mcts,
    policy_prior,
    power,
    run_planner_episodes,
    value_iteration,
)
from rlcredit.planning.dp import FiniteHorizonResult, PlanResult
from rlcredit.planning.occupancy import layout_reach
from rlcredit.plots import power_heatmap
from rlcredit.plots.grid import power_digits, power_table
from rlcredit.runs.schema import RunConfig, RunSummary, keep_env_copy, write_config, write_summary
from rlcredit.tracking import MetricsWriter, RunDir, WandbMirror
from rlcredit.tracking.rundir import CONFIG_FILE
from rlcredit.trainers.load import load_policy

__all__ = ["draw_path", "greedy_path", "run_plan"]


def draw_path(layout: Layout, states: Sequence[int], chars: dict[str, str] | None = None) -> str:
    """The map with a path drawn on it: arrows for the moves, ``@`` for the start; ``chars`` maps kinds to letters."""
    W = layout.shape[1]
    chars = chars or {k: k[0].upper() for k in layout.kinds}
    grid = [list(row) for row in render_ansi(layout, None, chars).splitlines()]
    arrows = {"-1,0": "^", "0,1": ">", "1,0": "v", "0,-1": "<"}
    for a, b in itertools.pairwise(states):
        (r0, c0), (r1, c1) = divmod(int(layout.cell[int(a)]), W), divmod(int(layout.cell[int(b)]), W)
        if (r0, c0) != (r1, c1) and grid[r0][c0] in ".S":
            grid[r0][c0] = arrows.get(f"{r1 - r0},{c1 - c0}", "*")
    r, c = divmod(int(layout.cell[int(states[0])]), W)
    grid[r][c] = "@"
    return "\n".join("".join(row) for row in grid)


def greedy_path(
    layout: Layout, actions_at: Callable[[int, int], int], start: int, horizon: int | None
) -> tuple[list[int], float, list[str]]:
    """Follow a policy's intended moves (no slips) from ``start`` for ``horizon`` steps (None: until a terminal
    cell, at most one step per state): states, undiscounted return, events."""
    states, ret, events, s = [start], 0.0, [], start
    for t in range(horizon if horizon is not None else layout.num_states):
        a = actions_at(s, t)
        ret += float(layout.step_reward[s, a])
        if layout.event[s, a] >= 0:
            events.append(layout.kinds[layout.event[s, a]])
        s = int(layout.move[s, a])
        states.append(s)
        if layout.terminal[s]:
            break
    return states, ret, events


def _env_name(env: str) -> str:
    return Path(env).stem if env.endswith(".toml") else env.split("/")[-1]


def run_plan(args: argparse.Namespace) -> int:
    if args.episodes < 0:
        raise UserError(f"--episodes must be >= 0, got {args.episodes}")
    if args.out and args.episodes == 0 and not args.power:
        raise UserError(
            "--out is where --episodes N writes its run directory (and --power its heatmap); "
            "without either, nothing is written: add --episodes N or drop --out"
        )
    if args.out and args.episodes > 0 and (Path(args.out) / CONFIG_FILE).is_file():
        raise UserError(f"{args.out} is already a run directory: give a new --out")
    if args.out and args.power:
        taken = [p for p in POWER_FILES if (Path(args.out) / p).exists()]
        if taken:
            raise UserError(
                f"{Path(args.out) / taken[0]} exists: --power never overwrites an earlier heatmap; give a new "
                "--out (or none: a fresh runs/power-<env>-<time> directory)"
            )
    kwargs = {} if args.layout_seed is None else {"layout_seed": args.layout_seed}
    env = rlcredit.make(args.env, **kwargs)
    base = env.unwrapped
    if not isinstance(base, GridWorldEnv):
        raise UserError(
            f"{args.env} has no exact model: rlcredit plan needs a gridworld (an rlcredit id or map file)"
        )
    env.reset(seed=args.seed)
    lay = base.layout
    m = base.to_mdp(gamma=args.gamma)
    start = int(np.argmax(m.initial))
    t0 = time.perf_counter()
    res: PlanResult | FiniteHorizonResult
    if args.planner == "vi":
        res = vi = value_iteration(m)
        value = float(vi.V @ m.initial)
        states, ret, events = greedy_path(lay, lambda s, t: int(np.argmax(vi.policy[s])), start, m.horizon)
    else:
        res = bi = backward_induction(m)
        value = float(bi.V[0] @ m.initial)
        if args.planner == "bi":
            states, ret, events = greedy_path(lay, lambda s, t: int(bi.actions[t, s]), start, m.horizon)
        else:
            prior = _prior(args, env)

            def act(s: int, t: int) -> int:
                # the search from time t plans for the steps left, not a whole episode
                return int(
                    mcts(
                        m,
                        s,
                        num_simulations=args.simulations,
                        seed=args.seed + t,
                        max_depth=m.horizon - t if m.horizon else None,
                        search=args.search,
                        prior=prior,
                    ).action
                )

            states, ret, events = greedy_path(lay, act, start, m.horizon)
    spec = base.map
    print(
        f"{spec.name}: {m.num_states} states, gamma {m.gamma:g}, time limit {m.horizon}, slip {spec.slip:g}"
    )
    print(
        f"optimal expected return from the start ({'value iteration' if args.planner == 'vi' else 'backward induction'},"
        f" gamma {m.gamma:g}): {value:.4f}"
    )
    label = {
        "vi": "greedy path (value iteration)",
        "bi": "greedy path (backward induction)",
        "mcts": f"MCTS path ({args.search}, {args.simulations} simulations per step)",
    }[args.planner]
    print(
        f"{label}, intended moves: {len(states) - 1} steps, undiscounted return {ret:+g}, "
        f"reaches: {', '.join(events) or 'nothing'}"
    )
    print(draw_path(lay, states, spec.chars))
    print(f"planning time {time.perf_counter() - t0:.2f} s")

    if args.power:
        _power(args, base, m)
    if args.episodes > 0:
        _episodes(args, env, m, value, res)
    return 0


POWER_FILES = ("power.png", "power.svg")
"""What ``rlcredit plan --power`` writes into its directory (with ``captions.json``)."""


def _power(args: argparse.Namespace, base: GridWorldEnv, m: TabularMDP) -> None:
    if m.gamma >= 1.0:
        m = m.replace(gamma=0.99)
    res = power(m.replace(horizon=None), num_samples=args.samples, seed=args.seed)
    lay = base.layout
    cells = lay.per_cell(res.power)  # on maps with objects: the mean over a cell's object configurations
    plain = ~lay.wall & (lay.kind < 0)
    print(
        f"\nPOWER (Turner et al. 2021), gamma {m.gamma:g}, {args.samples} iid uniform [0, 1] state-reward "
        f"samples; {power_digits(lay, cells)} decimals resolve the empty cells (min {np.nanmin(cells[plain]):.6f}, "
        f"max {np.nanmax(cells[plain]):.6f}); rows and columns 0-based, wall border included, # a wall:"
    )
    print(power_table(lay, res.power))
    out = Path(args.out) if args.out else _fresh_dir(Path("runs"), f"power-{_env_name(args.env)}")
    out.mkdir(parents=True, exist_ok=True)
    paths = power_heatmap(
        lay,
        res.power,
        res.stderr,
        out / "power",
        title=f"POWER on {base.map.name}",
        gamma=m.gamma,
        num_samples=args.samples,
    )
    assert isinstance(paths, list)  # given a path, power_heatmap saves the figure and returns the files
    print(f"heatmap: {', '.join(str(p) for p in paths)}")


def _fresh_dir(root: Path, name: str) -> Path:
    """A new directory ``ROOT/NAME-YYYYmmdd-HHMMSS-xxxx`` (claimed atomically, like a run directory's)."""
    root.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = root / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate


def _episodes(
    args: argparse.Namespace,
    env: gym.Env,
    m: TabularMDP,
    value: float,
    res: PlanResult | FiniteHorizonResult,
) -> None:
    name = f"plan-{args.planner}-{_env_name(args.env)}"
    run = (
        RunDir.create(args.out, root="runs", name=name) if args.out else RunDir.create(root="runs", name=name)
    )
    kw = (
        {"num_simulations": args.simulations, "seed": args.seed, "search": args.search}
        if args.planner == "mcts"
        else {}
    )
    run_extra = {"prior": str(args.prior)} if args.planner == "mcts" and args.prior else {}
    env_kwargs = {"layout_seed": args.layout_seed, "gamma": args.gamma}
    config = RunConfig(
        kind="plan",
        algo=args.planner,
        env=args.env,
        seed=args.seed,
        env_kwargs={k: v for k, v in env_kwargs.items() if v is not None},
        env_sha256=keep_env_copy(run, args.env),
        episodes=args.episodes,
        config=kw,
        extra=run_extra,
    )
    write_config(run, config)
    planner = make_planner(args.planner, **kw, **({"prior": _prior(args, env)} if run_extra else {}))
    t0 = time.perf_counter()
    episodes = run_planner_episodes(planner, env, args.episodes, args.seed)
    metrics = MetricsWriter(run.metrics_path)
    base = env.unwrapped
    assert isinstance(base, GridWorldEnv)  # run_plan checked it
    kinds = base.layout.kinds
    with WandbMirror(
        args.wandb,
        group=name,
        job_type="plan",
        tags=("plan", args.planner),
        config=run.read_config(),
        dir=run.path,
    ) as wb:
        for i, ep in enumerate(episodes):
            row = {
                "episode": i,
                "return": ep["return"],
                "length": ep["length"],
                "intended": int(ep["intended"]),
            }
            row.update({f"reached_{k}": int(k in ep["events"]) for k in kinds})
            metrics.log(row)
            wb.log(row, step=i)
        returns = np.array([ep["return"] for ep in episodes])
        figures = {
            "optimal_value": value,
            "intended_rate": float(np.mean([ep["intended"] for ep in episodes])),
            **{f"reach_rate/{k}": float(np.mean([k in ep["events"] for ep in episodes])) for k in kinds},
            **_exact_reach(args.planner, base, m, res),
        }
        summary = RunSummary(
            status="completed",
            kind="plan",
            algo=args.planner,
            env=_env_name(args.env),
            seed=args.seed,
            global_step=int(sum(ep["length"] for ep in episodes)),
            wall_seconds=time.perf_counter() - t0,
            return_mean=float(returns.mean()),
            return_std=float(returns.std()),
            episodes=len(episodes),
            figures=figures,
        )
        write_summary(run, summary)
        wb.update_summary(summary.to_json_data())
    print(
        f"\n{len(episodes)} episodes: mean return {summary.return_mean:+.3f}, intended objective "
        f"{figures['intended_rate']:.0%}, "
        + ", ".join(f"{k} {figures[f'reach_rate/{k}']:.0%}" for k in kinds)
    )
    print(f"run directory: {run.path}")


def _prior(args: argparse.Namespace, env: gym.Env) -> Callable[[np.ndarray], np.ndarray] | None:
    """PUCT prior from a trained policy's run directory (``--prior RUN_DIR``), or None."""
    if not args.prior:
        return None
    return policy_prior(load_policy(args.prior), env)


def _exact_reach(
    planner: str, base: GridWorldEnv, m: TabularMDP, res: PlanResult | FiniteHorizonResult
) -> dict[str, float]:
    """Exact probability that the planner's (VI/BI) policy, from the solution ``res`` already computed, enters each
    object kind within the time limit."""
    if planner == "mcts":
        return {}
    # Moves that enter a cell of each kind, so respawn cells (never occupied) count too.
    reach = layout_reach(base.layout, res.policy, horizon=m.horizon, kinds=base.layout.kinds)
    return {f"exact/reach_{k}": p for k, p in reach.items() if k != "intended"}
