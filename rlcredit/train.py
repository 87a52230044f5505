"""``rlcredit.train``: run a trainer on an env and write its run directory.

Each update: collect a rollout -> learn from it -> measure it (credit records, exact credit, shaping) ->
log one metrics row -> checkpoint every ``checkpoint_every`` updates and at the end. The run directory
(config.toml, metrics.csv, credit/, shaping/, checkpoints/, summary.json) is complete up to the last
checkpoint at any time, so a killed run continues with ``train(resume=RUN_DIR)`` with no step lost or
counted twice and the same metrics (timing aside) as an uninterrupted run.

Measurements run on one background thread, update by update, while the next rollout is collected; an
update's metrics row is written once its measurements are done. Two hooks plug measurements in:

``exact_fn(update, states, t, actions, pi_all) -> (q, adv)``
    ``states, t, actions`` are (B,) arrays of the steps learned from and ``pi_all`` the policy that
    collected them on every exact-model state: an (S, A) table (a function of observations for
    procedural gridworlds, which also get ``layout_seeds=`` (B,)). Returns (B,) Q^pi and A^pi, written as
    ``exact_q`` and ``exact_advantage``. Called on updates that write credit records.
``on_update(update, pi_before, pi_after, batch) -> dict | None``
    After every update: the policy on every state before and after it (as above; None when the env
    cannot enumerate its states) and ``batch``, the update's credit columns as (B,) arrays (all but
    ``grad_norm`` and ``grad_cos``; plus ``layout_seed`` on procedural gridworlds). A returned dict of
    scalars joins the update's metrics row.

On rlcredit gridworlds with ``exact = true`` (the default) a missing ``exact_fn`` is
:class:`~rlcredit.credit.ExactCredit` and a missing ``on_update`` is
:class:`~rlcredit.credit.ShapingRecorder` (``shaping/`` files, ``exact/*`` and ``shaping/*`` metrics).
When ``on_update`` is a ShapingRecorder (given or default) with an exact model, every update also
reports ``exact/grad_cos``: the cosine between the trainer's sampled policy-gradient estimate at the
parameters that collected the rollout, ``grad_theta mean_t c_t log pi(a_t|s_t)`` over the actor with the
credit ``c_t`` of the update's first epoch (:attr:`~rlcredit.trainers.base.UpdateResult.first_credit`), and
the exact policy gradient there (:meth:`~rlcredit.credit.ShapingRecorder.record_gradient`). Both are
taken on the measurement thread from a copy of the actor made before the update.

The module is callable: ``rlcredit.train(...)`` is :func:`train`, and ``import rlcredit.train`` still
gives the module (see the end of this file).
"""

from __future__ import annotations

import collections
import copy
import sys
import time
import types
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rlcredit.config import to_dict
from rlcredit.credit.records import CreditRecorder
from rlcredit.tracking import Checkpointer, MetricsWriter, RunDir, WandbMirror
from rlcredit.trainers.base import Trainer
from rlcredit.trainers.config import CommonConfig, trainer_config
from rlcredit.trainers.grads import flat_params, grad_stats, sampled_policy_gradient
from rlcredit.trainers.networks import Policy
from rlcredit.trainers.ppo import PPO
from rlcredit.trainers.reinforce import Reinforce
from rlcredit.trainers.rollout import EnvSource, VecEnv, make_env

__all__ = ["ExactFn", "OnUpdate", "Run", "load_policy", "train"]

ExactFn = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
OnUpdate = Callable[
    [int, "np.ndarray | None", "np.ndarray | None", dict[str, np.ndarray]], "Mapping[str, float] | None"
]

TRAINERS: dict[str, type[Trainer]] = {"ppo": PPO, "reinforce": Reinforce}
_LAYOUT_KEYS = ("layout_seed", "num_layouts", "time_limit", "slip", "gamma", "step_cost")


@dataclass(frozen=True)
class Run:
    """A finished run.

    Attributes
    ----------
    dir : Path
        The run directory.
    policy : Policy
        The trained policy (``policy.action_probs(obs) -> (B, A)``).
    metrics : DataFrame
        ``metrics.csv``, one row per update.
    summary : dict
        ``summary.json``.
    config : CommonConfig
        The trainer config used.
    """

    dir: Path
    policy: Policy
    metrics: pd.DataFrame
    summary: dict
    config: CommonConfig


def _env_name(env: EnvSource) -> str:
    if isinstance(env, str):
        return env.removeprefix("rlcredit/").removesuffix(".toml").replace("/", "-")
    return getattr(env, "__qualname__", type(env).__name__)


def train(
    algo: str | None = None,
    *,
    env: EnvSource | None = None,
    steps: int | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    root: str | Path = "runs",
    wandb: str = "offline",
    config: Mapping[str, Any] | CommonConfig | None = None,
    overrides: Sequence[str] = (),
    resume: str | Path | None = None,
    progress: bool | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    exact_fn: ExactFn | None = None,
    on_update: OnUpdate | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Run:
    """Train a policy with ``algo`` on ``env`` for ``steps`` env steps and write a run directory.

    Parameters
    ----------
    algo : "ppo" | "reinforce"
    env : str or callable
        An rlcredit gridworld id or map file, any gymnasium id, or a factory returning a gymnasium Env;
        the action space must be Discrete.
    steps : int
        Env steps to learn from; the run stops at the first update boundary at or after it.
    seed : int
        Seeds the network initialization, the env and the trainer's random stream: the same seed gives
        the same metrics.csv (apart from ``charts/SPS``).
    out_dir : path, optional
        The run directory to create; None makes ``ROOT/ALGO-ENV-YYYYmmdd-HHMMSS-xxxx``.
    root : path
        Parent of generated run directories.
    wandb : "offline" | "online" | "disabled"
        The wandb mirror (the run directory is always written).
    config : mapping or config dataclass, optional
        Trainer config fields (:class:`~rlcredit.trainers.PPOConfig`, :class:`~rlcredit.trainers.ReinforceConfig`).
    overrides : sequence of str
        ``"lr=3e-4"``-style strings applied on top of ``config``.
    resume : path, optional
        Continue this run directory from its last checkpoint, with its stored algo, env, steps, seed and
        config (pass ``env`` again if it was a factory).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal).
    group, tags :
        wandb grouping (seeds of one experiment share a group).
    exact_fn, on_update :
        Measurement hooks; see the module docstring.
    env_kwargs : mapping, optional
        Keyword arguments of the env constructor, recorded in config.toml (the ``env_kwargs`` table; the
        gridworld layout keys also at the top level, as ``rlcredit plan`` records them) so a resumed run
        and the plots rebuild the same env: for gridworld ids and map files those of
        ``rlcredit.make_vec`` (``time_limit``, ``slip``, ``gamma``, ``step_cost``, ``layout_seed``,
        ``num_layouts``), for gymnasium ids those of ``gym.make``, for factories the factory's. None values
        mean the constructor's default and are left out. On resume the stored ones are used.

    Returns
    -------
    Run

    Raises
    ------
    rlcredit.config.ConfigError
        Unknown or invalid config keys.
    ValueError
        Env keyword arguments the env does not take (nothing is written then).
    FloatingPointError
        ``"non-finite loss at update U ..."``; the run directory keeps its last good checkpoint.
    """
    kwargs = {k: v for k, v in (env_kwargs or {}).items() if v is not None}
    if resume is not None:
        run = RunDir.open(resume)
        stored = run.read_config()
        for arg, value in (("algo", algo), ("steps", steps)):
            if value is not None and value != stored[arg]:
                raise ValueError(f"resume: {arg}={value!r} differs from the run's {stored[arg]!r}")
        if config is not None or overrides:
            raise ValueError("resume continues with the run's stored config; do not pass config or overrides")
        stored_kwargs = dict(stored.get("env_kwargs", {}))
        if env_kwargs is not None and kwargs != stored_kwargs:
            raise ValueError(f"resume: env_kwargs={kwargs!r} differ from the run's {stored_kwargs!r}")
        algo, steps, seed, kwargs = stored["algo"], stored["steps"], stored["seed"], stored_kwargs
        if env is None:
            if stored["env_kind"] != "id":
                raise ValueError(f"resume: the run's env was a factory ({stored['env']}); pass env= again")
            env = stored["env"]
        cfg = trainer_config(algo, stored.get(algo, {}), source=str(run.config_path))
        venv = make_env(env, cfg.num_envs, seed, obs=cfg.obs, env_kwargs=kwargs)
    else:
        if algo is None or env is None or steps is None:
            raise ValueError("train needs algo, env and steps (or resume=RUN_DIR)")
        cfg = trainer_config(algo, config, overrides=overrides)
        if steps < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        # The env first: bad env keyword arguments fail before anything is written.
        venv = make_env(env, cfg.num_envs, seed, obs=cfg.obs, env_kwargs=kwargs)
        env_label = env if isinstance(env, str) else f"{getattr(env, '__module__', '?')}.{_env_name(env)}"
        try:
            run = RunDir.create(out_dir, root=root, name=f"{algo}-{_env_name(env)}")
            run.write_config(
                {
                    "algo": algo,
                    "env": env_label,
                    "env_kind": "id" if isinstance(env, str) else "factory",
                    **({"env_kwargs": kwargs} if kwargs else {}),
                    # Layout-shaping keys also at the top level, where `rlcredit plan` runs keep them
                    # (readers of either kind of run directory rebuild the layout from them).
                    **{k: v for k, v in kwargs.items() if k in _LAYOUT_KEYS and venv.num_states is not None},
                    "steps": steps,
                    "seed": seed,
                    algo: to_dict(cfg),
                }
            )
        except BaseException:
            venv.close()
            raise
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.torch_threads)
    try:
        return _run(
            algo,
            cfg,
            env,
            venv,
            steps,
            seed,
            run,
            wandb,
            resume is not None,
            progress,
            group,
            tags,
            exact_fn,
            on_update,
        )
    finally:
        torch.set_num_threads(threads)


def _log_credit_sample(wb: WandbMirror, credit_dir: Path, *, max_rows: int = 2000, files: int = 8) -> None:
    """Mirror a bounded, seeded sample of the last updates' credit rows to wandb as a ``credit`` table."""
    paths = sorted(Path(credit_dir).glob("update_*.parquet"))[-files:]
    if paths:
        frame = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
        wb.log_table("credit", frame, max_rows=max_rows)


def _run(
    algo: str,
    cfg: CommonConfig,
    env: EnvSource,
    venv: VecEnv,
    steps: int,
    seed: int,
    run: RunDir,
    wandb: str,
    resuming: bool,
    progress: bool | None,
    group: str | None,
    tags: Sequence[str],
    exact_fn: ExactFn | None,
    on_update: OnUpdate | None,
) -> Run:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        policy = Policy(venv.obs_spec, venv.num_actions, hidden=cfg.hidden, network=cfg.network)
    trainer = TRAINERS[algo](cfg, venv, policy, np.random.default_rng([seed, 1]))
    exact_fn, on_update, shaping = _default_hooks(cfg, trainer, run, exact_fn, on_update)
    gradient_hook = _gradient_hook(on_update)
    # The observation of every state, for fixed maps (procedural maps render them per layout).
    all_obs = None if venv.procedural else venv.all_observations()
    checkpoints = Checkpointer(run.checkpoints_dir, keep=cfg.checkpoint_keep)
    metrics = MetricsWriter(run.metrics_path)
    recorder = CreditRecorder(run.credit_dir, fsync=False)

    update, global_step, wandb_id = 0, 0, None
    recent: collections.deque[float] = collections.deque(maxlen=100)
    found = (
        checkpoints.latest() if resuming else None
    )  # a damaged newest checkpoint is an error, never a silent restart
    if found is not None:
        update, global_step = found.update, found.state["global_step"]
        trainer.load(found.tensors, found.state["trainer"], fallback_seed=seed + found.update)
        recent.extend(found.state["recent_returns"])
        wandb_id = found.state.get("wandb_id")
    else:
        trainer.start(seed)
    metrics.truncate(update)
    recorder.discard_after(update)
    if shaping is not None:
        shaping.discard_after(update)
    last_checkpoint = checkpoints.paths(update)[1] if found is not None else None

    wb = WandbMirror(
        wandb,
        group=group,
        job_type="train",
        tags=(algo, _env_name(env), *tags),
        name=run.path.name,
        config=run.read_config(),
        dir=run.path,
        run_id=wandb_id,
        resume="allow" if wandb_id else None,
    )
    if wb.enabled:
        wandb_id = wb.run.id
    measurer = _Measurer(
        metrics,
        wb,
        recorder if cfg.credit else None,
        exact_fn,
        on_update,
        logged_update=update,
        gradient_hook=gradient_hook,
        all_obs=all_obs,
    )
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(
        total=steps,
        initial=min(global_step, steps),
        unit="step",
        unit_scale=True,
        disable=not show,
        desc=f"{algo} {_env_name(env)}",
        dynamic_ncols=True,
    )
    copies = _ActorCopies(policy.actor)
    started = t_row = time.perf_counter()
    start_step = global_step
    status, error = "completed", None

    def save() -> Path:
        measurer.wait()  # a checkpoint at update U promises metrics rows and credit files up to U
        recorder.sync()  # ... on disk: the per-update files are not flushed one by one
        if shaping is not None:
            shaping.sync()
        tensors, state = trainer.state()
        return checkpoints.save(
            update,
            tensors,
            {
                "global_step": global_step,
                "trainer": state,
                "recent_returns": list(recent),
                "wandb_id": wandb_id,
                "policy_spec": policy.spec(),
            },
        )

    try:
        while global_step < steps:
            update += 1
            lr = cfg.lr * (1.0 - global_step / steps) if cfg.anneal_lr else cfg.lr
            n_steps, episodes = trainer.collect()
            last = global_step + n_steps >= steps
            records = cfg.credit and (update % cfg.credit_every == 0 or last)
            job = _Job(update, records=records, grad_cos=gradient_hook is not None)
            if records or on_update is not None:
                job.policy_before = _policy_snapshot(policy, venv, all_obs)
                if (records and cfg.grad_samples) or job.grad_cos:
                    job.actor_before = copies.take(update, "before")

            result = trainer.learn(update, lr)
            global_step += n_steps
            recent.extend(episodes.returns.tolist())

            if records or on_update is not None:
                job.policy_after = _policy_snapshot(policy, venv, all_obs)
                job.actor = copies.take(update, "after")
                # Own copies: the rollout buffers are reused by the next collect.
                job.batch = {k: np.array(v) for k, v in result.steps.items()}
                n = len(job.batch["action"])
                job.batch["update"] = np.full(n, update, np.int32)
                if result.logp_new is not None:
                    job.batch["logp_new"] = result.logp_new
                if result.logp_new is None or (job.grad_cos and all_obs is None):
                    job.obs = np.array(result.obs)
                job.first_credit = result.first_credit
                if records and cfg.grad_samples:
                    # Own random stream per update, so logging never changes what the trainer samples.
                    rng = np.random.default_rng([seed, 2, update])
                    job.grad_idx = np.sort(rng.choice(n, size=min(cfg.grad_samples, n), replace=False))
                    job.grad_obs = result.obs[job.grad_idx]
            # Wall time since the previous row: includes waiting for measurements and checkpoints.
            now = time.perf_counter()
            elapsed, t_row = now - t_row, now
            job.row = {
                "update": update,
                "global_step": global_step,
                "charts/episodic_return": _mean(episodes.returns),
                "charts/episodic_length": _mean(episodes.lengths),
                "charts/episodes": len(episodes.returns),
                "charts/learning_rate": lr,
                **result.metrics,
                "charts/SPS": n_steps / elapsed if elapsed > 0 else float("nan"),
            }
            measurer.submit(job)
            if last or (cfg.checkpoint_every and update % cfg.checkpoint_every == 0):
                last_checkpoint = save()
            bar.update(min(global_step, steps) - bar.n)
            bar.set_postfix(ret=f"{job.row['charts/episodic_return']:.3g}", refresh=False)
    except FloatingPointError as e:
        status, error = "failed", str(e)
        where = (
            f"last good checkpoint: {last_checkpoint}" if last_checkpoint else "no checkpoint was saved yet"
        )
        raise FloatingPointError(f"{e}; run stopped ({where}; resume=RUN_DIR continues from it)") from e
    except BaseException as e:
        status, error = "interrupted", f"{type(e).__name__}: {e}"
        raise
    finally:
        bar.close()
        try:
            measurer.close()
        except Exception as e:
            if status == "completed":
                status, error = "failed", f"{type(e).__name__}: {e}"
                raise
        finally:
            wall = time.perf_counter() - started
            summary = {
                "status": status,
                "algo": algo,
                "env": _env_name(env),
                "seed": seed,
                "updates": measurer.logged_update,
                "global_step": global_step,
                "return_mean_last100": _mean(np.asarray(recent)),
                "wall_seconds": wall,
                "SPS": (global_step - start_step) / wall if wall > 0 else float("nan"),
                "last_checkpoint": str(last_checkpoint) if last_checkpoint else None,
                "error": error,
            }
            run.write_summary(summary)
            if wb.enabled:
                wb.update_summary({k: v for k, v in summary.items() if v is not None})
                _log_credit_sample(wb, run.credit_dir)
            wb.finish(exit_code=0 if status == "completed" else 1)
            venv.close()
    return Run(run.path, policy, pd.read_csv(run.metrics_path), summary, cfg)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _logp(actor: torch.nn.Module, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """``log pi(a_i|s_i)`` under ``actor`` for (B,) steps; Discrete observations are evaluated once each."""
    inverse = None
    if obs.ndim == 1:
        obs, inverse = np.unique(obs, return_inverse=True)
    with torch.no_grad():
        logp_all = torch.log_softmax(actor(torch.as_tensor(obs)), dim=-1).numpy()
    if inverse is not None:
        logp_all = logp_all[inverse]
    return logp_all[np.arange(len(actions)), actions]


def _default_hooks(
    cfg: CommonConfig, trainer: Trainer, run: RunDir, exact_fn: ExactFn | None, on_update: OnUpdate | None
) -> tuple[ExactFn | None, OnUpdate | None, Any]:
    """With ``cfg.exact`` on a gridworld: exact credit (:class:`~rlcredit.credit.ExactCredit`) as the missing
    ``exact_fn`` and shaping (:class:`~rlcredit.credit.ShapingRecorder`) as the missing ``on_update``."""
    if not cfg.exact or trainer.env.num_states is None or (exact_fn is not None and on_update is not None):
        return exact_fn, on_update, None
    from rlcredit.credit import ExactCredit, ShapingRecorder

    horizon = getattr(trainer, "max_steps", None)
    if horizon is not None and trainer.env.time_limit is not None and horizon >= trainer.env.time_limit:
        horizon = None
    exact = ExactCredit(trainer.env.venv, gamma=cfg.gamma, horizon=horizon)
    if not exact.has_model:
        return exact_fn, on_update, None
    shaping = ShapingRecorder(exact, run.shaping_dir, fsync=False) if on_update is None else None
    return exact_fn or exact, on_update or shaping, shaping


def _policy_snapshot(
    policy: Policy, env: Any, all_obs: np.ndarray | None
) -> np.ndarray | Callable[[np.ndarray], np.ndarray] | None:
    """The policy on every state, frozen now: an (S, A) table (``all_obs``: every state's observation),
    or for procedural gridworlds (whose states depend on the layout) a function of observations backed by
    a copy of the actor; None without states."""
    if env.procedural:
        actor = copy.deepcopy(policy.actor)

        def probs(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return torch.softmax(actor(torch.as_tensor(obs)).double(), dim=-1).numpy()

        return probs
    return None if all_obs is None else policy.action_probs(all_obs)


def _gradient_hook(on_update: OnUpdate | None) -> Any:
    """The ``on_update`` hook if it takes the update's sampled policy gradient (a ShapingRecorder with an
    exact model: ``exact/grad_cos``), else None."""
    from rlcredit.credit.shaping import ShapingRecorder

    if isinstance(on_update, ShapingRecorder) and on_update.exact.has_model:
        return on_update
    return None


class _ActorCopies:
    """Frozen copies of the actor for the measurement jobs, reused instead of deep-copied every update.

    At most two jobs are alive at a time (the one the training thread is filling and the one being
    measured: :meth:`_Measurer.submit` finishes the previous job first), and consecutive updates have
    different parities, so a copy per (update parity, role) is never overwritten while a job uses it.
    """

    def __init__(self, actor: torch.nn.Module) -> None:
        self.actor = actor
        self._copies: dict[tuple[int, str], torch.nn.Module] = {}

    def take(self, update: int, role: str) -> torch.nn.Module:
        """A copy of the actor as it is now, for update ``update``'s job (``role``: "before" / "after")."""
        key = (update % 2, role)
        held = self._copies.get(key)
        if held is None:
            held = self._copies[key] = copy.deepcopy(self.actor)
            return held
        with torch.no_grad():
            for src, dst in zip(self.actor.parameters(), held.parameters()):
                dst.copy_(src)
            for src, dst in zip(self.actor.buffers(), held.buffers()):
                dst.copy_(src)
        return held


@dataclass
class _Job:
    """One update's measurements, handed to the background thread (:class:`_Measurer`)."""

    update: int
    records: bool
    grad_cos: bool = False
    row: dict[str, Any] = field(default_factory=dict)
    batch: dict[str, np.ndarray] | None = None
    obs: np.ndarray | None = None
    grad_obs: np.ndarray | None = None
    actor: torch.nn.Module | None = None
    actor_before: torch.nn.Module | None = None
    first_credit: np.ndarray | None = None
    policy_before: Any = None
    policy_after: Any = None
    grad_idx: np.ndarray | None = None


class _Measurer:
    """Finishes each update's measurements on one background thread, then logs its metrics row.

    For update U it adds ``logp_new``, exact credit (``exact_fn``), gives the sampled policy gradient to
    ``gradient_hook`` (``exact/grad_cos``), runs ``on_update`` (whose scalars join the row), computes the
    per-sample gradient statistics, writes the credit file and the row to metrics.csv; the training
    thread then mirrors the row to wandb when it collects the result. This overlaps update U+1 (torch,
    numpy, the compiled exact solvers and parquet release the GIL). :meth:`submit` first finishes the
    previous job, so jobs run one at a time, in order, and an exception in one surfaces at the next
    :meth:`submit` or :meth:`wait`.
    """

    def __init__(
        self,
        metrics: MetricsWriter,
        wb: WandbMirror,
        recorder: CreditRecorder | None,
        exact_fn: ExactFn | None,
        on_update: OnUpdate | None,
        *,
        logged_update: int,
        gradient_hook: Any = None,
        all_obs: np.ndarray | None = None,
    ) -> None:
        self.metrics, self.wb, self.recorder = metrics, wb, recorder
        self.exact_fn, self.on_update = exact_fn, on_update
        self.gradient_hook, self.all_obs = gradient_hook, all_obs
        self.logged_update = logged_update
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlcredit-measure")
        self._pending: Future | None = None

    def submit(self, job: _Job) -> None:
        self.wait()
        self._pending = self._pool.submit(self._finish, job)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            row = pending.result()  # already in metrics.csv
            self.wb.log(row, step=row["global_step"])
            self.logged_update = row["update"]

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown()

    def _finish(self, job: _Job) -> dict[str, Any]:
        row = self._measure(job)
        # Written here, off the training thread (the file is rewritten and fsynced on every row).
        self.metrics.log(row)
        return row

    def _measure(self, job: _Job) -> dict[str, Any]:
        batch = job.batch
        if batch is None:
            return job.row
        if "logp_new" not in batch:
            if isinstance(job.policy_after, np.ndarray) and (batch["state"] >= 0).all():
                # A fixed map: the policy after the update on every state is already a table.
                batch["logp_new"] = np.log(job.policy_after[batch["state"], batch["action"]])
            else:
                batch["logp_new"] = _logp(job.actor, job.obs, batch["action"])
        seeds = batch.pop("layout_seed")
        procedural = bool((seeds >= 0).any())
        if job.records and self.exact_fn is not None and job.policy_before is not None:
            kw = {"layout_seeds": seeds} if procedural else {}
            batch["exact_q"], batch["exact_advantage"] = self.exact_fn(
                job.update, batch["state"], batch["t"], batch["action"], job.policy_before, **kw
            )
        if job.grad_cos and job.actor_before is not None and job.first_credit is not None:
            grad = sampled_policy_gradient(
                job.actor_before,
                batch["action"],
                job.first_credit,
                obs=job.obs,
                states=None if procedural else batch["state"],
                all_obs=None if procedural else self.all_obs,
            )
            self.gradient_hook.record_gradient(
                job.update,
                job.actor_before,
                grad,
                job.actor_before.parameters(),
                layout_seeds=seeds if procedural else None,
            )
        row = dict(job.row)
        if self.on_update is not None:
            view = {**batch, "layout_seed": seeds} if procedural else batch
            extra = self.on_update(job.update, job.policy_before, job.policy_after, view)
            if extra:
                # Measurements go before the timing column.
                sps = row.pop("charts/SPS")
                row.update(extra)
                row["charts/SPS"] = sps
        if job.records and self.recorder is not None:
            if job.grad_idx is not None and len(job.grad_idx):
                idx = job.grad_idx
                norm, cos = grad_stats(
                    job.actor,
                    flat_params(job.actor_before),
                    job.grad_obs,
                    batch["action"][idx],
                    batch["credit"][idx],
                )
                n = len(batch["action"])
                batch["grad_norm"] = np.full(n, np.nan, np.float32)
                batch["grad_cos"] = np.full(n, np.nan, np.float32)
                batch["grad_norm"][idx], batch["grad_cos"][idx] = norm, cos
            self.recorder.add(batch)
            self.recorder.flush(job.update)
        return row


def load_policy(run_dir: str | Path, update: int | None = None) -> Policy:
    """The policy saved in a run directory's checkpoint (the latest, or that of ``update``).

    Raises
    ------
    FileNotFoundError
        If the run has no checkpoint.
    """
    checkpoints = Checkpointer(RunDir.open(run_dir).checkpoints_dir)
    found = checkpoints.latest() if update is None else checkpoints.load(update)
    if found is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    policy = Policy.from_spec(found.state["policy_spec"])
    policy.load_state_dict({k[7:]: v for k, v in found.tensors.items() if k.startswith("policy/")})
    return policy


# ------------------------------------------------------------------------------------------------ the CLI

EXAMPLES = """examples:
  rlcredit train ppo --env rlcredit/ButtonRoom-v0 --steps 200000
  rlcredit train reinforce --env my_map.toml --steps 100000 --set baseline=batch_mean --set lr=3e-3
  rlcredit train ppo --env CartPole-v1 --steps 100000 --wandb disabled
  rlcredit train ppo --env rlcredit/CheeseMaze-v0 --steps 500000 --env-arg num_layouts=100 --env-arg slip=0.1
  rlcredit train ppo --env rlcredit/FourRooms-v0 --steps 100000 --env-kwargs '{time_limit = 50}'
  rlcredit train ppo --list-config
  rlcredit train --resume runs/ppo-ButtonRoom-v0-20250101-120000-ab12"""


def add_cli(add: Callable[..., Any]) -> None:
    """Register ``rlcredit train`` (called by :mod:`rlcredit.cli`)."""
    p = add(
        "train", "train a policy with PPO or REINFORCE, logging every credit assignment", _cmd_train, EXAMPLES
    )
    p.add_argument("algo", nargs="?", choices=sorted(TRAINERS), help="the trainer")
    p.add_argument(
        "--env", help="an rlcredit env id, a map .toml file, or any gymnasium id (Discrete actions)"
    )
    p.add_argument(
        "--env-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a keyword argument of the env constructor, e.g. time_limit=50, slip=0.1, num_layouts=100, "
        "layout_seed=3 for gridworlds, or any gym.make keyword (repeatable; VALUE is a TOML literal)",
    )
    p.add_argument(
        "--env-kwargs",
        metavar="TABLE",
        help="env constructor keyword arguments as an inline TOML table, e.g. '{time_limit = 50, slip = 0.1}'",
    )
    p.add_argument("--steps", type=int, help="env steps to train for")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default runs/ALGO-ENV-<time>)")
    p.add_argument("--root", default="runs", help="parent of generated run directories")
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], default="offline")
    p.add_argument(
        "--config", metavar="TOML", help="trainer config file (top-level keys or a table named ALGO)"
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field (repeatable)"
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run directory from its last checkpoint")
    p.add_argument("--group", default=None, help="wandb group")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-config", action="store_true", help="print the trainer's config fields and exit")


def _cmd_train(args: Any) -> int:
    from rlcredit.config import dataclass_help, read_toml
    from rlcredit.trainers.config import CONFIGS

    if args.list_config:
        if args.algo is None:
            raise ValueError("--list-config needs the trainer: rlcredit train ppo --list-config")
        rows = dataclass_help(CONFIGS[args.algo])
        width = max(len(r.name) for r in rows)
        for r in rows:
            print(f"{r.name.ljust(width)}  {r.type} = {r.default}\n{' ' * width}  {r.doc}")
        return 0
    progress = False if args.no_progress else None
    env_kwargs = _env_kwargs(args.env_kwargs, args.env_arg)
    if args.resume:
        run = train(
            resume=args.resume, wandb=args.wandb, progress=progress, group=args.group, env_kwargs=env_kwargs
        )
    else:
        if args.algo is None or args.env is None or args.steps is None:
            raise ValueError("rlcredit train needs ALGO, --env and --steps (or --resume RUN_DIR)")
        config: dict[str, Any] = {}
        if args.config:
            data = read_toml(args.config)
            config = data.get(args.algo, data)
        run = train(
            args.algo,
            env=args.env,
            steps=args.steps,
            seed=args.seed,
            out_dir=args.out,
            root=args.root,
            wandb=args.wandb,
            config=config,
            overrides=args.set,
            progress=progress,
            group=args.group,
            env_kwargs=env_kwargs,
        )
    s = run.summary
    print(
        f"{run.dir}\n  {s['global_step']} steps, {s['updates']} updates, "
        f"mean return (last 100 episodes) {s['return_mean_last100']:.3g}, {s['SPS']:.0f} steps/s"
    )
    return 0


def _env_kwargs(table: str | None, items: Sequence[str]) -> dict[str, Any] | None:
    """``--env-kwargs`` (an inline TOML table) updated by the ``--env-arg KEY=VALUE`` items; None if neither."""
    from rlcredit.config import ConfigError, apply_overrides, parse_value

    if table is None and not items:
        return None
    kwargs: Any = {}
    if table is not None:
        kwargs = parse_value(table.strip())
        if not isinstance(kwargs, dict):
            raise ConfigError(
                f"--env-kwargs must be an inline TOML table like '{{time_limit = 50}}'; got {table!r}"
            )
    for item in items:
        if "." in item.partition("=")[0]:
            raise ConfigError(f"--env-arg {item!r}: the key must be a plain keyword argument name")
    return apply_overrides(kwargs, list(items))


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`train`.

    The design's public surface is ``rlcredit.train(...)``, a function, while ``rlcredit.train`` is also the
    name of this module (``import rlcredit.train as training``, ``from rlcredit.train import load_policy``).
    Re-exporting the function from the package would shadow the module for ``import ... as``; making the
    module callable serves both.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Run:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
