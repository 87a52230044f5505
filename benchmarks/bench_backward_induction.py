"""Speed and memory of ``backward_induction`` on a large open gridworld, against plain reference loops.

The gridworld is ``N x N`` open cells with 4 deterministic moves (0 up, 1 right, 2 down, 3 left); a move
into the border keeps the state in place. The top-right corner is a terminal goal: entering it pays +1,
and every step costs 0.01. The model is built here directly as a sparse ``TabularMDP``.

Anchors, timed in the same process:

- ``dense numpy``: the textbook loop with a dense ``(S, A, S)`` model, ``Q = R + gamma * P @ V``,
  ``Q.max``/``Q.argmax`` per step (only feasible on a small grid: the model is ``8 A S^2`` bytes);
- ``plain scipy``: the same loop with the sparse ``(S*A, S)`` model and ``Q.max(axis=1)``, ``Q.argmax``.

Both anchors must produce the same values and actions as ``backward_induction``; the table gives each
implementation's time relative to ``backward_induction`` on the same grid.

Run: ``python benchmarks/bench_backward_induction.py [--size 1000] [--horizon 100] [--ref-size 40]``
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from rlcredit.mdp import TabularMDP
from rlcredit.planning import backward_induction

STEP_COST = 0.01
GAMMA = 0.99


def gridworld_moves(n: int) -> tuple[np.ndarray, int]:
    """Next state of every (state, action), shape (S, 4), and the goal state (top-right corner)."""
    row, col = np.divmod(np.arange(n * n, dtype=np.int64), n)
    d_row = np.array([-1, 0, 1, 0])
    d_col = np.array([0, 1, 0, -1])
    next_row = np.clip(row[:, None] + d_row, 0, n - 1)
    next_col = np.clip(col[:, None] + d_col, 0, n - 1)
    return next_row * n + next_col, n - 1


def open_gridworld(n: int) -> TabularMDP:
    """The N x N open gridworld as a sparse TabularMDP."""
    moves, goal = gridworld_moves(n)
    S, A = moves.shape
    P2 = sp.csr_matrix(
        (np.ones(S * A), moves.ravel().astype(np.int32), np.arange(S * A + 1, dtype=np.int32)),
        shape=(S * A, S),
    )
    R = np.where(moves == goal, 1.0, 0.0) - STEP_COST
    terminal = np.zeros(S, dtype=bool)
    terminal[goal] = True
    return TabularMDP(P2, R, GAMMA, terminal)


def dense_reference(P: np.ndarray, R: np.ndarray, terminal: np.ndarray, horizon: int):
    """Textbook backward induction with a dense (S, A, S) model."""
    S = P.shape[0]
    V = np.zeros((horizon + 1, S))
    actions = np.zeros((horizon, S), dtype=np.int64)
    for t in range(horizon - 1, -1, -1):
        Q = R + GAMMA * (P @ V[t + 1])
        Q[terminal] = 0.0
        V[t] = Q.max(axis=1)
        actions[t] = Q.argmax(axis=1)
    return V, actions


def scipy_reference(P2: sp.csr_matrix, R: np.ndarray, terminal: np.ndarray, horizon: int):
    """The same loop with the sparse (S*A, S) model."""
    S, A = R.shape
    V = np.zeros((horizon + 1, S))
    actions = np.zeros((horizon, S), dtype=np.int64)
    for t in range(horizon - 1, -1, -1):
        Q = R + GAMMA * (P2 @ V[t + 1]).reshape(S, A)
        Q[terminal] = 0.0
        V[t] = Q.max(axis=1)
        actions[t] = Q.argmax(axis=1)
    return V, actions


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def timed(fn: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="side of the large grid (default 1000)")
    parser.add_argument("--horizon", type=int, default=100, help="decision steps (default 100)")
    parser.add_argument("--ref-size", type=int, default=40, help="side of the grid for the dense anchor")
    args = parser.parse_args()
    H = args.horizon
    rows = []

    # the large run first, so that ru_maxrss (a process-wide high-water mark) is its peak
    rss_start = peak_rss_gib()
    build_s, m = timed(lambda: open_gridworld(args.size))
    big_s, big = timed(lambda: backward_induction(m, H))
    big_rss = peak_rss_gib()
    ref_s, (V_ref, a_ref) = timed(lambda: scipy_reference(m.P2, m.R, m.terminal, H))
    assert np.allclose(V_ref, big.V, rtol=0, atol=1e-12) and np.array_equal(a_ref, big.actions)
    grid = f"{args.size}x{args.size}"
    rows.append(("backward_induction", grid, m.num_states, big_s, big_s))
    rows.append(("plain scipy loop", grid, m.num_states, ref_s, big_s))
    del big, V_ref, a_ref

    small = open_gridworld(args.ref_size)
    ours_s, res = timed(lambda: backward_induction(small, H), repeat=3)
    P = small.dense_P()
    dense_s, (V_d, a_d) = timed(lambda: dense_reference(P, small.R, small.terminal, H), repeat=3)
    scipy_s, (V_s, a_s) = timed(lambda: scipy_reference(small.P2, small.R, small.terminal, H), repeat=3)
    for V, a in ((V_d, a_d), (V_s, a_s)):
        assert np.allclose(V, res.V, rtol=0, atol=1e-12) and np.array_equal(a, res.actions)
    grid = f"{args.ref_size}x{args.ref_size}"
    rows.append(("backward_induction", grid, small.num_states, ours_s, ours_s))
    rows.append(("plain scipy loop", grid, small.num_states, scipy_s, ours_s))
    rows.append(("dense numpy loop", grid, small.num_states, dense_s, ours_s))

    print(f"open gridworld, 4 actions, horizon {H}, gamma {GAMMA}; values and actions checked equal\n")
    print("| implementation | grid | states | time (s) | state-steps / s | time / backward_induction |")
    print("|---|---|---:|---:|---:|---:|")
    for name, grid, S, seconds, ours in rows:
        print(f"| {name} | {grid} | {S:,} | {seconds:.3f} | {S * H / seconds:.3g} | {seconds / ours:.2f} |")
    print(
        f"\n{args.size}x{args.size}: model built in {build_s:.2f} s; peak RSS {big_rss:.2f} GiB "
        f"(process before building: {rss_start:.2f} GiB); targets < 15 s and < 4 GiB: "
        f"{'met' if big_s < 15 and big_rss < 4 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
