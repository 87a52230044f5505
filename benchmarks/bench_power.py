"""Time to compute POWER of every state of a 20x20 gridworld from 1000 reward samples.

The gridworld is a map file parsed here: 20 x 20 open cells inside a wall border (S = 484 states with the
walls, which are terminal), a terminal goal in the middle of the bottom row, gamma 0.99, time limit 100,
``slip`` 0 and 0.1. POWER is computed for the paper's infinite horizon (``horizon=math.inf``; value iteration
to a per-sample POWER error of 1e-8) and for the env's time limit (``horizon=None``: 100 backups).

Anchor, timed in the same process: ``numpy expected_next``, the textbook vectorized loop,
``V = R + γ max_a m.expected_next(V)`` on a ``(S, K)`` value matrix in batches of 128 reward samples, with the
same stopping rule. It must give the same POWER (to 1e-8, the stopping tolerance).

Target: < 10 s for 1000 samples on the 20x20 gridworld.

Run: ``python benchmarks/bench_power.py [--samples 1000] [--size 20]``
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.maps import parse_map
from rlcredit.mdp import TabularMDP
from rlcredit.planning.power import power


def gridworld(n: int, slip: float) -> TabularMDP:
    rows = ["#" * (n + 2)]
    for r in range(n):
        inner = ["."] * n
        if r == n - 1:
            inner[n // 2] = "G"
        if r == 0:
            inner[0] = "S"
        rows.append("#" + "".join(inner) + "#")
    rows.append("#" * (n + 2))
    text = (
        f'name = "Open{n}"\ngamma = 0.99\ntime_limit = 100\nslip = {slip}\nmap = """\n'
        + "\n".join(rows)
        + '\n"""\n[legend]\nG = { kind = "goal", reward = 1.0, terminal = true }\n'
    )
    return GridWorldEnv(parse_map(text, source="bench_power")).to_mdp()


def numpy_power(
    m: TabularMDP, num_samples: int, seed: int, horizon: int | None, tol: float = 1e-8
) -> np.ndarray:
    """POWER with iid uniform [0, 1] state rewards, terminal states absorbing, by ``m.expected_next``."""
    g = m.gamma
    rng = np.random.default_rng(seed)
    dead = m.terminal
    total = np.zeros(m.num_states)
    norm = g * (1 - g**horizon) / (1 - g) if horizon else g / (1 - g)
    done = 0
    while done < num_samples:
        k = min(128, num_samples - done)
        R = rng.random((k, m.num_states)).T
        future = np.zeros_like(R)
        for h in range(1, (horizon or 100_000) + 1):
            new = g * m.expected_next(R + future).max(axis=1)
            new[dead] = R[dead] * (g * (1 - g**h) / (1 - g) if horizon else g / (1 - g))
            residual = np.abs(new - future).max()
            future = new
            if not horizon and residual <= tol:
                break
        total += (future / norm).sum(axis=1)
        done += k
    return total / num_samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--size", type=int, default=20)
    args = parser.parse_args()
    power(gridworld(3, 0.0), num_samples=2)  # compile (or load the numba cache)

    print(f"| {'implementation':<22} | slip | horizon  | {'seconds':>8} | speedup | max abs diff |")
    print(f"|{'-' * 24}|------|----------|{'-' * 10}|---------|--------------|")
    for slip in (0.0, 0.1):
        m = gridworld(args.size, slip)
        for horizon in (math.inf, None):
            t0 = time.perf_counter()
            res = power(m, num_samples=args.samples, seed=0, horizon=horizon)
            t_ours = time.perf_counter() - t0
            t0 = time.perf_counter()
            ref = numpy_power(m, args.samples, 0, res.horizon)
            t_ref = time.perf_counter() - t0
            diff = np.abs(ref - res.power).max()
            label = "inf" if res.horizon is None else str(res.horizon)
            print(
                f"| {'power (numba)':<22} | {slip:>4} | {label:>8} | {t_ours:>8.2f} | {t_ref / t_ours:>6.1f}x |"
                f" {diff:>12.1e} |"
            )
            print(
                f"| {'numpy expected_next':<22} | {slip:>4} | {label:>8} | {t_ref:>8.2f} |    1.0x | {'':>12} |"
            )
            live = ~res.terminal
            print(
                f"|   POWER over live cells: min {res.power[live].min():.3f}, max {res.power[live].max():.3f}, "
                f"largest stderr {res.stderr[live].max():.4f}"
            )


if __name__ == "__main__":
    main()
