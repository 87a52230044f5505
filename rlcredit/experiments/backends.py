"""Where pieces run: a local process pool (the default) or Ray tasks on a cluster.

Both run :func:`~rlcredit.experiments.runner.run_piece_safely` on each piece, so a piece that fails is
reported (with its error) and the others carry on; a worker process that dies takes only its own pieces down.
Whatever a piece wrote before it stopped stays in its run directory, and re-running the experiment continues it.

- ``local``: :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method (no forked torch
  or wandb state), one worker per core by default, ``torch.set_num_threads(1)`` in every worker (small
  networks run fastest single-threaded, and the workers do not oversubscribe the cores). ``workers=1`` runs
  the pieces one after another in the calling process.
- ``ray``: one ``@ray.remote`` task per piece, collected with ``ray.wait`` as they finish. With an address
  (``"auto"``, ``"HOST:PORT"``) it joins that cluster; without one it starts a local Ray with ``workers`` (default
  2) CPUs. A Ray session that is already initialized is used as is and left running. On a multi-node cluster
  the experiment directory must be on a filesystem every node sees, and rlcredit installed on every node.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from rlcredit.experiments.pieces import PieceResult, run_piece_safely
from rlcredit.experiments.spec import Piece

__all__ = ["Backend", "LocalBackend", "RayBackend", "exit_with_parent", "make_backend"]

OnResult = Callable[[PieceResult], None]


class Backend(Protocol):
    """Runs pieces and reports each result as it arrives."""

    def describe(self, n_pieces: int) -> str:
        """One line for the progress header."""
        ...

    def run(self, pieces: Sequence[Piece], on_result: OnResult) -> list[PieceResult]:
        """Run every piece; call ``on_result`` once per piece (in completion order); return the results."""
        ...


def _cores() -> int:
    """CPU cores this process may use (its affinity mask, e.g. a container's share), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity masks
        return os.cpu_count() or 1


def _init_worker(parent: int | None = None) -> None:
    """Set up a worker process; with ``parent`` (the pid of the ``rlcredit run`` process) the worker also
    exits as soon as that process dies (:func:`exit_with_parent`)."""
    import warnings

    if parent is not None:
        exit_with_parent(parent)
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("MPLBACKEND", "Agg")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


_PR_SET_PDEATHSIG = 1


def exit_with_parent(parent: int) -> None:
    """Make this process die when process ``parent`` (its parent) dies, however the parent dies.

    Without it, a SIGKILLed ``rlcredit run`` leaves its pool workers training their pieces to the end and
    then idling, and a later ``rlcredit run --resume`` races them for the same run directories. On Linux
    the kernel delivers SIGKILL to the worker when its parent exits (``prctl(PR_SET_PDEATHSIG)``); elsewhere
    a daemon thread polls the parent pid once a second. Either way, a parent that is already gone when this
    runs makes the worker exit at once.
    """
    import signal
    import sys

    armed = False
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    if armed:
        return
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rlcredit-parent-watch", daemon=True).start()


class LocalBackend:
    """A process pool on this machine.

    Parameters
    ----------
    workers : int, optional
        Pieces run at once; default: every core this process may use. ``1`` runs pieces in the calling process.
    """

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.workers = workers or _cores()

    def describe(self, n_pieces: int) -> str:
        n = min(self.workers, max(n_pieces, 1))
        return "local, in this process" if n == 1 else f"local, {n} worker processes"

    def run(self, pieces: Sequence[Piece], on_result: OnResult) -> list[PieceResult]:
        if not pieces:
            return []
        n = min(self.workers, len(pieces))
        if n == 1:
            out = []
            for p in pieces:
                out.append(run_piece_safely(p))
                on_result(out[-1])
            return out
        ctx = multiprocessing.get_context("spawn")
        results: list[PieceResult] = []
        pool = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
        )
        try:
            futures = {pool.submit(run_piece_safely, p): p for p in pieces}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    p = futures[f]
                    try:
                        r = f.result()
                    except BrokenProcessPool:
                        r = PieceResult(
                            p.name,
                            p.agent,
                            "failed",
                            error="BrokenProcessPool: a worker process died (killed, or out of memory)",
                        )
                    except Exception as e:  # an error pickling the piece or its result
                        r = PieceResult(p.name, p.agent, "failed", error=f"{type(e).__name__}: {e}")
                    results.append(r)
                    on_result(r)
        finally:
            # On Ctrl-C the workers get the signal too; do not start queued pieces.
            pool.shutdown(wait=True, cancel_futures=True)
        return results


def _ray_piece(piece: Piece) -> PieceResult:
    _init_worker()
    return run_piece_safely(piece)


class RayBackend:
    """Ray tasks (``@ray.remote``), on a cluster or a local Ray.

    Parameters
    ----------
    address : str, optional
        ``"auto"`` or ``"HOST:PORT"`` of a running cluster; None starts a local Ray.
    workers : int, optional
        CPUs of a local Ray (default 2); ignored with an address.
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError("the ray backend needs Ray: pip install 'rlcredit[ray]'") from None
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        self.address = address
        self.workers = workers or 2

    def describe(self, n_pieces: int) -> str:
        import ray

        if ray.is_initialized():
            return f"ray (running session, {int(ray.cluster_resources().get('CPU', 0))} CPUs)"
        return f"ray cluster at {self.address}" if self.address else f"ray, local with {self.workers} CPUs"

    def run(self, pieces: Sequence[Piece], on_result: OnResult) -> list[PieceResult]:
        import ray

        if not pieces:
            return []
        started = False
        if not ray.is_initialized():
            if self.address:
                _check_reachable(self.address)
            try:
                if self.address:
                    ray.init(address=self.address, log_to_driver=False)
                else:
                    ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
            except (ConnectionError, RuntimeError) as e:
                what = (
                    f"connect to the Ray cluster at {self.address}" if self.address else "start a local Ray"
                )
                raise ValueError(f"cannot {what}: {str(e).strip().splitlines()[0]}") from None
            started = True
        results: list[PieceResult] = []
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(_ray_piece)
            refs = {remote.remote(p): p for p in pieces}
            pending = list(refs)
            try:
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    p = refs[ready[0]]
                    try:
                        r = ray.get(ready[0])
                    except Exception as e:  # the task's worker died, or Ray could not run it
                        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
                        r = PieceResult(p.name, p.agent, "failed", error=f"{type(e).__name__}: {msg}")
                    results.append(r)
                    on_result(r)
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        finally:
            if started:
                ray.shutdown()
        return results


def _check_reachable(address: str) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (``ray.init`` would retry for minutes)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ValueError(f"cannot reach the Ray cluster at {address}: {e}") from None


def make_backend(name: str, *, address: str | None = None, workers: int | None = None) -> Backend:
    """``"local"`` -> :class:`LocalBackend`, ``"ray"`` -> :class:`RayBackend`.

    Raises
    ------
    ValueError
        For another name, or an address given to the local backend.
    """
    if name == "local":
        if address is not None:
            raise ValueError("--address is for --backend ray")
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(address, workers)
    raise ValueError(f"unknown backend {name!r}; choose local or ray")
