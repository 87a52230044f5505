"""Time to solve: env steps and wall seconds until a trainer's policy reaches 90% of the optimal return.

    python benchmarks/bench_solve.py [--seeds 5] [--tasks chain,bridge1,fourrooms] [--variants ...]

"Solved" is the first update after which the policy's exact expected undiscounted return over the time limit
is at least ``R_rand + 0.9 (R_opt - R_rand)``: 90% of the way from the uniform-random policy's return to the
optimal return. All three are computed here, independently of the trainers, by backward recursion on the
task's model (gamma 1, horizon = the time limit) with the policy's action probabilities on every state. For the
ButtonRoom bridges the optimum is that of the intended task (the +1 goal: rewards capped at the goal's), so going
to the goal or pressing the button both count; on the other maps it is the reward's (on the reward-vs-intent maps
the trainers are given the reward, and that is what is measured here). Env steps are those learned
from up to that update. Wall seconds run from the start of the ``train``/``PPO(...)`` call (setup included)
to the end of the update that learned from that rollout.

Variants (each ``--seeds`` seeds on each task; the table gives medians and how many seeds solved):
- ``rlcredit``: ``rlcredit.train("ppo", ...)`` at its defaults, default logging on (credit records, exact
  credit, shaping, grad_cos) on gridworlds, wandb disabled;
- ``rlcredit-sb3`` / ``rlcredit-cleanrl``: rlcredit with ``preset = "sb3"`` / ``"cleanrl"`` (the anchors'
  hyperparameters), logging off (``credit = exact = false``), for sample efficiency;
- ``sb3``: Stable-Baselines3 ``PPO("MlpPolicy", make_vec_env(task))`` at its defaults (one env), stopped by a
  callback once solved;
- ``rlcredit-off``: rlcredit defaults with logging off;
- ``reinforce`` / ``reinforce-off``: ``rlcredit.train("reinforce", ...)`` at its defaults, logging on / off.
torch runs single-threaded in every variant (``torch.set_num_threads(1)``).

Tasks: ``chain`` (written here: 8 states in a row, one-hot observations, actions left/right, +1 and the end
of the episode on reaching the right end, time limit 40, start at the left end), gymnasium's ``frozenlake``
(FrozenLake-v1) and ``taxi`` (Taxi-v4), exact through their own transition tables, and every built-in gridworld with
a fixed layout (:data:`TASKS`): ``bridge1``, ``bridge3``, ``fourrooms``, ``fourrooms-slippery``, ``corridor``,
``corridor-long``, ``cliff``, ``cliff-slippery``, ``side-effects``, ``absent-supervisor``, ``interruptibility``,
``tampering``, ``boat-race``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym
import numpy as np

CHAIN_N, CHAIN_T = 8, 40


class Chain(gym.Env):
    """8 states in a row, start at the left end; reaching the right end gives +1 and ends the episode."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (CHAIN_N,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.s = 0

    def _obs(self) -> np.ndarray:
        o = np.zeros(CHAIN_N, np.float32)
        o[self.s] = 1.0
        return o

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.s = 0
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.s = max(0, min(CHAIN_N - 1, self.s + (1 if int(action) == 1 else -1)))
        done = self.s == CHAIN_N - 1
        return self._obs(), float(done), done, False, {}


def make_chain() -> gym.Env:
    return gym.wrappers.TimeLimit(Chain(), CHAIN_T)


def chain_model() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(P (S,A,S), R (S,A), terminal (S,), initial (S,), horizon) of the chain."""
    S = CHAIN_N
    P = np.zeros((S, 2, S))
    R = np.zeros((S, 2))
    for s in range(S):
        for a, d in ((0, -1), (1, 1)):
            t = max(0, min(S - 1, s + d))
            P[s, a, t] = 1.0
            R[s, a] = float(t == S - 1)
    terminal = np.zeros(S, bool)
    terminal[-1] = True
    initial = np.zeros(S)
    initial[0] = 1.0
    return P, R, terminal, initial, CHAIN_T


def toy_text_model(env_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(P, R, terminal, initial, horizon) of a gymnasium toy-text env from its own transition table ``env.P``.

    ``P[s][a]`` lists ``(prob, next, reward, done)``; a state entered by a transition that ends the episode is
    terminal (FrozenLake's holes and goal, Taxi's delivered states); the horizon is the registered time limit.
    """
    env = gym.make(env_id)
    u = env.unwrapped
    S, A = int(u.observation_space.n), int(u.action_space.n)
    P, R, terminal = np.zeros((S, A, S)), np.zeros((S, A)), np.zeros(S, bool)
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, done in u.P[s][a]:
                P[s, a, nxt] += prob
                R[s, a] += prob * reward
                terminal[nxt] |= bool(done)
    initial = np.asarray(u.initial_state_distrib, np.float64)
    return P, R, terminal, initial / initial.sum(), int(env.spec.max_episode_steps)


OUTSIDE = {"chain": make_chain, "frozenlake": "FrozenLake-v1", "taxi": "Taxi-v4"}
"""Tasks that are not rlcredit gridworlds: the chain written here, and gymnasium's toy-text FrozenLake-v1 (4x4,
slippery, time limit 100) and Taxi-v4 (time limit 200) with their own transition tables; observations are
gymnasium's (a one-hot vector for the chain, a ``Discrete`` state index for the toy-text envs)."""


def env_factory(task: str) -> Callable[[], gym.Env]:
    """A function that makes one env of the task (as gymnasium's vector envs and SB3 want)."""
    outside = OUTSIDE.get(task)
    if callable(outside):
        return outside
    if outside is not None:
        return functools.partial(gym.make, outside)
    import rlcredit

    return functools.partial(rlcredit.make, TASKS[task])


TASKS = {
    "chain": None,
    "frozenlake": None,
    "taxi": None,
    "bridge1": "rlcredit/ButtonRoomBridge1-v0",
    "bridge3": "rlcredit/ButtonRoomBridge3-v0",
    "fourrooms": "rlcredit/FourRooms-v0",
    "fourrooms-slippery": "rlcredit/FourRoomsSlippery-v0",
    "corridor": "rlcredit/DelayedCorridor-v0",
    "corridor-long": "rlcredit/DelayedCorridorLong-v0",
    "cliff": "rlcredit/Cliff-v0",
    "cliff-slippery": "rlcredit/CliffSlippery-v0",
    "side-effects": "rlcredit/SideEffects-v0",
    "absent-supervisor": "rlcredit/AbsentSupervisor-v0",
    "interruptibility": "rlcredit/SafeInterruptibility-v0",
    "tampering": "rlcredit/RewardTampering-v0",
    "boat-race": "rlcredit/BoatRace-v0",
}
"""Every built-in gridworld with a fixed layout (the Bridge variants between 1 and 3 and beyond behave alike);
CheeseMaze draws a new maze per episode, so a single exact return does not describe its task."""
CAPPED = ("bridge1", "bridge3")
"""ButtonRoom: the intended task is the +1 goal, so rewards are capped at the goal's (pressing the button counts
too, but is not needed)."""


def model(task: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    if task == "chain":
        return chain_model()
    if task in OUTSIDE:
        return toy_text_model(str(OUTSIDE[task]))
    import rlcredit

    env = rlcredit.make(TASKS[task])
    layout = env.unwrapped.layout
    m = layout.to_mdp()
    R = np.array(m.R)
    if task in CAPPED:  # the intended task: the goal's reward is the most a step can earn
        goal = max(float(R[s, a]) for s, a in zip(*np.nonzero(R > 0)) if float(R[s, a]) <= 1.0)
        R = np.minimum(R, goal)
    return m.dense_P(), R, np.array(m.terminal), np.array(m.initial), int(layout.time_limit)


def finite_horizon_return(P, R, terminal, initial, H, pi=None) -> float:
    """Expected undiscounted return over H steps of policy ``pi`` (S, A), or the optimum when None."""
    V = np.zeros(len(R))
    for _ in range(H):
        Q = R + np.einsum("sat,t->sa", P, V)
        V = np.where(terminal, 0.0, Q.max(1) if pi is None else (pi * Q).sum(1))
    return float(initial @ V)


def threshold(task: str) -> tuple[float, float, float]:
    """(R_rand, R_opt, the return that counts as solved)."""
    P, R, terminal, initial, H = model(task)
    rand = finite_horizon_return(P, R, terminal, initial, H, np.full(R.shape, 1.0 / R.shape[1]))
    opt = finite_horizon_return(P, R, terminal, initial, H)
    return rand, opt, rand + 0.9 * (opt - rand)


@dataclass
class Result:
    steps: float  # env steps to solve (nan: not solved)
    wall: float  # wall seconds to solve (nan: not solved)
    total_steps: int
    total_wall: float


LOGGING_OFF = {"credit": False, "exact": False}
VARIANTS: dict[str, dict] = {
    "rlcredit": {},
    "rlcredit-off": LOGGING_OFF,
    "rlcredit-sb3": {"preset": "sb3", **LOGGING_OFF},
    "rlcredit-cleanrl": {"preset": "cleanrl", **LOGGING_OFF},
    "reinforce": {},
    "reinforce-off": LOGGING_OFF,
}
ALGO = {"reinforce": "reinforce", "reinforce-off": "reinforce"}
"""The trainer of each variant (PPO unless named here)."""


def state_observations(task: str) -> np.ndarray:
    """The observation of every state of the task's model, in state order."""
    if task == "chain":
        return np.eye(CHAIN_N, dtype=np.float32)
    if task in OUTSIDE:
        return np.arange(env_factory(task)().observation_space.n, dtype=np.int64)
    import rlcredit

    env = rlcredit.make(TASKS[task])
    return np.asarray(env.unwrapped.observation_of(np.arange(env.unwrapped.to_mdp().num_states)))


class Solved(Exception):
    """Raised by a measurement hook to stop a run once it is solved."""

    def __init__(self, steps: int, wall: float) -> None:
        super().__init__(steps, wall)
        self.steps, self.wall = float(steps), wall


def run_rlcredit(task: str, seed: int, steps: int, config: dict, evaluate: Callable[[np.ndarray], float],
                 target: float, algo: str = "ppo") -> Result:  # fmt: skip
    """Train, then find the first update after which the policy's exact return reaches ``target``.

    The policy after every update comes from the run's shaping files (logging on), from an ``on_update``
    hook (logging off: the (S, A) table the loop already computed is evaluated there, and training stops
    once it is solved), or, for the tasks that are not gridworlds (:data:`OUTSIDE`), from a checkpoint after
    every update (their writing is in the measured wall time).
    """
    import pandas as pd
    import torch

    from rlcredit.trainers.load import load_policy
    from rlcredit.trainers.loop import train

    torch.set_num_threads(1)
    tables: list[np.ndarray] = []
    kw: dict = {}
    config = dict(config)
    if task in OUTSIDE:
        env: str | Callable[[], gym.Env] = OUTSIDE[task]
        config.update(checkpoint_every=1, checkpoint_keep=1_000_000)
    else:
        env = TASKS[task]  # type: ignore[assignment]
        if config.get("exact") is False:
            # env steps learned from so far: every step of a PPO rollout, REINFORCE's valid ones
            learned = [0]

            def stop_when_solved(update: int, before: object, after: np.ndarray, columns: dict) -> None:
                learned[0] += len(columns["action"])
                if evaluate(after) >= target:
                    raise Solved(learned[0], time.perf_counter() - t0)

            kw["on_update"] = stop_when_solved
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            run = train(algo, env=env, steps=steps, seed=seed, out_dir=f"{tmp}/run", wandb="disabled",
                        progress=False, config=config, **kw)  # fmt: skip
        except Solved as s:
            return Result(s.steps, s.wall, s.steps, time.perf_counter() - t0)
        total = time.perf_counter() - t0
        m = run.metrics
        if "on_update" in kw:  # the hook saw every update's policy and none solved the task
            return Result(float("nan"), float("nan"), int(m["global_step"].iloc[-1]), total)
        if task in OUTSIDE:
            obs = state_observations(task)
            tables = [load_policy(run.dir, int(u)).action_probs(obs) for u in m["update"]]
        elif not tables:
            for u in m["update"]:
                f = pd.read_parquet(f"{run.dir}/shaping/update_{int(u):06d}.parquet").sort_values("state")
                tables.append(f.filter(regex=r"^pi_after_\d+$").to_numpy(np.float64))
    returns = np.array([evaluate(t) for t in tables])
    row_wall = (m["global_step"].diff().fillna(m["global_step"].iloc[0]) / m["charts/SPS"]).cumsum()
    setup = total - float(row_wall.iloc[-1])
    hit = np.flatnonzero(returns >= target)
    if len(hit) == 0:
        return Result(float("nan"), float("nan"), int(m["global_step"].iloc[-1]), total)
    i = int(hit[0])
    return Result(float(m["global_step"].iloc[i]), setup + float(row_wall.iloc[i]), int(m["global_step"].iloc[-1]),
                  total)  # fmt: skip


def run_sb3(
    task: str, seed: int, steps: int, evaluate: Callable[[np.ndarray], float], target: float
) -> Result:
    """SB3 PPO at its defaults; after every update the policy's exact return is checked (its cost, one forward
    pass over the task's states, is in the measured wall time) and training stops once it reaches ``target``."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    obs = state_observations(task)

    class Solved(Exception):
        pass

    t0 = time.perf_counter()
    venv = make_vec_env(env_factory(task), n_envs=1, seed=seed)
    model = PPO("MlpPolicy", venv, device="cpu", seed=seed, verbose=0)
    solved = [float("nan"), float("nan")]
    orig_train = model.train

    def train_then_check() -> None:
        orig_train()
        with torch.no_grad():
            x, _ = model.policy.obs_to_tensor(obs)
            pi = model.policy.get_distribution(x).distribution.probs.double().numpy()
        if evaluate(pi) >= target:
            solved[:] = [float(model.num_timesteps), time.perf_counter() - t0]
            raise Solved

    model.train = train_then_check  # type: ignore[method-assign]
    try:
        model.learn(steps)
    except Solved:
        pass
    total = time.perf_counter() - t0
    return Result(solved[0], solved[1], int(model.num_timesteps), total)


BUDGET = {"chain": 20_000, "frozenlake": 100_000, "taxi": 200_000, "bridge1": 40_000, "bridge3": 40_000, "fourrooms": 100_000, "fourrooms-slippery": 150_000,
          "corridor": 40_000, "corridor-long": 100_000, "cliff": 100_000, "cliff-slippery": 100_000,
          "side-effects": 60_000, "absent-supervisor": 60_000, "interruptibility": 60_000, "tampering": 60_000,
          "boat-race": 60_000}  # fmt: skip
"""Default budget of env steps per run and task."""


def _evaluate(task_model: tuple, pi: np.ndarray) -> float:
    return finite_horizon_return(*task_model, pi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", default="chain,bridge1,fourrooms")
    ap.add_argument("--variants", default="rlcredit,sb3,rlcredit-sb3,rlcredit-cleanrl")
    ap.add_argument("--steps", default=",".join(f"{k}={v}" for k, v in BUDGET.items()),
                    help="budget of env steps per run: one number, or TASK=STEPS,...")  # fmt: skip
    ap.add_argument("--config", default="", help="extra rlcredit config for the rlcredit* variants: K=V,K=V")
    args = ap.parse_args()
    extra = {}
    if args.config:
        from rlcredit.config import parse_value

        for item in args.config.split(","):
            k, _, v = item.partition("=")
            extra[k] = parse_value(v)
    tasks = args.tasks.split(",")
    budget = (
        dict((k, int(v)) for k, v in (item.split("=") for item in args.steps.split(",")))
        if "=" in args.steps
        else dict.fromkeys(tasks, int(args.steps))
    )
    variants = args.variants.split(",")
    load = os.getloadavg()
    rows = []
    for task in tasks:
        rand, opt, target = threshold(task)
        evaluate = functools.partial(_evaluate, model(task))

        print(f"# {task}: uniform-random return {rand:.4g}, optimal {opt:.4g}, solved at >= {target:.4g}",
              file=sys.stderr, flush=True)  # fmt: skip
        for variant in variants:
            results = []
            for seed in range(args.seeds):
                if variant == "sb3":
                    r = run_sb3(task, seed, budget[task], evaluate, target)
                else:
                    r = run_rlcredit(
                        task,
                        seed,
                        budget[task],
                        {**VARIANTS[variant], **extra},
                        evaluate,
                        target,
                        ALGO.get(variant, "ppo"),
                    )
                print(f"  {task} {variant} seed {seed}: {r}", file=sys.stderr, flush=True)
                results.append(r)
            rows.append((task, variant, results))
    print(
        f"\nTime to solve (90% of the way from random to optimal return), {args.seeds} seeds, budget "
        f"{args.steps} env steps, {os.cpu_count()} CPUs, load average before {load[0]:.2f}, "
        f"after {os.getloadavg()[0]:.2f}{'; rlcredit config ' + args.config if args.config else ''}\n"
    )
    print("| task | variant | solved | median env steps | median wall s | median steps/s (whole run) |")
    print("|---|---|---:|---:|---:|---:|")
    for task, variant, results in rows:
        solved = [r for r in results if np.isfinite(r.steps)]
        # unsolved seeds count as the budget (a lower bound), so the median never hides failures
        steps = statistics.median(r.steps if np.isfinite(r.steps) else float("inf") for r in results)
        wall = statistics.median(r.wall if np.isfinite(r.wall) else float("inf") for r in results)
        sps = statistics.median(r.total_steps / r.total_wall for r in results)
        print(f"| {task} | {variant} | {len(solved)}/{len(results)} | {_fmt(steps)} | {_fmt(wall, '.1f')} | "
              f"{sps:,.0f} |")  # fmt: skip
    print("\n(inf: fewer than half of the seeds solved within the budget)")


def _fmt(x: float, spec: str = ",.0f") -> str:
    return "inf" if not np.isfinite(x) else format(x, spec)


if __name__ == "__main__":
    main()
