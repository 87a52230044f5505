"""PPO training speed on ButtonRoom: rlcredit vs Stable-Baselines3, end to end, in one process.

    python benchmarks/bench_ppo.py [--steps 300000] [--sb3-steps 60000] [--repeats 5] [--sb3-repeats 2]

Anchor: SB3 ``PPO("MlpPolicy")`` with 8 ``DummyVecEnv`` copies of ``rlcredit.make("rlcredit/ButtonRoom-v0")``
(index observations, which SB3 one-hot encodes), ``n_steps=256, batch_size=256, n_epochs=4``, CPU,
``torch.set_num_threads(1)``. rlcredit: ``rlcredit.train("ppo", ...)`` with its defaults (64 envs x 128
steps) and its default logging, everything on: the credit record of every step, per-sample gradients on a
subsample of 256 steps per update, exact credit, shaping and the exact/* metrics (``exact/grad_cos``
included) every update; and with logging off (``credit = false, exact = false``: metrics.csv and
checkpoints only). Wall time of the whole ``train`` call (run directory, metrics, checkpoints, parquet
files included, wandb disabled), after a warm-up run in the same process.

Prints a markdown table of env steps per wall second (the target) and per CPU second of the process (all
threads; less sensitive to other load on the machine), the ratio to the anchor, the logging overhead
(``1 - default / off``, in wall time and in CPU time; from the best runs and from the median runs) and the
credit files' size per step, with the load average before and after. The rlcredit variants run
interleaved, ``--repeats`` times each; the table shows the best run of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ENV = "rlcredit/ButtonRoom-v0"
LOGGING_OFF = {"credit": False, "exact": False}


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


def bench_rlcredit(steps: int, config: dict) -> tuple[float, float, float]:
    """(env steps per wall second, per CPU second of this process (all threads), credit bytes per step)."""
    from rlcredit.trainers.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        run = train("ppo", env=ENV, steps=steps, seed=0, out_dir=f"{tmp}/run", wandb="disabled", progress=False,
                    config=config)  # fmt: skip
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = run.summary["global_step"]
        credit = sum(p.stat().st_size for p in Path(run.dir, "credit").glob("*.parquet"))
    return n / wall, n / cpu, credit / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300_000, help="rlcredit env steps per run")
    ap.add_argument("--sb3-steps", type=int, default=60_000, help="SB3 env steps per run")
    ap.add_argument("--repeats", type=int, default=5, help="runs of each rlcredit variant")
    ap.add_argument("--sb3-repeats", type=int, default=2, help="runs of the SB3 anchor")
    args = ap.parse_args()

    load_before = os.getloadavg()
    bench_rlcredit(8192, {})  # warm-up: imports, compiled solvers, first-call costs
    sb3 = max(bench_sb3(args.sb3_steps) for _ in range(args.sb3_repeats))
    default, off = [], []
    for _ in range(args.repeats):  # interleaved, so slow phases of the machine hit both alike
        default.append(bench_rlcredit(args.steps, {}))
        off.append(bench_rlcredit(args.steps, LOGGING_OFF))
    best_default = max(default)
    best_off = max(off)
    rows = [
        ("SB3 PPO MlpPolicy, 8 envs, n_steps 256, batch 256, 4 epochs", sb3[:2]),
        ("rlcredit PPO, default logging (credit, grads, exact, shaping, grad_cos)", best_default[:2]),
        ("rlcredit PPO, logging off", best_off[:2]),
    ]
    load_after = os.getloadavg()
    print(
        f"PPO on {ENV}, {os.cpu_count()} CPUs, load average (1/5/15 min) before "
        f"{'/'.join(f'{x:.2f}' for x in load_before)}, after {'/'.join(f'{x:.2f}' for x in load_after)}; "
        f"best of {args.repeats} (SB3: {args.sb3_repeats})\n"
    )
    print("| trainer | env steps/s | vs SB3 | env steps per CPU-s |")
    print("|---|---:|---:|---:|")
    for name, (sps, per_cpu) in rows:
        print(f"| {name} | {sps:,.0f} | {sps / sb3[0]:.1f}x | {per_cpu:,.0f} |")
    med_default = [statistics.median(r[i] for r in default) for i in range(2)]
    med_off = [statistics.median(r[i] for r in off) for i in range(2)]
    print(
        f"\nlogging overhead vs logging off (best runs): {1 - best_default[0] / best_off[0]:.1%} of wall time, "
        f"{1 - best_default[1] / best_off[1]:.1%} of CPU time"
    )
    print(
        f"logging overhead vs logging off (median runs): {1 - med_default[0] / med_off[0]:.1%} of wall time, "
        f"{1 - med_default[1] / med_off[1]:.1%} of CPU time"
    )
    print(f"credit records on disk: {best_default[2]:.1f} bytes per step")
    print("\nall runs (steps/s wall, steps/s CPU):")
    print("  default:", ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b, _ in default))
    print("  off:    ", ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b, _ in off))


if __name__ == "__main__":
    main()
