"""Per-update cost of the exact measurements a trainer runs after each update.

Times, on ButtonRoomBridge1 (81 states, time limit 100) with a batch of 2,048 steps (SB3's 8 envs x 256
steps), each of the three per-update measurements with a fresh policy every update (so nothing per-policy is
cached, as in training):

- exact credit: ``ExactCredit`` on the batch's (state, t, action) — the finite-horizon ``Q_t``/``A_t`` (and,
  where the installed rlcredit has it, the stationary bootstrap target);
- shaping: ``ShapingRecorder`` — J before/after, reach of every event, per-state policy change, one parquet
  file;
- grad_cos: ``ShapingRecorder.record_gradient`` — the exact policy gradient of a 64x64 MLP actor on every
  state and its cosine with a sampled gradient.

Run it (2 cores, the rest of the machine idle)::

    python benchmarks/bench_measure.py                 # this checkout
    PYTHONPATH=/path/to/other/checkout python benchmarks/bench_measure.py   # compare another one

Prints the median and the 10-90% range over ``--updates`` updates, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch

import rlcredit
from rlcredit.credit import ExactCredit, ShapingRecorder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="rlcredit/ButtonRoomBridge1-v0")
    parser.add_argument("--batch", type=int, default=2048, help="steps per update (default 8 x 256)")
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--obs", default="grid")
    args = parser.parse_args()
    torch.set_num_threads(1)

    venv = rlcredit.make_vec(args.env, num_envs=8, seed=0, obs=args.obs)
    exact = ExactCredit(venv, gamma=0.99)
    S = exact.mdp().num_states
    obs_all = exact.observations()
    actor = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(int(np.prod(obs_all.shape[1:])), 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 64),
        torch.nn.Tanh(),
        torch.nn.Linear(64, 4),
    )
    params = list(actor.parameters())
    n_params = sum(p.numel() for p in params)
    rng = np.random.default_rng(0)
    H = exact.horizon_of()
    live = np.flatnonzero(~exact.mdp().terminal)
    times: dict[str, list[float]] = {"exact credit": [], "shaping": [], "grad_cos": []}
    with tempfile.TemporaryDirectory() as tmp:
        shaping = ShapingRecorder(exact, tmp, fsync=False)
        for update in range(1, args.updates + 1):
            with torch.no_grad():
                for p in params:
                    p.add_(0.05 * torch.randn_like(p))
                logits = actor(torch.as_tensor(obs_all, dtype=torch.float32))
            pi_before = torch.softmax(logits.double(), -1).numpy()
            pi_after = np.roll(pi_before, 1, axis=0) * 0.1 + pi_before * 0.9
            states = rng.choice(live, args.batch)
            t = rng.integers(0, H, args.batch)
            actions = rng.integers(0, 4, args.batch)

            t0 = time.perf_counter()
            columns = getattr(exact, "columns", None)
            if columns is not None:
                columns(update, states, t, actions, pi_before)
            else:
                exact(update, states, t, actions, pi_before)
            t1 = time.perf_counter()
            shaping.record_gradient(
                update, lambda x: actor(x.float()), torch.randn(n_params, dtype=torch.float64), params
            )
            t2 = time.perf_counter()
            shaping(update, pi_before, pi_after, {"states": states})
            t3 = time.perf_counter()
            if update > 3:  # compilation and first-call caches aside
                times["exact credit"].append(1e3 * (t1 - t0))
                times["grad_cos"].append(1e3 * (t2 - t1))
                times["shaping"].append(1e3 * (t3 - t2))
    print(f"{args.env}: {S} states, horizon {H}, batch {args.batch}, {args.updates - 3} timed updates")
    print(f"{'measurement':<14} {'median ms':>10} {'p10-p90 ms':>14}")
    for name, ts in times.items():
        q = np.quantile(ts, [0.1, 0.9])
        print(f"{name:<14} {statistics.median(ts):>10.2f} {q[0]:>6.2f}-{q[1]:<6.2f}")
    total = sum(statistics.median(ts) for ts in times.values())
    print(f"{'total':<14} {total:>10.2f}")


if __name__ == "__main__":
    main()
