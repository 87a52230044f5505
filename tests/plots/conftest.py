"""Hand-made run directories with known contents, written with the same writers the trainers use."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import rlcredit
from rlcredit.credit.records import CreditRecorder
from rlcredit.credit.shaping import shaping_frame
from rlcredit.tracking import MetricsWriter, RunDir

ENV = "rlcredit/ButtonRoomBridge0-v0"
"""7 x 9: start 22 (row 2, col 4); goal 20 (left, left); button 49 (down x3); lava 46-48, 50-52."""

# credit rows: (update, state, action, credit, advantage, exact_advantage)
CREDIT_ROWS = [
    (1, 22, 2, 1.0, 2.0, 1.5),
    (1, 31, 2, 0.5, 1.0, 1.0),
    (1, 22, 3, -0.25, -1.0, -0.5),
    (1, 21, 3, 2.0, 3.0, 2.0),  # left from 21 enters the goal
    (2, 22, 2, 0.75, 0.5, 1.0),
    (2, 40, 2, 3.0, 4.0, 5.0),  # down from 40 enters the button
]
APPLIED_SCALE = {1: 2.0, 2: 0.5}
"""Update u's applied_weight is its credit times this (a stand-in for the minibatch std)."""
UPDATES = (1, 2, 3)
STEPS = (100, 200, 300)


def layout_of(env: str = ENV):
    return rlcredit.make(env).unwrapped.layout


def policy_tables(seed: int, num_states: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{update: (pi_before, pi_after)}`` with pi_after(u) = pi_before(u + 1), rounded to float32."""
    rng = np.random.default_rng(seed)
    pis = [rng.dirichlet(np.ones(4), size=num_states).astype(np.float32).astype(np.float64) for _ in range(4)]
    return {u: (pis[i], pis[i + 1]) for i, u in enumerate(UPDATES)}


def visits_of(update: int, num_states: int, active: np.ndarray) -> np.ndarray:
    """Update 1 visits every active state; update 2 only 22 and 31; update 3 only 22 and 21."""
    v = np.zeros(num_states, dtype=np.int64)
    if update == 1:
        v[active] = 2
    elif update == 2:
        v[[22, 31]] = [5, 1]
    else:
        v[[22, 21]] = [3, 2]
    return v


def write_train_run(
    path: Path,
    *,
    algo: str = "ppo",
    seed: int = 0,
    config: dict | None = None,
    returns: tuple[float, ...] = (0.0, 0.5, 1.0),
    reach_button: tuple[float, ...] = (0.1, 0.05, 0.01),
    env: str = ENV,
    credit: bool = True,
    shaping: bool = True,
) -> Path:
    run = RunDir.create(path)
    run.write_config(
        {
            "run": {"kind": "train", "algo": algo, "env": env, "seed": seed, "steps": STEPS[-1]},
            "config": config or {"gae_lambda": 0.95},
        }
    )
    layout = layout_of(env)
    S = layout.num_states
    active = np.flatnonzero(~layout.wall & ~layout.terminal)
    metrics = MetricsWriter(run.metrics_path)
    for i, u in enumerate(UPDATES):
        metrics.log(
            {
                "update": u,
                "global_step": STEPS[i],
                "charts/episodic_return": returns[i],
                "exact/reach_goal": 0.5 + 0.1 * i,
                "exact/reach_button": reach_button[i],
                "exact/intended": 0.5 + 0.1 * i,
                "shaping/mean_tv": 0.1 * (i + 1),
                "shaping/unvisited_tv": float("nan") if i == 0 else 0.05 * i,
            }
        )
    if shaping:
        for u, (before, after) in policy_tables(seed, S).items():
            frame = shaping_frame(u, before, after, visits_of(u, S, active), layout=layout)
            frame.to_parquet(run.shaping_dir / f"update_{u:06d}.parquet")
    if credit:
        rec = CreditRecorder(run.credit_dir)
        for u in (1, 2):
            rows = [r for r in CREDIT_ROWS if r[0] == u]
            n = len(rows)
            rec.add(
                update=np.full(n, u),
                env=np.zeros(n),
                episode=np.zeros(n),
                t=np.arange(n),
                state=[r[1] for r in rows],
                action=[r[2] for r in rows],
                reward=np.zeros(n),
                terminated=np.zeros(n, bool),
                truncated=np.zeros(n, bool),
                credit=[r[3] for r in rows],
                applied_weight=[r[3] * APPLIED_SCALE[u] for r in rows],
                advantage=[r[4] for r in rows],
                exact_advantage=[r[5] for r in rows],
            )
            rec.flush(u)
    run.write_summary({"final_return": returns[-1]})
    return run.path


def write_plan_run(path: Path, *, algo: str = "bi", env: str = ENV) -> Path:
    run = RunDir.create(path)
    run.write_config(
        {"run": {"kind": "plan", "algo": algo, "env": env, "seed": 0, "episodes": 2}, "config": {}}
    )
    metrics = MetricsWriter(run.metrics_path)
    for i in range(2):
        metrics.log(
            {
                "episode": i,
                "return": 10.0,
                "length": 3,
                "intended": 0,
                "reached_goal": 0,
                "reached_button": 1,
                "reached_lava": 0,
            }
        )
    run.write_summary(
        {
            "kind": "plan",
            "algo": algo,
            "mean_return": 10.0,
            "exact/reach_button": 1.0,
            "exact/reach_goal": 0.0,
            "exact/reach_lava": 0.0,
        }
    )
    return run.path


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers and constants of this file (ENV, CREDIT_ROWS, policy_tables, write_train_run, ...)."""
    return SimpleNamespace(
        ENV=ENV,
        CREDIT_ROWS=CREDIT_ROWS,
        APPLIED_SCALE=APPLIED_SCALE,
        UPDATES=UPDATES,
        STEPS=STEPS,
        layout_of=layout_of,
        policy_tables=policy_tables,
        visits_of=visits_of,
        write_train_run=write_train_run,
        write_plan_run=write_plan_run,
    )


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """One PPO run (seed 0) with metrics, 3 shaping files and 2 credit files."""
    return write_train_run(tmp_path_factory.mktemp("runs") / "ppo-s0")
