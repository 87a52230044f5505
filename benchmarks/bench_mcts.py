"""Simulations per second of ``mcts`` on a 10x10 gridworld, against a plain pure-Python UCT.

The gridworld is a map file parsed here: 10 x 10 open cells inside a wall border, start bottom-left, a
terminal +1 goal top-right, gamma 0.99, time limit 200 (so the depth-50 rollouts are never cut by it), with
``slip`` 0 and 0.1 (a move goes in a random other direction). The search runs from the start state with
uniformly random rollouts of depth 50 (UCT, c = sqrt(2), mean returns normalized by the tree's min/max).

Anchor, timed in the same process: ``pure Python``, the same UCT written with Python lists and objects
(one node object per tree node, ``random.random`` for the sampling), on the same CSR transition arrays. Both
searches must choose an action whose exact ``Q*`` (value iteration) is within the noise of the best.

Targets: >= 50,000 simulations/s on one core, and >= 5x the pure-Python UCT.

Run: ``python benchmarks/bench_mcts.py [--sims 200000] [--ref-sims 5000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np

from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.maps import parse_map
from rlcredit.planning.dp import value_iteration
from rlcredit.planning.mcts import SearchModel, mcts

N = 10
ROLLOUT_DEPTH = 50


def gridworld(slip: float) -> GridWorldEnv:
    rows = ["#" * (N + 2)]
    for r in range(N):
        inner = ["."] * N
        if r == 0:
            inner[-1] = "G"
        if r == N - 1:
            inner[0] = "S"
        rows.append("#" + "".join(inner) + "#")
    rows.append("#" * (N + 2))
    text = (
        f'name = "Open{N}"\ngamma = 0.99\ntime_limit = 200\nslip = {slip}\nmap = """\n'
        + "\n".join(rows)
        + '\n"""\n[legend]\nG = { kind = "goal", reward = 1.0, terminal = true }\n'
    )
    env = GridWorldEnv(parse_map(text, source="bench_mcts"))
    env.reset(seed=0)
    return env


class _Node:
    __slots__ = ("children", "edge_n", "edge_w", "n", "state")

    def __init__(self, state: int, num_actions: int) -> None:
        self.state = state
        self.n = 0
        self.edge_n = [0] * num_actions
        self.edge_w = [0.0] * num_actions
        self.children: list[dict[int, _Node]] = [{} for _ in range(num_actions)]


def python_uct(
    sm: SearchModel, root_state: int, num_simulations: int, seed: int, max_depth: int
) -> np.ndarray:
    """Plain-Python UCT with random rollouts (the same algorithm as ``mcts``); returns root visit counts."""
    rng = random.Random(seed)
    indptr, indices, cumprob = sm.indptr.tolist(), sm.indices.tolist(), sm.cumprob.tolist()
    R, terminal, gamma = sm.R.tolist(), sm.terminal.tolist(), sm.gamma
    A = sm.num_actions
    c = math.sqrt(2.0)

    def sample(s: int, a: int) -> int:
        row = s * A + a
        start, end = indptr[row], indptr[row + 1]
        u = rng.random() * cumprob[end - 1]
        for k in range(start, end - 1):
            if u < cumprob[k]:
                return indices[k]
        return indices[end - 1]

    def rollout(s: int, depth: int) -> float:
        g, discount, k = 0.0, 1.0, 0
        while k < ROLLOUT_DEPTH and depth < max_depth and not terminal[s]:
            a = rng.randrange(A)
            g += discount * R[s][a]
            s = sample(s, a)
            discount *= gamma
            k += 1
            depth += 1
        return g

    root = _Node(root_state, A)
    qmin, qmax = math.inf, -math.inf
    for _ in range(num_simulations):
        node, depth, path, leaf = root, 0, [], 0.0
        while True:
            if terminal[node.state] or depth >= max_depth:
                node.n += 1
                break
            untried = [a for a in range(A) if node.edge_n[a] == 0]
            if untried:
                a = rng.choice(untried)
            else:
                span, log_n, best, a = qmax - qmin, math.log(node.n), -math.inf, 0
                for b in range(A):
                    q = node.edge_w[b] / node.edge_n[b]
                    qn = (q - qmin) / span if span > 0 else 0.5
                    score = qn + c * math.sqrt(log_n / node.edge_n[b])
                    if score > best:
                        best, a = score, b
            s2 = sample(node.state, a)
            path.append((node, a, R[node.state][a]))
            depth += 1
            child = node.children[a].get(s2)
            if child is None:
                child = node.children[a][s2] = _Node(s2, A)
                leaf = 0.0 if terminal[s2] or depth >= max_depth else rollout(s2, depth)
                child.n += 1
                break
            node = child
        g = leaf
        for node, a, r in reversed(path):
            g = r + gamma * g
            node.n += 1
            node.edge_n[a] += 1
            node.edge_w[a] += g
            q = node.edge_w[a] / node.edge_n[a]
            qmin, qmax = min(qmin, q), max(qmax, q)
    return np.array(root.edge_n)


def best_of(repeats: int, fn, *args, **kwargs):
    """The best wall time of ``repeats`` calls, and the last call's result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return min(times), out


def row(name: str, slip: float, sims: int, secs: float, speedup: str) -> str:
    return f"| {name:<26} | {slip:>4} | {sims:>8} | {secs:>8.3f} | {sims / secs:>10,.0f} | {speedup:>7} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=200_000, help="simulations per mcts call")
    parser.add_argument("--ref-sims", type=int, default=5_000, help="simulations for the pure-Python UCT")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best is reported)")
    args = parser.parse_args()

    print(f"| {'implementation':<26} | slip | {'sims':>8} | {'seconds':>8} | {'sims/s':>10} | speedup |")
    print(f"|{'-' * 28}|------|{'-' * 10}|{'-' * 10}|{'-' * 12}|---------|")
    notes = []
    for slip in (0.0, 0.1):
        env = gridworld(slip)
        m = env.unwrapped.to_mdp()
        sm = SearchModel.from_model(m)
        start = env.unwrapped.state_index()
        vi = value_iteration(m.replace(horizon=None))
        Q = vi.Q[start]
        mcts(sm, start, num_simulations=10)  # compile (or load the numba cache)
        t_ours, res = best_of(args.repeats, mcts, sm, start, num_simulations=args.sims, seed=0)
        t_ref, visits = best_of(1, python_uct, sm, start, args.ref_sims, 0, m.horizon)
        speedup = (args.sims / t_ours) / (args.ref_sims / t_ref)
        print(row("mcts (numba UCT)", slip, args.sims, t_ours, f"{speedup:.1f}x"))
        print(row("pure Python UCT", slip, args.ref_sims, t_ref, "1.0x"))
        gaps = (Q.max() - Q[res.action], Q.max() - Q[int(np.argmax(visits))])
        notes.append(
            f"slip {slip}: Q*(start) = {np.round(Q, 4)}; Q* gap of the chosen action: "
            f"mcts {gaps[0]:.4f}, pure Python {gaps[1]:.4f}"
        )
        if slip > 0:
            uniform = np.full((m.num_states, m.num_actions), 1.0 / m.num_actions)
            for name, kw in (
                ("mcts PUCT, uniform prior", {"prior": uniform}),
                ("mcts UCT, value rollouts", {"rollout": "value", "value_fn": vi.V}),
            ):
                mcts(sm, start, num_simulations=10, **kw)
                t, _ = best_of(args.repeats, mcts, sm, start, num_simulations=args.sims, seed=0, **kw)
                print(row(name, slip, args.sims, t, ""))
    print()
    print("\n".join(notes))


if __name__ == "__main__":
    main()
