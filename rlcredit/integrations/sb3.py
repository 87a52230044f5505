"""Credit records for Stable-Baselines3's on-policy algorithms (PPO, A2C): :class:`CreditCallback`.

Add the callback to ``model.learn`` and the run gets a run directory like rlcredit's own trainers write::

    import rlcredit
    from stable_baselines3 import PPO
    from rlcredit.integrations.sb3 import CreditCallback

    env = rlcredit.make("rlcredit/DelayedCorridor-v0", obs="coords")
    model = PPO("MlpPolicy", env, n_steps=128, seed=0)
    cb = CreditCallback()                      # or CreditCallback("runs/my-sb3-run")
    model.learn(20_000, callback=cb)
    print(cb.run.path)                         # then: rlcredit plot RUN_DIR

What is written, per rollout (= one update):

- ``credit/update_000012.parquet`` in the credit schema (:mod:`rlcredit.credit.records`), one row per env
  step, env-major (sub-env 0's steps in time order, then sub-env 1's, ...). ``value``, ``return``,
  ``advantage`` and ``logp_old`` are the rollout buffer's ``values``, ``returns``, ``advantages`` and
  ``log_probs``. SB3 adds ``gamma * V(final obs)`` to the buffer's reward of a step cut by a time limit
  (bootstrapping, SB3 issue #633), so ``return``/``advantage`` include it; the ``reward`` column is the env's
  raw reward. While ``train`` runs, the callback records which steps each gradient step used and ``log pi`` at
  the parameters it was taken at (:class:`_TrainProbe`), and recomputes SB3's loss weights from them exactly
  as SB3's ``PPO.train``/``A2C.train`` do: ``advantage_norm`` is the advantage normalized over its minibatch
  (``(A - mean) / (std + 1e-8)``, unbiased std, float32 as in SB3) when the algorithm normalizes advantages
  (PPO's default), else the advantage (A2C's default); ``adv_scale`` that minibatch's ``std + 1e-8`` (1
  without normalization); ``ratio`` ``pi_theta / pi_old`` at that gradient step (PPO; A2C's loss has no
  ratio: 1); ``clipped`` whether PPO's clipped term passed no gradient; ``credit`` ``advantage_norm * ratio``
  (0 where clipped) -- all of the last gradient step that used the step, as for rlcredit's PPO --, and
  ``applied_weight`` the weight of ``grad log pi(a_t|s_t)`` summed over every gradient step, in return units
  (PPO ``sum over epochs of (A - minibatch mean) * ratio``, 0 where clipped). A step no applied gradient
  step used (PPO's ``target_kl`` stopped first) has ``applied_weight`` and ``credit`` 0 and NaN
  ``advantage_norm``, ``adv_scale`` and ``ratio``. For an algorithm whose ``train`` is not SB3's PPO or A2C
  (a subclass overriding it, sb3-contrib) the loss is unknown: those five columns and ``credit`` are NaN.
  ``logp_new`` is ``log pi(a_t|s_t)`` after ``train`` (computed when the next rollout starts, or when training
  ends, so each update's file is written one rollout later). ``grad_norm`` and ``grad_cos`` are NaN.
- ``exact_q``/``exact_advantage`` when the env is an rlcredit gridworld (time-indexed, the model's gamma) and
  ``exact_advantage_boot`` (the stationary values' advantage, the target of SB3's critic, which cannot see
  the time and bootstraps at truncation): see :meth:`rlcredit.credit.ExactCredit.columns`; NaN otherwise.
- ``shaping/update_000012.parquet`` (gridworlds): the policy on every state before and after ``train``.
- a ``metrics.csv`` row: ``update, global_step, charts/episodic_return, charts/episodic_length`` (episodes
  that ended in the rollout; for envs that report ``info["performance"]`` also their intended performance
  ``charts/episodic_performance`` and ``charts/reward_minus_intended``), SB3's ``train/*`` losses under rlcredit's names (``losses/policy_loss``,
  ``losses/value_loss``, ``losses/entropy``, ``losses/approx_kl``, ``losses/clipfrac``,
  ``losses/explained_variance``, ``charts/learning_rate``), ``charts/SPS``, ``time/elapsed``, and for
  gridworlds the ``exact/*`` and ``shaping/*`` scalars of :class:`rlcredit.credit.ShapingRecorder`.
  ``exact/grad_cos`` compares the exact policy gradient with the batch gradient
  ``grad mean_t c_t log pi(a_t|s_t)`` at the parameters that collected the rollout, ``c_t`` the advantage
  normalized over the whole batch (SB3's minibatches are drawn only when ``train`` runs, after it).
- ``config.toml`` (``[run] kind = "train"``, ``algo = "ppo" | "a2c"``, ``library = "stable-baselines3"``, the
  env id and its overrides, ``[config]`` the algorithm's hyperparameters) and, at the end, ``summary.json``.

States come from the sub-envs (``state_index()``, ``elapsed_steps`` and ``layout_seed`` through
``VecEnv.env_method``/``get_attr``), so any ``VecEnv`` over rlcredit gridworlds works, wrapped or not. The
policy is evaluated on every state's observation passed through ``VecNormalize``/``VecTransposeImage``;
an env wrapped in another observation-changing wrapper (``VecFrameStack``) gets no exact columns. A
callback reused for a second ``learn`` call continues the same run directory.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

try:
    from stable_baselines3 import A2C, PPO
except ModuleNotFoundError as e:
    if e.name is None or e.name.split(".")[0] != "stable_baselines3":
        raise
    raise ImportError(
        "rlcredit.integrations.sb3 needs Stable-Baselines3, which is not installed: pip install stable-baselines3"
    ) from None
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import (
    VecEnv,
    VecEnvWrapper,
    VecExtractDictObs,
    VecFrameStack,
    VecNormalize,
    VecTransposeImage,
)

from rlcredit.credit.exact import ExactCredit
from rlcredit.credit.records import CreditRecorder
from rlcredit.credit.shaping import ShapingRecorder
from rlcredit.gridworld.env import GridWorldEnv
from rlcredit.gridworld.maps import OVERRIDABLE
from rlcredit.gridworld.registry import builtin_envs
from rlcredit.runs.schema import RunConfig, RunSummary, read_config, write_config, write_summary
from rlcredit.tracking import MetricsWriter, RunDir

__all__ = ["CreditCallback"]

# SB3 logger key -> metrics.csv column (sign flips marked by the leading "-")
_LOSSES = (
    ("train/policy_gradient_loss", "losses/policy_loss"),
    ("train/policy_loss", "losses/policy_loss"),
    ("train/value_loss", "losses/value_loss"),
    ("-train/entropy_loss", "losses/entropy"),
    ("train/approx_kl", "losses/approx_kl"),
    ("train/clip_fraction", "losses/clipfrac"),
    ("train/explained_variance", "losses/explained_variance"),
    ("train/learning_rate", "charts/learning_rate"),
)
_HYPERPARAMETERS = (
    "learning_rate",
    "n_steps",
    "batch_size",
    "n_epochs",
    "gamma",
    "gae_lambda",
    "clip_range",
    "clip_range_vf",
    "normalize_advantage",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "target_kl",
    "use_rms_prop",
    "use_sde",
)


class CreditCallback(BaseCallback):
    """Write rlcredit's run directory (credit, shaping, metrics, config) for an SB3 PPO/A2C run.

    See the module docstring for what each file holds.

    Parameters
    ----------
    run_dir : path-like, optional
        The run directory to create (must not be a run directory yet). None: a new directory
        ``ROOT/NAME-<time>-<hex>``.
    exact : bool
        Compute exact credit, shaping and the ``exact/*`` metrics when the env is an rlcredit gridworld.
    root : path-like
        Parent of a generated run directory.
    name : str, optional
        Prefix of a generated run directory; default ``"sb3-<algo>-<env>"``.
    env_id : str, optional
        The ``[run] env`` written to config.toml; default the gridworld's id (or map file), or the env's
        gymnasium id.
    verbose : int
        SB3 verbosity (1 prints the run directory).

    Attributes
    ----------
    run : RunDir or None
        The run directory (set when training starts).
    exact : ExactCredit or None
        The exact model (None until training starts).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str] | None = None,
        exact: bool = True,
        *,
        root: str | os.PathLike[str] = "runs",
        name: str | None = None,
        env_id: str | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose=verbose)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.use_exact = bool(exact)
        self.root = Path(root)
        self.name = name
        self.env_id = env_id
        self.run: RunDir | None = None
        self.exact: ExactCredit | None = None
        self.shaping: ShapingRecorder | None = None
        self._update = 0
        self._pending: dict[str, Any] | None = None
        self._probe: _TrainProbe | None = None
        self._episode_returns: list[float] = []

    # ------------------------------------------------------------------------------------------ SB3 events
    def _on_training_start(self) -> None:
        venv = self.training_env
        if not isinstance(venv.action_space, spaces.Discrete):
            raise ValueError(f"CreditCallback needs a Discrete action space; got {venv.action_space}")
        self._n_envs = venv.num_envs
        self._grid = _gridworld(venv)
        self._obs_transforms = _obs_transforms(venv)
        if self._grid is not None and self.use_exact and self._obs_transforms is None:
            warnings.warn(
                "CreditCallback: the VecEnv wraps observations in a way it cannot reproduce for every state; "
                "exact credit is off",
                stacklevel=2,
            )
        exact_on = self._grid is not None and self.use_exact and self._obs_transforms is not None
        self.exact = ExactCredit(self._grid if exact_on else None, gamma=float(self._algo.gamma))
        self._discrete_obs = isinstance(venv.observation_space, spaces.Discrete)
        if self.run is None:
            self._start_run(int(self.locals.get("total_timesteps", 0)))
        assert self.run is not None  # made by _start_run
        self.shaping = ShapingRecorder(self.exact, self.run.shaping_dir)
        self._t = self._elapsed(np.zeros(self._n_envs, np.int64))
        self._episode = np.zeros(self._n_envs, np.int64)
        self._ret = np.zeros(self._n_envs)
        self._perf = np.zeros(self._n_envs)
        self._reports_performance = True
        self._len = np.zeros(self._n_envs, np.int64)
        self._start_time = time.time()
        self._start_steps = self.model.num_timesteps

    def _on_rollout_start(self) -> None:
        self._finalize()
        self._states = [self._current_states(self.model._last_obs)]
        self._seeds = [self._current_seeds()]
        self._times = [self._t.copy()]
        self._episodes = [self._episode.copy()]
        self._rewards: list[np.ndarray] = []
        self._terminated: list[np.ndarray] = []
        self._truncated: list[np.ndarray] = []
        self._finished: list[tuple[float, int, float]] = []

    def _on_step(self) -> bool:
        rewards = np.asarray(self.locals["rewards"], dtype=np.float64).reshape(-1).copy()
        dones = np.asarray(self.locals["dones"], dtype=bool).reshape(-1).copy()
        infos = self.locals["infos"]
        truncated = dones & np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos])
        self._rewards.append(rewards)
        self._terminated.append(dones & ~truncated)
        self._truncated.append(truncated)
        self._ret += rewards
        self._reports_performance &= all("performance" in info for info in infos)
        if self._reports_performance:
            self._perf += np.array([float(info["performance"]) for info in infos])
        self._len += 1
        for i in np.flatnonzero(dones):
            self._finished.append((float(self._ret[i]), int(self._len[i]), float(self._perf[i])))
            self._episode_returns.append(float(self._ret[i]))
        self._ret[dones] = 0.0
        self._perf[dones] = 0.0
        self._len[dones] = 0
        self._episode += dones
        self._t = self._elapsed(np.where(dones, 0, self._t + 1))
        self._states.append(self._current_states(self.locals.get("new_obs")))
        self._seeds.append(self._current_seeds())
        self._times.append(self._t.copy())
        self._episodes.append(self._episode.copy())
        return True

    def _on_rollout_end(self) -> None:
        buf = self._algo.rollout_buffer
        T, N = buf.buffer_size, buf.n_envs
        self._update += 1
        update = self._update
        actions = buf.actions.reshape(T, N).astype(np.int64)
        adv = buf.advantages.astype(np.float64)
        if getattr(self.model, "normalize_advantage", False) and adv.size > 1:
            adv_norm = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8)
        else:
            adv_norm = adv
        states = np.stack(self._states[:T])
        seeds = np.stack(self._seeds[:T])
        t = np.stack(self._times[:T])
        obs = buf.observations.reshape(T * N, *buf.obs_shape).copy()
        pending: dict[str, Any] = {
            "update": update,
            "global_step": int(self.model.num_timesteps),
            "obs": obs,
            "actions": actions,
            "states": states,
            "seeds": seeds,
            "t": t,
            "episode": np.stack(self._episodes[:T]),
            "reward": np.stack(self._rewards),
            "terminated": np.stack(self._terminated),
            "truncated": np.stack(self._truncated),
            "value": buf.values.copy(),
            "return": buf.returns.copy(),
            "advantage": buf.advantages.copy(),
            "logp_old": buf.log_probs.copy(),
            "finished": list(self._finished),
        }
        exact, shaping = self._measures()
        if exact.has_model:
            pending.update(exact.columns(update, states, t, actions, self._policy_probs, layout_seeds=seeds))
            params = list(self._algo.policy.parameters())
            sampled = self._batch_gradient(obs, actions.reshape(-1), adv_norm.reshape(-1), params)
            shaping.record_gradient(update, self._policy_logits, sampled, params, layout_seeds=seeds)
        self._pending = pending
        self._probe = _TrainProbe(self._algo)  # removed when the pending update is written, after train

    def _on_training_end(self) -> None:
        self._finalize()
        if self.run is None:
            return
        rows = self._metrics.rows
        last = rows[-1] if rows else {}
        config = read_config(self.run)
        summary = RunSummary(
            status="completed",
            kind="train",
            algo=config.algo,
            env=config.env.rsplit("/", 1)[-1],
            seed=config.seed,
            global_step=int(self.model.num_timesteps),
            wall_seconds=time.time() - self._start_time,
            return_mean=float(np.mean(self._episode_returns[-100:])) if self._episode_returns else math.nan,
            updates=self._update,
            episodes=len(self._episode_returns),
            figures={k: float(v) for k, v in last.items() if k.startswith(("exact/", "shaping/"))},
        )
        write_summary(self.run, summary)

    # ------------------------------------------------------------------------------------------- internals
    def _start_run(self, total_timesteps: int) -> None:
        algo = type(self.model).__name__.lower()
        fields = _env_fields(self.training_env, self._grid)
        if self.env_id is not None:
            fields["env"] = self.env_id
        name = self.name or f"sb3-{algo}-{str(fields['env']).rsplit('/', 1)[-1].removesuffix('.toml')}"
        self.run = RunDir.create(self.run_dir, root=self.root, name=name)
        env = str(fields.pop("env"))
        write_config(
            self.run,
            RunConfig(
                kind="train",
                algo=algo,
                env=env,
                seed=self.model.seed,
                env_kwargs=fields,
                steps=total_timesteps,
                library="stable-baselines3",
                config=_hyperparameters(self.model),
                extra={"num_envs": self._n_envs},
            ),
        )
        self._metrics = MetricsWriter(self.run.metrics_path)
        self._recorder = CreditRecorder(self.run.credit_dir)
        if self.verbose:
            print(f"CreditCallback: writing {self.run.path}")

    def _finalize(self) -> None:
        """Write the pending update (its train step has run): credit file, shaping file, metrics row."""
        p, self._pending = self._pending, None
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.remove()
        if p is None:
            return
        update = p["update"]
        policy = self._algo.policy
        with torch.no_grad():
            obs_t = obs_as_tensor(p["obs"], policy.device)
            act_t = torch.as_tensor(p["actions"].reshape(-1), device=policy.device).long()
            _, logp_new, _ = policy.evaluate_actions(obs_t, act_t)
        T, N = p["actions"].shape

        def env_major(x: np.ndarray) -> np.ndarray:
            return np.swapaxes(np.asarray(x).reshape(T, N), 0, 1).reshape(-1)

        columns = {
            name: env_major(p[name])
            for name in (
                "episode",
                "t",
                "reward",
                "terminated",
                "truncated",
                "value",
                "return",
                "advantage",
                "logp_old",
            )
        }
        columns["state"] = env_major(p["states"])
        columns["action"] = env_major(p["actions"])
        columns["logp_new"] = env_major(logp_new.cpu().numpy())
        columns.update(
            _loss_weights(
                self._algo,
                env_major(p["advantage"]).astype(np.float32),
                env_major(p["logp_old"]).astype(np.float32),
                [] if probe is None else probe.steps,
            )
        )
        for name in ("exact_q", "exact_advantage", "exact_advantage_boot"):
            if name in p:
                columns[name] = env_major(p[name])
        self._recorder.add(columns, update=update, env=np.repeat(np.arange(N), T))
        self._recorder.flush(update)

        elapsed = time.time() - self._start_time
        # means of the (return, length, performance) of the episodes that ended in the rollout
        ended = p["finished"]
        ret, length, perf = (
            float(np.mean([e[k] for e in ended])) if ended else float("nan") for k in range(3)
        )
        row: dict[str, Any] = {
            "update": update,
            "global_step": p["global_step"],
            "charts/episodic_return": ret,
            "charts/episodic_length": length,
        }
        if self._reports_performance:
            row["charts/episodic_performance"] = perf
            row["charts/reward_minus_intended"] = ret - perf
        logged = self.model.logger.name_to_value
        for key, column in _LOSSES:
            sign, key = (-1.0, key[1:]) if key.startswith("-") else (1.0, key)
            if key in logged and column not in row:
                row[column] = sign * float(logged[key])
        row["charts/SPS"] = int((p["global_step"] - self._start_steps) / max(elapsed, 1e-9))
        row["time/elapsed"] = elapsed
        exact, shaping = self._measures()
        if exact.has_model:
            batch = {"states": p["states"].reshape(-1), "layout_seeds": p["seeds"].reshape(-1)}
            row.update(shaping(update, None, self._policy_probs, batch))
        self._metrics.log(row)

    def _batch_gradient(
        self, obs: np.ndarray, actions: np.ndarray, credit: np.ndarray, params: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """``grad mean_t credit_t log pi(a_t|s_t)`` at the current parameters, flattened over ``params``."""
        policy = self._algo.policy
        _, logp, _ = policy.evaluate_actions(
            obs_as_tensor(obs, policy.device), torch.as_tensor(actions, device=policy.device).long()
        )
        objective = (torch.as_tensor(credit, dtype=logp.dtype, device=logp.device) * logp).mean()
        grads = torch.autograd.grad(objective, params, allow_unused=True)
        return torch.cat(
            [(g if g is not None else torch.zeros_like(q)).reshape(-1) for g, q in zip(grads, params)]
        )

    @property
    def _algo(self) -> OnPolicyAlgorithm:
        """The model, an on-policy algorithm (PPO, A2C): the credit comes from its rollout buffer."""
        model = self.model
        if not isinstance(model, OnPolicyAlgorithm):
            raise TypeError(
                f"CreditCallback needs an on-policy SB3 algorithm (PPO, A2C), got {type(model).__name__}"
            )
        return model

    def _measures(self) -> tuple[ExactCredit, ShapingRecorder]:
        if self.exact is None or self.shaping is None:
            raise RuntimeError("CreditCallback is used before its training started")
        return self.exact, self.shaping

    def _transform(self, obs: np.ndarray) -> np.ndarray:
        for f in self._obs_transforms or ():
            obs = f(obs)
        return obs

    def _policy_logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits of SB3's policy for raw observations of states (the env wrappers' transforms applied)."""
        policy = self._algo.policy
        x = obs_as_tensor(self._transform(obs.cpu().numpy()), policy.device)
        return _categorical(policy.get_distribution(x).distribution).logits

    def _policy_probs(self, obs: np.ndarray) -> np.ndarray:
        policy = self._algo.policy
        with torch.no_grad():
            x = obs_as_tensor(self._transform(np.asarray(obs)), policy.device)
            return _categorical(policy.get_distribution(x).distribution).probs.double().cpu().numpy()

    def _current_states(self, obs: Any) -> np.ndarray:
        if self._grid is not None:
            return np.asarray(self.training_env.env_method("state_index"), dtype=np.int64)
        if self._discrete_obs and obs is not None:
            return np.asarray(obs, dtype=np.int64).reshape(-1)
        return np.full(self._n_envs, -1, np.int64)

    def _current_seeds(self) -> np.ndarray:
        if self._grid is not None:
            return np.asarray(self.training_env.get_attr("layout_seed"), dtype=np.int64)
        return np.full(self._n_envs, -1, np.int64)

    def _elapsed(self, counted: np.ndarray) -> np.ndarray:
        """Episode time of each sub-env: the gridworld's own clock, else our count since the last reset."""
        if self._grid is not None:
            return np.asarray(self.training_env.get_attr("elapsed_steps"), dtype=np.int64)
        return counted


# ----------------------------------------------------------------------------------------------- helpers


class _TrainProbe:
    """Records what SB3's ``train`` does with the rollout it was given: each applied gradient step's steps and
    ``log pi`` of them at the parameters the step's gradient was taken at.

    SB3 exposes neither its minibatches nor its loss terms, so from the end of a rollout until the pending
    update is written (after ``train``) the probe wraps the rollout buffer's ``_get_samples`` (each
    minibatch's indices into the env-major flattened buffer), the policy's ``evaluate_actions`` (``log pi``
    of those steps, which SB3's loss uses) and adds an optimizer step post-hook: a minibatch whose loss was
    computed but never stepped on (PPO's ``target_kl`` stop) is not recorded.

    Attributes
    ----------
    steps : list of (indices (B,) int64, log_prob (B,) float32 tensor)
        The applied gradient steps, in order.
    """

    def __init__(self, algo: OnPolicyAlgorithm) -> None:
        self.steps: list[tuple[np.ndarray, torch.Tensor]] = []
        self._indices: np.ndarray | None = None
        self._evaluated: tuple[np.ndarray, torch.Tensor] | None = None
        self._buffer = algo.rollout_buffer
        self._policy = algo.policy
        get_samples = self._buffer._get_samples
        evaluate_actions = self._policy.evaluate_actions

        def probed_get_samples(batch_inds: np.ndarray, env: Any = None) -> Any:
            self._indices = np.array(batch_inds, dtype=np.int64)
            return get_samples(batch_inds, env)

        def probed_evaluate_actions(obs: Any, actions: torch.Tensor) -> Any:
            values, log_prob, entropy = evaluate_actions(obs, actions)
            if self._indices is not None:
                self._evaluated = (self._indices, log_prob.detach().cpu().reshape(-1).clone())
            return values, log_prob, entropy

        # instance attributes shadow the methods until remove() deletes them
        vars(self._buffer)["_get_samples"] = probed_get_samples
        vars(self._policy)["evaluate_actions"] = probed_evaluate_actions
        self._hook = self._policy.optimizer.register_step_post_hook(self._stepped)

    def _stepped(self, *_: Any) -> None:
        if self._evaluated is not None:
            self.steps.append(self._evaluated)
        self._evaluated = None

    def remove(self) -> None:
        """Restore SB3's own methods."""
        self._hook.remove()
        vars(self._buffer).pop("_get_samples", None)
        vars(self._policy).pop("evaluate_actions", None)


def _loss_weights(
    algo: OnPolicyAlgorithm,
    adv: np.ndarray,
    logp_old: np.ndarray,
    steps: Sequence[tuple[np.ndarray, torch.Tensor]],
) -> dict[str, np.ndarray]:
    """The credit columns that depend on SB3's loss, recomputed from the gradient steps ``train`` applied.

    ``adv`` and ``logp_old`` are the rollout buffer's float32 advantages and log-probabilities in the
    buffer's env-major order (the one the recorded indices refer to). Mirrors ``PPO.train``/``A2C.train`` of
    stable-baselines3 2.x: per minibatch ``(A - mean) / (std + 1e-8)`` when ``normalize_advantage`` (PPO only
    for minibatches of more than one step), PPO's weight ``A_norm * ratio`` where its clipped term is not
    the smaller one, A2C's ``A_norm``. Returns ``advantage_norm, adv_scale, ratio, clipped, credit,
    applied_weight`` (see the module docstring).
    """
    n = len(adv)
    out = {name: np.full(n, np.nan) for name in ("advantage_norm", "adv_scale", "ratio", "credit")}
    out["applied_weight"] = np.full(n, np.nan)
    out["clipped"] = np.zeros(n, bool)
    train = type(algo).train
    is_ppo, is_a2c = train is PPO.train, train is A2C.train
    if not (is_ppo or is_a2c):
        return out  # a loss this callback does not know: nothing it could state is exact
    out["applied_weight"][:] = 0.0
    out["credit"][:] = 0.0
    clip = float(algo.clip_range(algo._current_progress_remaining)) if is_ppo else math.nan  # type: ignore[attr-defined]
    adv_t, logp_old_t = torch.from_numpy(adv), torch.from_numpy(logp_old)
    for idx, log_prob in steps:
        a = adv_t[idx]
        scale = torch.ones(())
        if algo.normalize_advantage and (len(a) > 1 or is_a2c):  # type: ignore[attr-defined]
            scale = a.std() + 1e-8
            a = (a - a.mean()) / scale
        if is_ppo:
            ratio = torch.exp(log_prob - logp_old_t[idx])
            clipped = (a * torch.clamp(ratio, 1 - clip, 1 + clip) < a * ratio).numpy()
            weight = np.where(clipped, 0.0, (a * ratio).double().numpy())
        else:
            ratio = torch.ones_like(a)
            clipped = np.zeros(len(a), bool)
            weight = a.double().numpy()
        out["advantage_norm"][idx] = a.numpy()
        out["adv_scale"][idx] = float(scale)
        out["ratio"][idx] = ratio.numpy()
        out["clipped"][idx] = clipped
        out["credit"][idx] = weight
        out["applied_weight"][idx] += weight * float(scale)
    return out


def _gridworld(venv: VecEnv) -> Any | None:
    """The first sub-env's ``GridWorldEnv`` (a copy for subprocess envs), or None for other envs."""
    try:
        base = venv.get_attr("unwrapped", indices=[0])[0]
    except (AttributeError, EOFError):  # pragma: no cover - exotic VecEnvs
        return None
    return base if isinstance(base, GridWorldEnv) else None


def _categorical(dist: Any) -> torch.distributions.Categorical:
    """SB3's action distribution of a Discrete action space (the only kind rlcredit measures)."""
    if not isinstance(dist, torch.distributions.Categorical):
        raise TypeError(
            f"CreditCallback needs a Discrete action space; the policy's distribution is {dist!r}"
        )
    return dist


def _obs_transforms(venv: VecEnv) -> list[Callable[[Any], Any]] | None:
    """Functions taking a sub-env's observations to what the policy sees, innermost first; None if unknown."""
    out: list[Callable[[Any], Any]] = []
    e = venv
    while isinstance(e, VecEnvWrapper):
        if isinstance(e, VecNormalize):
            out.append(e.normalize_obs)
        elif isinstance(e, VecTransposeImage):
            out.append(e.transpose_observations)
        elif isinstance(e, VecFrameStack | VecExtractDictObs):
            return None
        e = e.venv
    return out[::-1]


def _env_fields(venv: VecEnv, grid: Any | None) -> dict[str, Any]:
    """``[run]`` fields naming the env so ``rlcredit.make(env, **overrides)`` rebuilds it."""
    if grid is None:
        base = venv.get_attr("unwrapped", indices=[0])[0]
        spec = getattr(base, "spec", None)
        return {"env": spec.id if spec is not None else type(base).__name__}
    mine = grid.map
    fields: dict[str, Any] = {}
    for env_id, entry in builtin_envs().items():
        cand = entry.spec()
        if (cand.name, cand.rows, cand.maze, cand.legend) == (mine.name, mine.rows, mine.maze, mine.legend):
            fields["env"] = env_id
            fields.update({k: getattr(mine, k) for k in OVERRIDABLE if getattr(mine, k) != getattr(cand, k)})
            break
    else:
        fields["env"] = mine.source if Path(mine.source).is_file() else mine.name
    if grid.layouts.layout_seed is not None:
        fields["layout_seed"] = int(grid.layouts.layout_seed)
    if grid.layouts.num_layouts is not None:
        fields["num_layouts"] = int(grid.layouts.num_layouts)
    return fields


def _hyperparameters(model: Any) -> dict[str, Any]:
    """The algorithm's hyperparameters as plain TOML values (schedules at their start value)."""
    out: dict[str, Any] = {}
    for key in _HYPERPARAMETERS:
        value = getattr(model, key, None)
        if callable(value):
            value = value(1.0)
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool | int | float | str):
            out[key] = value
    out["n_envs"] = int(model.n_envs)
    out["policy"] = type(model.policy).__name__
    out["device"] = str(model.device)
    return out
