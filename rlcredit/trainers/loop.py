"""``rlcredit.train``: run a trainer on an env and write its run directory.

Each update: collect a rollout -> learn from it -> measure it (credit records, exact credit, shaping) ->
log one metrics row -> checkpoint every ``checkpoint_every`` updates and at the end. The run directory
(config.toml, metrics.csv, credit/, shaping/, checkpoints/, summary.json) is complete up to the last
checkpoint at any time, so a killed run continues with ``train(resume=RUN_DIR)`` with no step lost or
counted twice and the same metrics (timing aside) as an uninterrupted run.

Measurements (:mod:`rlcredit.credit.measure`) run update by update while the next rollout is collected, in a
forked child process (the default hooks, Linux, no accelerator, ``torch_threads = 1``) or else on a background
thread; an update's metrics row is written once its measurements are done. The hooks ``exact_fn`` and
``on_update`` are described there.

On rlcredit gridworlds with ``exact = true`` (the default) a missing ``exact_fn`` is
:class:`~rlcredit.credit.ExactCredit` and a missing ``on_update`` is
:class:`~rlcredit.credit.ShapingRecorder` (``shaping/`` files, ``exact/*`` and ``shaping/*`` metrics).
When ``on_update`` is a ShapingRecorder (given or default) with an exact model, every update also
reports ``exact/grad_cos``: the cosine between the trainer's sampled policy-gradient estimate at the
parameters that collected the rollout, ``grad_theta mean_t c_t log pi(a_t|s_t)`` over the actor with the
credit ``c_t`` of the update's first epoch (:attr:`~rlcredit.trainers.base.UpdateResult.first_credit`), and
the exact policy gradient there (:meth:`~rlcredit.credit.ShapingRecorder.record_gradient`). Both are
taken by the measurer from a copy of the actor made before the update.
"""

from __future__ import annotations

import collections
import dataclasses
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rlcredit.config import ConfigError, to_dict
from rlcredit.credit.exact import ExactCredit
from rlcredit.credit.measure import (
    ActorCopies,
    ExactFn,
    Job,
    Measurer,
    OnUpdate,
    can_fork,
    default_hooks,
    gradient_hook,
    policy_snapshot,
)
from rlcredit.credit.records import CreditRecorder
from rlcredit.runs.schema import (
    RunConfig,
    RunSummary,
    env_source,
    keep_env_copy,
    read_config,
    write_config,
    write_summary,
)
from rlcredit.tracking import Checkpointer, MetricsWriter, RunDir, WandbMirror, WandbMode
from rlcredit.tracking.lock import DirLock
from rlcredit.tracking.resume import resume_point
from rlcredit.trainers.base import Trainer
from rlcredit.trainers.config import DEFAULT_GAMMA, CommonConfig, PPOConfig, trainer_config
from rlcredit.trainers.networks import Policy
from rlcredit.trainers.ppo import PPO
from rlcredit.trainers.reinforce import Reinforce
from rlcredit.trainers.rollout import EnvSource, Episodes, VecEnv, make_env

__all__ = [
    "FEW_UPDATES",
    "TRAINERS",
    "ExactFn",
    "OnUpdate",
    "Run",
    "TrainingInterrupted",
    "plan_lines",
    "resolve_gamma",
    "train",
]

TRAINERS: dict[str, type[Trainer]] = {"ppo": PPO, "reinforce": Reinforce}


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


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT/SIGTERM (or Ctrl-C); the run directory is kept and can be resumed.

    Attributes
    ----------
    run_dir : Path
    update : int or None
        The update of the newest checkpoint (None: none was saved, the run starts over on resume).
    """

    def __init__(self, run_dir: Path, update: int | None) -> None:
        self.run_dir, self.update = run_dir, update
        where = f"checkpoint at update {update}" if update is not None else "no checkpoint yet"
        super().__init__(f"{run_dir} kept ({where}); continue with: rlcredit train --resume {run_dir}")


class _StopAfterUpdate:
    """While training: the first SIGINT/SIGTERM lets the current update finish and be checkpointed, then
    stops; a second one stops at once. Installed only in the main thread, over the default handlers."""

    def __init__(self) -> None:
        self.signal: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopAfterUpdate:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) in (signal.default_int_handler, signal.SIG_DFL):
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        print(
            f"\nrlcredit: {self.signal}: stopping after this update's checkpoint (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )


def _env_name(env: EnvSource) -> str:
    if isinstance(env, str):
        if env.endswith(".toml"):  # a map file: its name, not its directories
            return Path(env).stem
        return env.removeprefix("rlcredit/").replace("/", "-")
    return getattr(env, "__qualname__", type(env).__name__)


def train(
    algo: str | None = None,
    *,
    env: EnvSource | None = None,
    steps: int | None = None,
    seed: int | None = None,
    out_dir: str | Path | None = None,
    root: str | Path = "runs",
    wandb: WandbMode | None = None,
    config: Mapping[str, Any] | CommonConfig | None = None,
    overrides: Sequence[str] = (),
    resume: str | Path | None = None,
    progress: bool | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    exact_fn: ExactFn | None = None,
    on_update: OnUpdate | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    announce: Callable[[str], None] | None = None,
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
    seed : int, optional
        Seeds the network initialization, the env and the trainer's random stream: the same seed gives
        the same metrics.csv (apart from ``charts/SPS``). Default 0; on resume the run's (a different one
        is an error).
    out_dir : path, optional
        The run directory to create; None makes ``ROOT/ALGO-ENV-YYYYmmdd-HHMMSS-xxxx``.
    root : path
        Parent of generated run directories.
    wandb : "offline" | "online" | "disabled", optional
        The wandb mirror (the run directory is always written); default ``"offline"``. Recorded in
        config.toml: ``resume`` keeps the recorded mode unless another is given (and says so on stderr).
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
    announce : callable, optional
        Called with one line before training: batch size, number of updates and the discount used (and
        where it came from), and with a warning line when ``steps`` gives fewer than
        :data:`FEW_UPDATES` updates (the CLI prints them).

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
        stored = read_config(run)
        if (
            stored.kind != "train"
            or stored.algo not in TRAINERS
            or stored.steps is None
            or stored.seed is None
        ):
            raise ValueError(f"resume: {run.config_path} is not an rlcredit training run")
        for arg, value, was in (
            ("algo", algo, stored.algo),
            ("steps", steps, stored.steps),
            ("seed", seed, stored.seed),
        ):
            if value is not None and value != was:
                raise ValueError(f"resume: {arg}={value!r} differs from the run's {was!r}")
        if config is not None or overrides:
            raise ValueError("resume continues with the run's stored config; do not pass config or overrides")
        stored_kwargs = dict(stored.env_kwargs)
        if env_kwargs is not None and kwargs != stored_kwargs:
            raise ValueError(f"resume: env_kwargs={kwargs!r} differ from the run's {stored_kwargs!r}")
        algo, steps, seed, kwargs = stored.algo, stored.steps, stored.seed, stored_kwargs
        wandb = _resume_wandb(run, stored.wandb, wandb)
        if env is None and stored.env_kind != "id":
            raise ValueError(f"resume: the run's env was a factory ({stored.env}); pass env= again")
        # A map file is rebuilt from the run directory's copy; a map file passed again must be the same text.
        source: EnvSource = env_source(run, stored, given=env) if env is None or isinstance(env, str) else env
        if env is None:
            env = stored.env
        cfg = trainer_config(algo, stored.config, source=str(run.config_path))
        venv = make_env(source, cfg.num_envs, seed, obs=cfg.obs, env_kwargs=kwargs)
        cfg, gamma_from = resolve_gamma(cfg, venv)
    else:
        if algo is None or env is None or steps is None:
            raise ValueError("train needs algo, env and steps (or resume=RUN_DIR)")
        wandb = "offline" if wandb is None else wandb
        seed = 0 if seed is None else seed
        cfg = trainer_config(algo, config, overrides=overrides)
        if steps < 1:
            raise ValueError(f"steps must be positive, got {steps}")
        # The env first: bad env keyword arguments fail before anything is written.
        venv = make_env(env, cfg.num_envs, seed, obs=cfg.obs, env_kwargs=kwargs)
        cfg, gamma_from = resolve_gamma(cfg, venv)
        env_label = env if isinstance(env, str) else f"{getattr(env, '__module__', '?')}.{_env_name(env)}"
        try:
            run = RunDir.create(out_dir, root=root, name=f"{algo}-{_env_name(env)}")
            env_sha256 = keep_env_copy(run, env) if isinstance(env, str) else None
            write_config(
                run,
                RunConfig(
                    kind="train",
                    algo=algo,
                    env=env_label,
                    seed=seed,
                    env_kind="id" if isinstance(env, str) else "factory",
                    env_kwargs=kwargs,
                    env_sha256=env_sha256,
                    wandb=wandb,
                    steps=steps,
                    config=to_dict(cfg),
                ),
            )
        except BaseException:
            venv.close()
            raise
    if announce is not None:
        for line in plan_lines(algo, cfg, venv, steps, gamma_from):
            announce(line)
    # One writer per run directory: a second `train --resume` of it fails here, naming the holder's pid.
    try:
        lock = DirLock(run.path, what="run directory").acquire()
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
        lock.release()


def _resume_wandb(run: RunDir, recorded: str | None, given: WandbMode | None) -> WandbMode:
    """The wandb mode of a resumed run: the recorded one, or ``given`` (then a line on stderr says so).

    Runs written before the mode was recorded: ``given``, else ``"offline"`` if the run has a ``wandb``
    folder (it was mirrored) and ``"disabled"`` if not.
    """
    if recorded is None:
        return given or ("offline" if (run.path / "wandb").is_dir() else "disabled")
    if given is not None and given != recorded:
        print(
            f"rlcredit: {run.path}: wandb {given} as asked (the run was started with {recorded})",
            file=sys.stderr,
        )
        return given
    return cast(WandbMode, recorded)


FEW_UPDATES = 20
"""Fewer updates than this in a run get a warning from :func:`plan_lines`: too few to learn much."""


def resolve_gamma(cfg: CommonConfig, venv: VecEnv) -> tuple[CommonConfig, str]:
    """``cfg`` with ``gamma`` set (None becomes the env's declared discount, else 0.99) and where it came from.

    Also checks what the config needs of the env (``time_feature`` a time limit).
    """
    if cfg.time_feature and venv.time_limit is None:
        raise ConfigError(f"key 'time_feature' needs an env with a time limit; {venv.name} declares none")
    if cfg.gamma is not None:
        return cfg, "the config"
    if venv.gamma is not None:
        return dataclasses.replace(cfg, gamma=venv.gamma), "the map"
    return dataclasses.replace(cfg, gamma=DEFAULT_GAMMA), "default"


def plan_lines(algo: str, cfg: CommonConfig, venv: VecEnv, steps: int, gamma_from: str) -> list[str]:
    """What a run is about to do, in one line, and a warning line when it has too few updates to learn."""
    if isinstance(cfg, PPOConfig):
        batch = cfg.batch_size
        updates = -(-steps // batch)
        shape = (
            f"batch {batch:,} steps ({cfg.num_envs} envs x {cfg.num_steps}), {cfg.num_minibatches} minibatches "
            f"of {cfg.minibatch_size:,} x {cfg.update_epochs} epochs, {updates:,} updates"
        )
    else:
        horizon = getattr(cfg, "max_episode_steps", None) or venv.time_limit or 1000
        batch = cfg.num_envs * horizon
        updates = -(-steps // batch)  # episodes are at most `horizon` steps: at least this many updates
        shape = f"batch {cfg.num_envs} episodes (<= {batch:,} steps), >= {updates:,} updates"
    lines = [f"{algo} on {venv.name}: {shape}, gamma {cfg.gamma:g} (from {gamma_from}), lr {cfg.lr:g}"]
    if isinstance(cfg, PPOConfig) and updates < FEW_UPDATES:
        lines.append(
            f"warning: {steps:,} steps give only {updates} updates of {batch:,} steps; policies rarely learn in "
            f"fewer than ~{FEW_UPDATES}: raise --steps or lower num_envs/num_steps"
        )
    return lines


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
    wandb: WandbMode,
    resuming: bool,
    progress: bool | None,
    group: str | None,
    tags: Sequence[str],
    exact_fn: ExactFn | None,
    on_update: OnUpdate | None,
) -> Run:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        policy = Policy(
            venv.obs_spec,
            venv.num_actions,
            hidden=cfg.hidden,
            network=cfg.network,
            time_limit=venv.time_limit if cfg.time_feature else None,
        )
    trainer = TRAINERS[algo](cfg, venv, policy, np.random.default_rng([seed, 1]))
    user_hooks = exact_fn is not None or on_update is not None
    exact_fn, on_update, shaping = default_hooks(cfg, trainer, run, exact_fn, on_update)
    grad_hook = gradient_hook(on_update)
    # The observation of every state, for fixed maps (procedural maps render them per layout).
    all_obs = None if venv.procedural else venv.all_observations()
    checkpoints = Checkpointer(run.checkpoints_dir, keep=cfg.checkpoint_keep)
    metrics = MetricsWriter(run.metrics_path)
    recorder = CreditRecorder(run.credit_dir, fsync=False)

    update, global_step, wandb_id = 0, 0, None
    recent: collections.deque[float] = collections.deque(maxlen=100)
    found, finished = None, None
    if resuming:  # verified against the files it promises; damage is an error, never a silent restart
        batch = (
            (cfg.batch_size, cfg.batch_size)
            if isinstance(cfg, PPOConfig)
            else (cfg.num_envs, cfg.num_envs * getattr(trainer, "max_steps", 1))
        )
        point = resume_point(
            run,
            checkpoints,
            steps=steps,
            batch_steps=batch,
            checkpoint_every=cfg.checkpoint_every,
            credit_logged=(lambda u, is_last: u % cfg.credit_every == 0 or is_last) if cfg.credit else None,
            shaping=shaping is not None,
        )
        found = point.checkpoint
        if point.message:
            print(f"rlcredit: {run.path}: {point.message}", file=sys.stderr)
        if found is not None and point.global_step >= steps and run.summary_path.is_file():
            finished = run.read_summary()  # nothing left to run: keep the finished run's figures
    if found is not None:
        update, global_step = found.update, found.state["global_step"]
        print(
            f"rlcredit: {run.path}: resuming from update {update} (global step {global_step}); wandb {wandb}",
            file=sys.stderr,
        )
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
    saved_at = update if found is not None else None

    wb = WandbMirror(
        wandb if finished is None else "disabled",
        group=group,
        job_type="train",
        tags=(algo, _env_name(env), *tags),
        name=run.path.name,
        config=run.read_config(),
        dir=run.path,
        run_id=wandb_id,
        resume="allow" if wandb_id else None,
        replace_offline=True,
    )
    if wb.replaced:  # the unsynced offline folder was dropped: the new one mirrors rows 1..U again
        wb.log_rows(metrics.rows)
    if wb.enabled:
        wandb_id = wb.run.id
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
    copies = ActorCopies(policy.actor)
    status: Literal["completed", "failed", "interrupted"] = "completed"
    error: str | None = None

    def save() -> Path:
        # A checkpoint at update U promises metrics rows and credit files up to U on disk: rows are appended
        # and the per-update files written without fsync, so they are synced now.
        measurer.sync()
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

    process = not user_hooks and cfg.torch_threads == 1 and (cfg.credit or shaping is not None) and can_fork()
    if process and isinstance(exact_fn, ExactCredit):
        exact_fn.prepare()  # once per process: a forked measurement process inherits the loaded solvers
    # The measurer last before `try`: from here on the finally below closes it (and reaps its process).
    measurer = Measurer(
        metrics,
        wb,
        recorder if cfg.credit else None,
        exact_fn,
        on_update,
        logged_update=update,
        gradient_hook=grad_hook,
        all_obs=all_obs,
        files=[recorder] if shaping is None else [recorder, shaping],
        # A child process only for the library's own hooks (their effects are files and returned scalars)
        # and a single torch thread (a forked child must not inherit a running intra-op thread pool).
        process=process,
    )
    started = t_row = time.perf_counter()
    start_step = global_step
    stop = _StopAfterUpdate()
    try:
        stop.__enter__()
        while global_step < steps:
            update += 1
            lr = cfg.lr * (1.0 - global_step / steps) if cfg.anneal_lr else cfg.lr
            n_steps, episodes = trainer.collect()
            last = global_step + n_steps >= steps
            records = cfg.credit and (update % cfg.credit_every == 0 or last)
            job = Job(update, records=records, grad_cos=grad_hook is not None)
            if records or on_update is not None:
                job.policy_before = policy_snapshot(policy, venv, all_obs)
                if (records and cfg.grad_samples) or job.grad_cos:
                    job.actor_before = copies.take(update, "before")

            result = trainer.learn(update, lr)
            global_step += n_steps
            recent.extend(episodes.returns.tolist())

            if records or on_update is not None:
                job.policy_after = policy_snapshot(policy, venv, all_obs)
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
                **_performance_columns(episodes),
                "charts/learning_rate": lr,
                **result.metrics,
                "charts/SPS": n_steps / elapsed if elapsed > 0 else float("nan"),
            }
            measurer.submit(job)
            if last or (cfg.checkpoint_every and update % cfg.checkpoint_every == 0) or stop.signal:
                last_checkpoint, saved_at = save(), update
            bar.update(min(global_step, steps) - bar.n)
            bar.set_postfix(ret=f"{job.row['charts/episodic_return']:.3g}", refresh=False)
            if stop.signal and not last:
                raise KeyboardInterrupt(stop.signal)
    except FloatingPointError as e:
        status, error = "failed", str(e)
        where = (
            f"last good checkpoint: {last_checkpoint}; `rlcredit train --resume {run.path}` continues from it"
            if last_checkpoint
            else "no checkpoint was saved yet, so there is nothing to resume"
        )
        raise FloatingPointError(f"{e}; run stopped ({where})") from e
    except KeyboardInterrupt as e:
        status, error = (
            "interrupted",
            f"{stop.signal or 'KeyboardInterrupt'} after update {measurer.logged_update}",
        )
        raise TrainingInterrupted(run.path, saved_at) from e
    except BaseException as e:
        status, error = "interrupted", f"{type(e).__name__}: {e}"
        raise
    finally:
        stop.__exit__()
        bar.close()
        try:
            measurer.close()
        except Exception as e:
            if status == "completed":
                status, error = "failed", f"{type(e).__name__}: {e}"
                raise
        finally:
            wall = time.perf_counter() - started
            rows = metrics.rows
            outcome = RunSummary(
                status=status,
                kind="train",
                algo=algo,
                env=_env_name(env),
                seed=seed,
                global_step=global_step,
                wall_seconds=wall,
                return_mean=_mean(np.asarray(recent)),
                return_std=float(np.std(recent)) if recent else None,
                updates=measurer.logged_update,
                episodes=int(sum(int(r.get("charts/episodes") or 0) for r in rows)),
                SPS=(global_step - start_step) / wall if wall > 0 else float("nan"),
                last_checkpoint=str(last_checkpoint) if last_checkpoint else None,
                error=error,
                figures=_final_figures(rows),
            )
            if finished is not None and status == "completed":
                summary = finished
            else:
                write_summary(run, outcome)
                summary = outcome.to_json_data()
            if wb.enabled:
                wb.update_summary({k: v for k, v in summary.items() if v is not None})
                _log_credit_sample(wb, run.credit_dir)
            wb.finish(exit_code=0 if status == "completed" else 1)
            venv.close()
    return Run(run.path, policy, pd.read_csv(run.metrics_path), summary, cfg)


def _final_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The last metrics row's ``exact/*`` and ``shaping/*`` values: the run's final exact figures."""
    last = rows[-1] if rows else {}
    return {
        k: float(v)
        for k, v in last.items()
        if k.startswith(("exact/", "shaping/")) and isinstance(v, int | float) and not isinstance(v, bool)
    }


def _performance_columns(episodes: Episodes) -> dict[str, float]:
    """Sampled intended performance of the episodes that ended (none for envs that do not report it)."""
    if episodes.performance is None:
        return {}
    perf = _mean(episodes.performance)
    return {
        "charts/episodic_performance": perf,
        "charts/reward_minus_intended": _mean(episodes.returns) - perf,
    }


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")
