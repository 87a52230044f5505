"""The trial budget the converging MCTS variant (``search="bellman"``) needs on every built-in gridworld.

    python benchmarks/bench_search_budget.py [--max-trials 200000]

For each built-in env with a fixed layout: from every start state, ``bellman_search`` with the model's horizon
and discount runs until its root is solved (or ``--max-trials`` run out). The table gives the trials needed (the
largest over start states), whether the root was solved, and whether its action is one of backward induction's
optimal actions at t = 0 (Q within 1e-9 of the best). Procedural maps (a new layout per episode) are skipped: the
search runs on one layout at a time, and the numbers would be per layout.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rlcredit
from rlcredit.gridworld.registry import builtin_envs
from rlcredit.planning import backward_induction
from rlcredit.planning.mcts import bellman_search


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-trials", type=int, default=200_000)
    args = ap.parse_args()
    print(
        "| env | states | start states | trials to solve the root (max over starts) | solved | BI's action | s |"
    )
    print("|---|--:|--:|--:|:-:|:-:|--:|")
    for env_id in builtin_envs():
        env = rlcredit.make(env_id)
        layout = env.unwrapped.layout  # type: ignore[attr-defined]
        if env.unwrapped.map.randomized:  # type: ignore[attr-defined]
            continue
        m = layout.to_mdp()
        bi = backward_induction(m, horizon=m.horizon, return_q=True)
        starts = np.flatnonzero(m.initial > 0)
        worst, solved, agrees = 0, True, True
        t0 = time.perf_counter()
        for s in starts:
            r = bellman_search(m, int(s), num_trials=args.max_trials)
            worst = max(worst, r.tree.trials)
            solved &= r.tree.converged
            q = bi.Q[0, s]
            agrees &= bool(q[r.action] >= q.max() - 1e-9)
        secs = time.perf_counter() - t0
        print(
            f"| `{env_id}` | {m.num_states:,} | {len(starts)} | {worst:,} | {'yes' if solved else 'no'} | "
            f"{'yes' if agrees else 'NO'} | {secs:.2f} |"
        )


if __name__ == "__main__":
    main()
