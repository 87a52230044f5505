"""The measurement pipeline of a training run: each update's credit records, exact credit, shaping and metrics row.

The training loop (:mod:`rlcredit.trainers.loop`) fills a :class:`Job` per update and hands it to a
:class:`Measurer`, which finishes it while the next rollout is collected: in a forked child process when the
hooks are the defaults, on Linux without an accelerator and with ``torch_threads = 1``, else on a background
thread. Two hooks plug measurements in:

``exact_fn(update, states, t, actions, pi_all) -> (q, adv)``
    ``states, t, actions`` are (B,) arrays of the steps learned from and ``pi_all`` the policy that
    collected them on every exact-model state: an (S, A) table (a function of observations for
    procedural gridworlds, which also get ``layout_seeds=`` (B,)). Returns (B,) Q^pi and A^pi, written as
    ``exact_q`` and ``exact_advantage``. Called on updates that write credit records. An ``exact_fn`` with a
    ``columns`` method (:meth:`~rlcredit.credit.ExactCredit.columns`) is asked for its columns instead,
    which adds ``exact_advantage_boot``.
``on_update(update, pi_before, pi_after, batch) -> dict | None``
    After every update: the policy on every state before and after it (as above; None when the env
    cannot enumerate its states) and ``batch``, the update's credit columns as (B,) arrays (all but
    ``grad_norm`` and ``grad_cos``; plus ``layout_seed`` on procedural gridworlds). A returned dict of
    scalars joins the update's metrics row.

:func:`default_hooks` supplies :class:`~rlcredit.credit.ExactCredit` and
:class:`~rlcredit.credit.ShapingRecorder` where the env has an exact model.
"""

from __future__ import annotations

import copy
import io
import multiprocessing
import os
import pickle
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rlcredit.credit.exact import ExactCredit
from rlcredit.credit.records import CreditRecorder
from rlcredit.credit.shaping import ShapingRecorder
from rlcredit.tracking import MetricsWriter, RunDir, WandbMirror
from rlcredit.tracking.io import sync_dirs
from rlcredit.trainers.base import Trainer
from rlcredit.trainers.config import CommonConfig
from rlcredit.trainers.grads import flat_params, grad_stats, sampled_policy_gradient
from rlcredit.trainers.networks import Policy

__all__ = [
    "ActorCopies",
    "ActorProbs",
    "ExactFn",
    "Job",
    "Measurer",
    "OnUpdate",
    "can_fork",
    "default_hooks",
    "gradient_hook",
    "policy_snapshot",
]

ExactFn = Callable[[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
# The policies on every state are (S, A) tables, or functions of observations on procedural gridworlds, or None.
OnUpdate = Callable[[int, Any, Any, dict[str, np.ndarray]], "Mapping[str, float] | None"]


def logp(actor: torch.nn.Module, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """``log pi(a_i|s_i)`` under ``actor`` for (B,) steps; Discrete observations are evaluated once each."""
    inverse = None
    if obs.ndim == 1:
        obs, inverse = np.unique(obs, return_inverse=True)
    with torch.no_grad():
        logp_all = torch.log_softmax(actor(torch.as_tensor(obs)), dim=-1).numpy()
    if inverse is not None:
        logp_all = logp_all[inverse]
    return logp_all[np.arange(len(actions)), actions]


def default_hooks(
    cfg: CommonConfig, trainer: Trainer, run: RunDir, exact_fn: ExactFn | None, on_update: OnUpdate | None
) -> tuple[ExactFn | None, OnUpdate | None, ShapingRecorder | None]:
    """With ``cfg.exact`` on a gridworld: exact credit (:class:`~rlcredit.credit.ExactCredit`) as the missing
    ``exact_fn`` and shaping (:class:`~rlcredit.credit.ShapingRecorder`) as the missing ``on_update``."""
    if not cfg.exact or trainer.env.num_states is None or (exact_fn is not None and on_update is not None):
        return exact_fn, on_update, None
    horizon = getattr(trainer, "max_steps", None)
    if horizon is not None and trainer.env.time_limit is not None and horizon >= trainer.env.time_limit:
        horizon = None
    if cfg.gamma is None:
        raise ValueError("the trainer config's gamma must be resolved (a number) before measuring")
    exact = ExactCredit(trainer.env.venv, gamma=cfg.gamma, horizon=horizon)
    if not exact.has_model:
        return exact_fn, on_update, None
    shaping = ShapingRecorder(exact, run.shaping_dir, fsync=False) if on_update is None else None
    return exact_fn or exact, on_update or shaping, shaping


def policy_snapshot(
    policy: Policy, env: Any, all_obs: np.ndarray | None
) -> np.ndarray | Callable[[np.ndarray], np.ndarray] | None:
    """The policy on every state, frozen now: an (S, A) table (``all_obs``: every state's observation),
    or for procedural gridworlds (whose states depend on the layout) a function of observations backed by
    a copy of the actor; None without states."""
    if env.procedural:
        return ActorProbs(copy.deepcopy(policy.actor))
    return None if all_obs is None else policy.action_probs(all_obs)


class ActorProbs:
    """``obs (B, ...) -> (B, A)`` float64 action probabilities of a frozen actor (a picklable function, so a
    job can be measured in another process)."""

    def __init__(self, actor: torch.nn.Module) -> None:
        self.actor = actor

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.actor(torch.as_tensor(obs)).double(), dim=-1).numpy()


def gradient_hook(on_update: OnUpdate | None) -> Any:
    """The ``on_update`` hook if it takes the update's sampled policy gradient (a ShapingRecorder with an
    exact model: ``exact/grad_cos``), else None."""
    if isinstance(on_update, ShapingRecorder) and on_update.exact.has_model:
        return on_update
    return None


class ActorCopies:
    """Frozen copies of the actor for the measurement jobs, reused instead of deep-copied every update.

    At most two jobs are alive at a time (the one the training thread is filling and the one being
    measured: :meth:`Measurer.submit` finishes the previous job first), and consecutive updates have
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
            for buf, held_buf in zip(self.actor.buffers(), held.buffers()):
                held_buf.copy_(buf)
        return held


@dataclass
class Job:
    """One update's measurements, handed to the :class:`Measurer`."""

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


class Measurer:
    """Finishes each update's measurements off the training thread, then logs its metrics row.

    For update U it adds ``logp_new``, exact credit (``exact_fn``), gives the sampled policy gradient to
    ``gradient_hook`` (``exact/grad_cos``), runs ``on_update`` (whose scalars join the row), computes the
    per-sample gradient statistics and writes the credit file; the training thread then writes the row to
    metrics.csv and mirrors it to wandb when it collects the result. :meth:`submit` first collects the
    previous job, so jobs run one at a time, in order, and an exception in one surfaces at the next
    :meth:`submit`, :meth:`wait` or :meth:`sync`.

    Where the measurements run:

    - ``process=True``: in a child process forked when the Measurer is made (where :func:`can_fork`; the
      hooks, exact models and compiled solvers are inherited, jobs and rows travel through a pipe). The measurements are small
      torch and numpy operations that hold the GIL, so on a thread they would take turns with the training
      loop; in a process they run beside it on another core. Only for hooks whose effects are files and
      returned scalars (the defaults of :func:`default_hooks`): a hook given by the caller could keep state
      the caller reads afterwards, which a child process would change in its own copy only.
    - ``process=False``: on one background thread of this process.

    Parameters
    ----------
    metrics : MetricsWriter
        Rows are logged here, on the calling (training) thread.
    wb : WandbMirror
    recorder : CreditRecorder or None
        Credit files (None: no credit records).
    exact_fn, on_update :
        The hooks (module docstring).
    logged_update : int
        The last update already in metrics.csv (a resumed run's).
    gradient_hook :
        The ``on_update`` hook if it takes the sampled policy gradient (:func:`gradient_hook`), else None.
    all_obs : array, optional
        Every state's observation (fixed maps).
    files : sequence
        Objects with a ``sync()`` that makes the files they wrote durable (the credit and shaping
        recorders); :meth:`sync` calls them where they live.
    process : bool
        Measure in a forked child process (see above); on a thread where :func:`can_fork` is False or the
        fork fails (the same results, in this process).
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
        files: Sequence[Any] = (),
        process: bool = False,
    ) -> None:
        self.metrics, self.wb, self.recorder = metrics, wb, recorder
        self.exact_fn, self.on_update = exact_fn, on_update
        self.gradient_hook, self.all_obs = gradient_hook, all_obs
        self.logged_update = logged_update
        self._files = list(files)
        worker: _ThreadWorker | _ForkWorker | None = None
        if process and can_fork():
            try:
                worker = _ForkWorker(self._measure, self._sync_files)
            except OSError as e:  # no memory or processes left for a fork: measure on a thread instead
                print(f"rlcredit: measuring on a thread (fork failed: {e})", file=sys.stderr)
        self._worker = worker if worker is not None else _ThreadWorker(self._measure, self._sync_files)
        self._pending = False

    @property
    def in_process(self) -> bool:
        """True when the measurements run in a child process."""
        return isinstance(self._worker, _ForkWorker)

    def submit(self, job: Job) -> None:
        """Collect the previous job's row, then start measuring ``job``."""
        self.wait()
        self._worker.submit(job)
        self._pending = True

    def wait(self) -> None:
        """Collect the submitted job's row (if any): write it to metrics.csv and mirror it to wandb."""
        if not self._pending:
            return
        self._pending = False
        row = self._worker.result()
        self.metrics.log(row)
        self.wb.log(row, step=row["global_step"])
        self.logged_update = row["update"]

    def sync(self) -> None:
        """Collect the submitted job, then make metrics.csv and every measurement file durable (fsync)."""
        self.wait()
        self.metrics.sync()
        self._worker.sync()

    def close(self) -> None:
        """Collect the submitted job and stop the worker (a child process exits after syncing nothing:
        files it wrote since the last :meth:`sync` are on disk but not fsynced, like a thread's)."""
        try:
            self.wait()
        finally:
            self._worker.close()

    def _sync_files(self) -> None:
        for f in self._files:
            f.sync()

    def _measure(self, job: Job) -> dict[str, Any]:
        batch = job.batch
        if batch is None:
            return job.row
        if "logp_new" not in batch:
            if isinstance(job.policy_after, np.ndarray) and (batch["state"] >= 0).all():
                # A fixed map: the policy after the update on every state is already a table.
                batch["logp_new"] = np.log(job.policy_after[batch["state"], batch["action"]])
            else:
                assert (
                    job.actor is not None and job.obs is not None
                )  # the loop sets both when logp_new is missing
                batch["logp_new"] = logp(job.actor, job.obs, batch["action"])
        seeds = batch.pop("layout_seed")
        procedural = bool((seeds >= 0).any())
        if job.records and self.exact_fn is not None and job.policy_before is not None:
            kw = {"layout_seeds": seeds} if procedural else {}
            columns = getattr(self.exact_fn, "columns", None)  # ExactCredit: also the bootstrap target
            if callable(columns):
                batch.update(
                    columns(job.update, batch["state"], batch["t"], batch["action"], job.policy_before, **kw)
                )
            else:
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
                # the loop sets these with grad_idx
                assert job.actor is not None and job.actor_before is not None and job.grad_obs is not None
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


def can_fork() -> bool:
    """True where :class:`Measurer` can measure in a forked child process: Linux, and no accelerator (CUDA,
    XPU, MPS) that torch could use: once a backward pass has run with one available, torch's autograd refuses
    to run in a forked child ("Unable to handle autograd's threading in combination with fork-based
    multiprocessing")."""
    return sys.platform == "linux" and hasattr(os, "fork") and not _accelerator_available()


def _accelerator_available() -> bool:
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return bool(accelerator.is_available())
    return bool(torch.cuda.is_available())


class _ThreadWorker:
    """Runs ``measure(job)`` on one background thread of this process."""

    def __init__(self, measure: Callable[[Job], dict[str, Any]], sync_files: Callable[[], None]) -> None:
        self._measure, self._sync_files = measure, sync_files
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rlcredit-measure")
        self._future: Future | None = None

    def submit(self, job: Job) -> None:
        self._future = self._pool.submit(self._measure, job)

    def result(self) -> dict[str, Any]:
        future, self._future = self._future, None
        assert future is not None
        return future.result()

    def sync(self) -> None:
        self._sync_files()

    def close(self) -> None:
        self._pool.shutdown()


class _ForkWorker:
    """Runs ``measure(job)`` in a child process forked now; jobs, rows and errors travel through a pipe.

    The child ignores SIGINT and SIGTERM (the training process decides when measuring stops: it finishes
    the update a first signal interrupts) and exits when asked, when the pipe closes or when its parent is
    gone. An exception in the child is raised again in the parent with the child's traceback as a note;
    a child that dies, or a reply that cannot be read, is a RuntimeError naming the child's exit status.
    ``os.fork`` failing (no memory, too many processes) raises OSError here, before any child exists.
    """

    def __init__(self, measure: Callable[[Job], dict[str, Any]], sync_files: Callable[[], None]) -> None:
        parent_conn, child_conn = multiprocessing.Pipe(duplex=True)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns about forking a process with threads (wandb's, tqdm's): the child
                # only measures and writes its own files, it touches nothing those threads hold.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except BaseException:
            parent_conn.close()
            child_conn.close()
            raise
        if pid == 0:  # the child: serve until told to stop, never return into the caller's code
            code = 0
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                parent_conn.close()
                _serve(child_conn, measure, sync_files)
            except BaseException:
                code = 1
                try:
                    traceback.print_exc()
                    sys.stderr.flush()
                except BaseException:
                    pass
            finally:
                os._exit(code)
        child_conn.close()
        self.pid = pid
        self._conn = parent_conn
        self._broken = False
        self._exit: int | None = None

    def submit(self, job: Job) -> None:
        self._send(("job", job))

    def result(self) -> dict[str, Any]:
        return self._receive()

    def sync(self) -> None:
        self._send(("sync", None))
        self._receive()

    def close(self) -> None:
        """Ask the child to exit (stop it if a message may be half sent or read) and reap it."""
        if self._exit is not None:
            return
        try:
            if not self._broken:
                try:
                    self._conn.send_bytes(_dumps(("close", None)))
                except OSError:
                    pass
            else:
                self._kill()
        finally:
            self._conn.close()
            try:
                self._reap()
            except BaseException:  # interrupted while waiting: do not leave the child behind
                self._kill()
                self._reap()
                raise

    def _kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _send(self, message: tuple[str, Any]) -> None:
        try:
            self._conn.send_bytes(_dumps(message))
        except OSError:  # a pipe broken or reset by a dead child
            self._broken = True
            raise RuntimeError(f"the measurement process (pid {self.pid}) {self._died()}") from None
        except BaseException:
            self._broken = True
            raise

    def _receive(self) -> Any:
        try:
            kind, payload = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError):  # closed, reset, or cut off mid-message: the child died
            self._broken = True
            raise RuntimeError(f"the measurement process (pid {self.pid}) {self._died()}") from None
        except BaseException:
            self._broken = True
            raise
        if kind == "error":
            error, text = payload
            error.add_note(f"in the measurement process (pid {self.pid}):\n{text}")
            raise error
        return payload

    def _reap(self) -> int:
        if self._exit is None:
            _, status = os.waitpid(self.pid, 0)
            self._exit = os.waitstatus_to_exitcode(status)
        return self._exit

    def _died(self) -> str:
        self._kill()  # a child that cannot answer is stopped, whatever it is doing
        code = self._reap()
        if code < 0:
            return f"was killed by {signal.Signals(-code).name} (out of memory?)"
        return f"exited with status {code}"


def _serve(conn: Any, measure: Callable[[Job], dict[str, Any]], sync_files: Callable[[], None]) -> None:
    """The child's loop: answer ``("job", Job)`` with ``("row", row)``, ``("sync", None)`` with ``("ok", None)``
    after making the files durable, and anything that fails with ``("error", (exception, traceback))``."""
    parent = os.getppid()
    while True:
        if not conn.poll(2.0):
            if os.getppid() != parent:  # the training process is gone (killed)
                return
            continue
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        try:
            kind, payload = pickle.loads(data)
            if kind == "close":
                return
            if kind == "job":
                reply: tuple[str, Any] = ("row", measure(payload))
            else:
                sync_files()
                # Inside the parent's batched_dir_sync the directories were only noted, in this process's
                # copy of the list the parent syncs: sync them here, before the parent writes a checkpoint.
                sync_dirs()
                reply = ("ok", None)
            out = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            out = pickle.dumps(
                ("error", (_portable(e), traceback.format_exc())), protocol=pickle.HIGHEST_PROTOCOL
            )
        conn.send_bytes(out)


def _portable(error: Exception) -> Exception:
    """``error`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


class _Pickler(pickle.Pickler):
    """Tensors and parameters by value, as numpy arrays: the frozen actor copies of a job cost a quarter of a
    millisecond to send. (``multiprocessing``'s own pickler would move every tensor into shared memory.)"""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is torch.nn.Parameter or type(obj) is torch.Tensor:
            if obj.device.type == "cpu" and obj.layout == torch.strided and obj.dtype != torch.bfloat16:
                return _rebuild_tensor, (
                    obj.detach().numpy(),
                    obj.requires_grad,
                    type(obj) is torch.nn.Parameter,
                )
        return NotImplemented


def _rebuild_tensor(array: np.ndarray, requires_grad: bool, parameter: bool) -> torch.Tensor:
    tensor = torch.from_numpy(array)
    return torch.nn.Parameter(tensor, requires_grad) if parameter else tensor.requires_grad_(requires_grad)


def _dumps(obj: Any) -> bytes:
    sink = io.BytesIO()
    _Pickler(sink, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return sink.getvalue()
