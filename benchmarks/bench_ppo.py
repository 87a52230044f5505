"""PPO training speed at equal settings: rlcredit vs Stable-Baselines3 and vs a CleanRL loop, in one process.

    python benchmarks/bench_ppo.py [--steps 40000] [--repeats 3] [--settings sb3,cleanrl,rlcredit]

Three settings, each on ButtonRoomBridge1 (index observations, one-hot encoded by every implementation, a
64x64 tanh actor and critic, CPU, ``torch.set_num_threads(1)``), each with its anchor:

- ``sb3``: SB3's batch shapes as in the issue's measurement, 8 envs x 256 steps, minibatches of 256, 4 epochs
  (``n_steps=256, batch_size=256, n_epochs=4``). Anchor: SB3 ``PPO("MlpPolicy")`` on 8 ``DummyVecEnv`` copies
  of ``rlcredit.make(ENV)``; rlcredit: the same fields (``num_envs=8, num_steps=256, num_minibatches=8,
  update_epochs=4``, lr 3e-4 constant, no value clipping, ent_coef 0, as SB3).
- ``cleanrl``: CleanRL's ``ppo.py`` defaults (4 envs x 128 steps, 4 minibatches, 4 epochs). Anchor:
  :func:`cleanrl_ppo` below, CleanRL's loop written out (gymnasium ``SyncVectorEnv`` of ``rlcredit.make(ENV)``,
  the same network and update); rlcredit: ``preset = "cleanrl"``.
- ``rlcredit``: rlcredit's defaults (8 envs x 64 steps, 4 minibatches, 4 epochs); no anchor.

rlcredit runs with its full default logging (the credit record of every step, per-sample gradients of 256
steps per update, exact credit, shaping and the exact/* metrics, ``exact/grad_cos`` included, metrics.csv,
checkpoints every 50 updates) and with logging off (``credit = false, exact = false``: metrics.csv and
checkpoints only); wall time of the whole ``train`` call (run directory, files and checkpoints included,
wandb disabled). Variants run interleaved, ``--repeats`` times each, after a warm-up; the table shows the
median run of each, per wall second and per CPU second of the process and its children (all threads, and
rlcredit's measurement process, which runs beside the training loop on the second core: the wall figure is
what a user waits for, the CPU figure what the logging costs in total), with the load average: other load on
the 2 cores moves the wall figures most. Below the table, the same ratios taken within each repeat (whose runs
are adjacent in time) and then the median over repeats, with their range: slow phases of a shared machine
cancel in them. Last, the ratios of the fastest run of each variant (noise only slows runs down).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ENV = "rlcredit/ButtonRoomBridge1-v0"


def cpu_time() -> float:
    """CPU seconds of this process (all threads) and of its finished child processes (rlcredit's measurement
    process is one: it is reaped when ``train`` returns, so its time is counted in full)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


LOGGING_OFF = {"credit": False, "exact": False}
SB3_SETTING = {"num_envs": 8, "num_steps": 256, "num_minibatches": 8, "update_epochs": 4, "lr": 3e-4,
               "anneal_lr": False, "clip_vloss": False, "ent_coef": 0.0, "vf_coef": 1.0}  # fmt: skip


def bench_sb3(steps: int) -> tuple[float, float]:
    """Env steps per wall second and per CPU second of SB3 PPO at the ``sb3`` setting."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import rlcredit

    torch.set_num_threads(1)
    venv = make_vec_env(lambda: rlcredit.make(ENV), n_envs=8, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=256, batch_size=256, n_epochs=4, learning_rate=3e-4, device="cpu",
                seed=0, verbose=0)  # fmt: skip
    t0, c0 = time.perf_counter(), cpu_time()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - t0), model.num_timesteps / (cpu_time() - c0)


def cleanrl_ppo(steps: int, seed: int = 0) -> tuple[float, float]:
    """CleanRL ``ppo.py`` (defaults: 4 envs x 128 steps, 4 minibatches, 4 epochs, lr 2.5e-4 annealed, clipped
    value loss, ent_coef 0.01), its loop written out on ``ENV``; returns env steps per wall and per CPU second."""
    import gymnasium as gym
    import torch
    from torch import nn
    from torch.distributions.categorical import Categorical

    import rlcredit

    torch.set_num_threads(1)
    num_envs, num_steps, num_minibatches, update_epochs = 4, 128, 4, 4
    lr, gamma, gae_lambda, clip_coef, ent_coef, vf_coef, max_grad_norm = (
        2.5e-4,
        0.99,
        0.95,
        0.2,
        0.01,
        0.5,
        0.5,
    )
    batch_size = num_envs * num_steps
    minibatch_size = batch_size // num_minibatches
    t0, c0 = time.perf_counter(), cpu_time()
    envs = gym.vector.SyncVectorEnv([lambda: rlcredit.make(ENV) for _ in range(num_envs)])
    n_obs = int(envs.single_observation_space.n)
    n_act = int(envs.single_action_space.n)

    def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
        torch.nn.init.orthogonal_(layer.weight, std)
        torch.nn.init.constant_(layer.bias, bias_const)
        return layer

    class Agent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.critic = nn.Sequential(layer_init(nn.Linear(n_obs, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)),
                                        nn.Tanh(), layer_init(nn.Linear(64, 1), std=1.0))  # fmt: skip
            self.actor = nn.Sequential(layer_init(nn.Linear(n_obs, 64)), nn.Tanh(), layer_init(nn.Linear(64, 64)),
                                       nn.Tanh(), layer_init(nn.Linear(64, n_act), std=0.01))  # fmt: skip

        def get_value(self, x: torch.Tensor) -> torch.Tensor:
            return self.critic(x)

        def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
            probs = Categorical(logits=self.actor(x))
            if action is None:
                action = probs.sample()
            return action, probs.log_prob(action), probs.entropy(), self.critic(x)

    def one_hot(o: np.ndarray) -> torch.Tensor:
        return torch.nn.functional.one_hot(torch.as_tensor(o, dtype=torch.long), n_obs).float()

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    agent = Agent()
    optimizer = torch.optim.Adam(agent.parameters(), lr=lr, eps=1e-5)
    obs = torch.zeros((num_steps, num_envs, n_obs))
    actions = torch.zeros((num_steps, num_envs))
    logprobs = torch.zeros((num_steps, num_envs))
    rewards = torch.zeros((num_steps, num_envs))
    dones = torch.zeros((num_steps, num_envs))
    values = torch.zeros((num_steps, num_envs))
    global_step = 0
    next_obs_np, _ = envs.reset(seed=seed)
    next_obs = one_hot(next_obs_np)
    next_done = torch.zeros(num_envs)
    num_iterations = steps // batch_size
    for iteration in range(1, num_iterations + 1):
        optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * lr
        for step in range(num_steps):
            global_step += num_envs
            obs[step] = next_obs
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            next_obs_np, reward, terminations, truncations, _ = envs.step(action.numpy())
            next_done = torch.as_tensor(np.logical_or(terminations, truncations), dtype=torch.float32)
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32)
            next_obs = one_hot(next_obs_np)
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(num_envs)
            for t in reversed(range(num_steps)):
                if t == num_steps - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values
        b_obs, b_logprobs, b_actions = obs.reshape(-1, n_obs), logprobs.reshape(-1), actions.reshape(-1)
        b_advantages, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        b_inds = np.arange(batch_size)
        clipfracs = []
        for _epoch in range(update_epochs):
            rng.shuffle(b_inds)
            for start in range(0, batch_size, minibatch_size):
                mb_inds = b_inds[start : start + minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb_inds], b_actions.long()[mb_inds]
                )
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > clip_coef).float().mean().item()]
                mb_advantages = b_advantages[mb_inds]
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                newvalue = newvalue.view(-1)
                v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                v_clipped = b_values[mb_inds] + torch.clamp(
                    newvalue - b_values[mb_inds], -clip_coef, clip_coef
                )
                v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_grad_norm)
                optimizer.step()
        # CleanRL's per-iteration logging (to TensorBoard there): the scalars it computes
        y_pred, y_true = b_values.numpy(), b_returns.numpy()
        var_y = np.var(y_true)
        _ = (
            approx_kl.item(),
            np.mean(clipfracs),
            np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y,
        )
    envs.close()
    return global_step / (time.perf_counter() - t0), global_step / (cpu_time() - c0)


def bench_rlcredit(steps: int, config: dict) -> tuple[float, float]:
    """Env steps per wall second and per CPU second (all threads, measurement process included) of
    ``rlcredit.train("ppo", ...)``."""
    from rlcredit.trainers.loop import train

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), cpu_time()
        run = train("ppo", env=ENV, steps=steps, seed=0, out_dir=f"{tmp}/run", wandb="disabled", progress=False,
                    config=config)  # fmt: skip
        wall, cpu = time.perf_counter() - t0, cpu_time() - c0
        n = run.metrics["global_step"].iloc[-1]
        return n / wall, n / cpu


SETTINGS: dict[str, tuple[str, Callable[[int], tuple[float, float]] | None, dict]] = {
    "sb3": ("SB3 PPO, 8 envs x 256 steps, minibatch 256, 4 epochs", bench_sb3, SB3_SETTING),
    "cleanrl": (
        "CleanRL ppo.py loop, 4 envs x 128 steps, 4 minibatches, 4 epochs",
        cleanrl_ppo,
        {"preset": "cleanrl"},
    ),
    "rlcredit": ("rlcredit defaults, 8 envs x 64 steps, 4 minibatches, 4 epochs", None, {}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40_000, help="env steps per run")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each variant")
    ap.add_argument("--settings", default="sb3,cleanrl,rlcredit")
    args = ap.parse_args()
    load_before = os.getloadavg()
    bench_rlcredit(4096, {})  # warm-up: imports, compiled solvers, first-call costs
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.repeats):  # interleaved, so slow phases of the machine hit every variant alike
        for name in args.settings.split(","):
            _, anchor, cfg = SETTINGS[name]
            if anchor is not None:
                results.setdefault((name, "anchor"), []).append(anchor(args.steps))
            results.setdefault((name, "on"), []).append(bench_rlcredit(args.steps, cfg))
            results.setdefault((name, "off"), []).append(bench_rlcredit(args.steps, {**cfg, **LOGGING_OFF}))
    load_after = os.getloadavg()
    print(
        f"PPO on {ENV}, {args.steps:,} env steps per run, {os.cpu_count()} CPUs, torch threads 1, load average "
        f"(1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, after "
        f"{'/'.join(f'{x:.2f}' for x in load_after)}; median of {args.repeats} runs. Env steps per wall second "
        "(what a user waits for) and per CPU second of the process and its children, all threads (what the "
        "logging costs in total; what other load on the machine moves least)\n"
    )
    print(
        "| setting | implementation | steps/s wall | vs anchor | steps/CPU-s | vs anchor | logging overhead (wall / CPU) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    med = {k: tuple(statistics.median(r[i] for r in v) for i in range(2)) for k, v in results.items()}
    for name in args.settings.split(","):
        label, anchor, _ = SETTINGS[name]
        base = med.get((name, "anchor"))
        if base is not None:
            print(f"| {name} | {label} | {base[0]:,.0f} | 1.0x | {base[1]:,.0f} | 1.0x | |")
        for variant, text in (("on", "rlcredit, full default logging"), ("off", "rlcredit, logging off")):
            sps = med[name, variant]
            ratio = [f"{sps[i] / base[i]:.1f}x" if base else "" for i in range(2)]
            overhead = (
                f"{1 - med[name, 'on'][0] / med[name, 'off'][0]:.0%} / {1 - med[name, 'on'][1] / med[name, 'off'][1]:.0%}"
                if variant == "on"
                else ""
            )
            print(
                f"| {name} | {text} | {sps[0]:,.0f} | {ratio[0]} | {sps[1]:,.0f} | {ratio[1]} | {overhead} |"
            )
    # Runs of one repeat are adjacent in time, so their ratios cancel most of the machine's slow phases.
    print("\nratios within each repeat, median over repeats (wall / CPU):")
    for name in args.settings.split(","):
        # (what, base variant, variant, as an overhead 1 - variant/base or as a ratio variant/base)
        pairs = [("logging overhead", "off", "on", True)]
        if (name, "anchor") in results:
            pairs += [
                ("rlcredit logging on vs anchor", "anchor", "on", False),
                ("rlcredit logging off vs anchor", "anchor", "off", False),
            ]
        for text, base, variant, as_overhead in pairs:
            paired = []
            for i in range(2):
                ratios = [v[i] / b[i] for b, v in zip(results[name, base], results[name, variant])]
                paired.append(1 - statistics.median(ratios) if as_overhead else statistics.median(ratios))
            fmt = "{:.0%}" if as_overhead else "{:.2f}x"
            wall = [v[0] / b[0] for b, v in zip(results[name, base], results[name, variant])]
            spread = [1 - x for x in wall] if as_overhead else wall
            print(
                f"  {name:8s} {text}: {fmt.format(paired[0])} / {fmt.format(paired[1])}"
                f"  (wall, range over repeats {fmt.format(min(spread))} to {fmt.format(max(spread))})"
            )
    # Noise on a shared machine only ever slows a run down, so the fastest run of each variant is the least
    # disturbed estimate of its speed (the reason timeit reports the minimum).
    print("\nfastest run of each variant, wall (what each costs undisturbed):")
    best = {k: max(w for w, _ in v) for k, v in results.items()}
    for name in args.settings.split(","):
        line = f"  {name:8s} logging overhead {1 - best[name, 'on'] / best[name, 'off']:.0%}"
        if (name, "anchor") in best:
            line += (
                f"; logging on vs anchor {best[name, 'on'] / best[name, 'anchor']:.2f}x"
                f", logging off vs anchor {best[name, 'off'] / best[name, 'anchor']:.2f}x"
            )
        print(line)
    print("\nall runs (env steps per wall s / per CPU s):")
    for (name, variant), values in results.items():
        print(f"  {name:8s} {variant:6s} " + ", ".join(f"{w:,.0f}/{c:,.0f}" for w, c in values))


if __name__ == "__main__":
    main()
