"""Batched gridworld stepping speed vs Minigrid, in one process; building the exact model of an object world.

    python benchmarks/bench_env.py [--num-envs 4096] [--seconds 3]

Anchor: Minigrid's ``MiniGrid-Empty-8x8-v0`` stepped the usual way (one env, ``env.step`` per step, reset on
episode end). rlcredit: ``make_vec`` with 4096 envs on ButtonRoom (no objects) and on SideEffects (a pushable box:
the state is cell x box position), random actions drawn in advance. Prints a markdown table with env steps/s and
the ratio to the anchor, then the time to find the states of an 8x8 room with two boxes (~1.2e5 states, breadth-
first search over the core's step) and to build its exact model (``to_mdp``).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def bench_minigrid(seconds: float) -> float:
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the envs)

    env = gym.make("MiniGrid-Empty-8x8-v0")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(3, size=100_000)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions[:1000]:
            _, _, term, trunc, _ = env.step(int(a))
            if term or trunc:
                env.reset()
        n += 1000
    return n / (time.perf_counter() - t0)


def bench_rlcredit(obs: str, num_envs: int, seconds: float, env_id: str = "rlcredit/ButtonRoom-v0") -> float:
    import rlcredit

    venv = rlcredit.make_vec(env_id, num_envs=num_envs, seed=0, obs=obs)
    venv.reset(seed=0)
    actions = np.random.default_rng(0).integers(4, size=(64, num_envs))
    for a in actions[:8]:
        venv.step(a)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for a in actions:
            venv.step(a)
        n += len(actions) * num_envs
    return n / (time.perf_counter() - t0)


BOX_ROOM = """name = "BoxRoom"
time_limit = 100
map = \"\"\"
##########
#S.......#
#........#
#........#
#........#
#........#
#........#
#........#
#........#
##########
\"\"\"
[[objects]]
kind = "box"
at = [3, 3]
[[objects]]
kind = "box"
at = [4, 5]
"""


def bench_object_model() -> tuple[int, float, float]:
    """(states, seconds to find them, seconds for to_mdp) of an 8x8 room with two boxes."""
    from rlcredit.gridworld import compile_layout, parse_map

    t0 = time.perf_counter()
    layout = compile_layout(parse_map(BOX_ROOM))
    t1 = time.perf_counter()
    layout.to_mdp()
    return layout.num_states, t1 - t0, time.perf_counter() - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-envs", type=int, default=4096)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    anchor = bench_minigrid(args.seconds)
    rows = [("Minigrid MiniGrid-Empty-8x8-v0, 1 env (anchor)", anchor)]
    for obs in ("grid", "index", "coords"):
        rows.append(
            (
                f"rlcredit ButtonRoom, make_vec {args.num_envs} envs, obs={obs}",
                bench_rlcredit(obs, args.num_envs, args.seconds),
            )
        )
    for obs in ("grid", "index"):
        rows.append(
            (
                f"rlcredit SideEffects (a box), make_vec {args.num_envs} envs, obs={obs}",
                bench_rlcredit(obs, args.num_envs, args.seconds, "rlcredit/SideEffects-v0"),
            )
        )
    print("| env | steps/s | ratio to anchor |\n|---|---:|---:|")
    for name, sps in rows:
        print(f"| {name} | {sps:,.0f} | {sps / anchor:,.1f}x |")
    n, t_bfs, t_mdp = bench_object_model()
    print(
        f"\nobject world (8x8 room, two boxes): {n:,} states; BFS {t_bfs:.2f} s; to_mdp {t_mdp:.2f} s; "
        f"total {t_bfs + t_mdp:.2f} s"
    )


if __name__ == "__main__":
    main()
