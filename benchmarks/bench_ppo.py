"""PPO training speed on ButtonRoom: rlcredit vs Stable-Baselines3, end to end, in one process.

    python benchmarks/bench_ppo.py [--steps 300000] [--sb3-steps 60000] [--repeats 2]

Anchor: SB3 ``PPO("MlpPolicy")`` with 8 ``DummyVecEnv`` copies of ``rlcredit.make("rlcredit/ButtonRoom-v0")``
(index observations, which SB3 one-hot encodes), ``n_steps=256, batch_size=256, n_epochs=4``, CPU,
``torch.set_num_threads(1)``. rlcredit: ``rlcredit.train("ppo", ...)`` with its defaults (64 envs x 128
steps, credit record of every step, per-sample gradients on 256 steps per update, exact credit and shaping),
wall time of the whole call (run directory, metrics, checkpoints, parquet files included, wandb disabled);
also with the credit records off and with all logging off, to show what logging costs. Prints a markdown
table of env steps per wall second (the target) and per CPU second of the process (all threads; a check
that is less sensitive to other load on the machine), and the ratio to the anchor. Best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

ENV = "rlcredit/ButtonRoom-v0"


def bench_sb3(steps: int) -> tuple[float, float]:
    """(env steps per wall second, per CPU second of this process)."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import rlcredit

    torch.set_num_threads(1)
    venv = make_vec_env(lambda: rlcredit.make(ENV), n_envs=8, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=4, device="cpu", seed=0, verbose=0)
    model.learn(2048)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t0), steps / (time.process_time() - c0)


def bench_rlcredit(steps: int, config: dict) -> tuple[float, float]:
    """(env steps per wall second, per CPU second of this process, all threads)."""
    from rlcredit.train import train

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        run = train("ppo", env=ENV, steps=steps, seed=0, out_dir=f"{tmp}/run", wandb="disabled", progress=False,
                    config=config)  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return run.summary["global_step"] / wall, run.summary["global_step"] / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300_000, help="rlcredit env steps per run")
    ap.add_argument("--sb3-steps", type=int, default=60_000, help="SB3 env steps per run")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    bench_rlcredit(8192, {})  # warm-up: imports, first-call costs
    rows = [("SB3 PPO MlpPolicy, 8 envs, n_steps 256, batch 256, 4 epochs", max(
        bench_sb3(args.sb3_steps) for _ in range(args.repeats)))]  # fmt: skip
    variants = [
        ("rlcredit PPO, default logging (credit, grads, exact, shaping)", {}),
        ("rlcredit PPO, credit records + grads, no exact/shaping", {"exact": False}),
        ("rlcredit PPO, logging off", {"credit": False, "exact": False}),
    ]
    for name, config in variants:
        rows.append((name, max(bench_rlcredit(args.steps, config) for _ in range(args.repeats))))
    anchor = rows[0][1][0]
    print(
        f"PPO on {ENV}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, best of {args.repeats}\n"
    )
    print("| trainer | env steps/s | vs SB3 | env steps per CPU-s |")
    print("|---|---:|---:|---:|")
    for name, (sps, per_cpu) in rows:
        print(f"| {name} | {sps:,.0f} | {sps / anchor:.1f}x | {per_cpu:,.0f} |")
    off = rows[-1][1][0]
    print(f"\nlogging overhead vs logging off (wall time): default {1 - rows[1][1][0] / off:.0%}, "
          f"credit records + grads {1 - rows[2][1][0] / off:.0%}")  # fmt: skip


if __name__ == "__main__":
    main()
