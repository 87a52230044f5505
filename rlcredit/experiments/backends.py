"""Where pieces run: a local process pool (the default) or Ray tasks on a cluster.

Both run :func:`~rlcredit.experiments.runner.run_piece_safely` on each piece, so a piece that fails is
reported (with its error) and the others carry on; a worker process that dies takes only its own pieces down.
Whatever a piece wrote before it stopped stays in its run directory, and re-running the experiment continues it.

The driver asks git for the commit once per experiment (:func:`~rlcredit.tracking.rundir.git_state`) and
every piece records that one (:func:`~rlcredit.tracking.rundir.recorded_git`) in its ``config.toml``. A piece
syncs its run directory once rather than after every file
(:func:`~rlcredit.tracking.io.batched_dir_sync`): each file is still written atomically and fsynced, and
the files are on disk before ``eval.json`` marks the piece finished (and before each checkpoint).

- ``local``: :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` start method (no forked torch
  or wandb state), one worker per core by default, ``torch.set_num_threads(1)`` in every worker (small
  networks run fastest single-threaded, and the workers do not oversubscribe the cores). ``workers=1`` runs
  the pieces one after another in the calling process.
- ``ray``: ``@ray.remote`` tasks, collected with ``ray.wait`` as they finish: one task per training piece,
  and planner pieces (a second or less each) in chunks of several per task, so a thousand tiny pieces do not
  pay Ray's per-task scheduling a thousand times (see :class:`RayBackend`). With an address (``"auto"``,
  ``"HOST:PORT"``) it joins that cluster; without one it starts a new local Ray with ``workers`` (default 2)
  CPUs, never joining another process's local Ray by accident. A Ray session that is already initialized is
  used as is and left running. rlcredit must be
  installed on every node. The experiment directory need not be on a filesystem every node sees: a task
  first checks whether it can see and write the driver's experiment directory (a marker file the driver
  wrote there). If it can (one machine, or a shared filesystem: the fast path), the piece writes its run
  directory in place. If it cannot (KubeRay or cloud clusters without shared storage), the piece runs in a
  temporary directory on its node and its run directory comes back to the driver as one tar archive
  through Ray's object store; the driver unpacks it in place. A partly finished piece is shipped to the
  node the same way, so ``--resume`` works either way.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import io
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sys
import tarfile
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Literal, Protocol

from rlcredit.experiments.pieces import PieceResult, run_piece_safely
from rlcredit.experiments.spec import Piece
from rlcredit.tracking.io import batched_dir_sync
from rlcredit.tracking.lock import lock_holder
from rlcredit.tracking.rundir import git_state, recorded_git

__all__ = [
    "Backend",
    "LocalBackend",
    "ProgressTicker",
    "RayBackend",
    "exit_with_parent",
    "make_backend",
    "pack_run_dir",
    "piece_progress",
    "unpack_run_dir",
]

OnResult = Callable[[PieceResult], None]


class Backend(Protocol):
    """Runs pieces and reports each result as it arrives."""

    def describe(self, n_pieces: int) -> str:
        """One line for the progress header."""
        ...

    def run(self, pieces: Sequence[Piece], on_result: OnResult) -> list[PieceResult]:
        """Run every piece; call ``on_result`` once per piece (in completion order); return the results."""
        ...


class ProgressTicker:
    """While pieces run, report every ``every`` seconds how far the unfinished ones have got.

    Reads only the pieces' run directories, so it works the same for every backend, in a background thread: a
    piece is running while a process holds its run directory's lock (training holds it, and the piece holds it
    while it plans and while it evaluates), and how far it has got is the last ``global_step`` in
    ``metrics.csv`` against a trainer's steps, the rows against a planner's episodes. A piece an earlier,
    interrupted run left half done is not running until a worker takes it up again. The first report comes
    after ``first`` seconds, so a long first piece is never silent.

    Examples
    --------
    >>> with ProgressTicker(pieces, print):      # doctest: +SKIP
    ...     backend.run(pieces, on_result)
    """

    def __init__(
        self, pieces: Sequence[Piece], say: Callable[[str], None], *, every: float = 15.0, first: float = 3.0
    ):
        self.pieces, self.say, self.every, self.first = list(pieces), say, every, first
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rlcredit-progress", daemon=True)
        self._t0 = 0.0

    def __enter__(self) -> ProgressTicker:
        self._t0 = time.monotonic()
        if self.pieces:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        last = None
        wait = self.first
        while not self._stop.wait(wait):
            wait = self.every
            line = self.line()
            if line and line != last:
                self.say(line)
                last = line

    def line(self) -> str | None:
        """``"  ... 12 s: 3/24 done; running ppo-Bridge1-s0 37%, vi-Bridge1-s0 evaluating"``."""
        done, running = 0, []
        for p in self.pieces:
            run = Path(p.run_dir)
            if (run / "eval.json").is_file():
                done += 1
            elif lock_holder(run) is not None:
                frac = piece_progress(p)
                if frac is None:
                    running.append(f"{p.name} starting")
                elif frac >= 1.0:  # trained or acted: now evaluated on the test variants (and plotted)
                    running.append(f"{p.name} evaluating")
                else:
                    running.append(f"{p.name} {frac:.0%}")
        if not running and not done:
            return f"  ... {time.monotonic() - self._t0:.0f} s: starting {len(self.pieces)} pieces"
        shown = ", ".join(running[:4]) + (f" and {len(running) - 4} more" if len(running) > 4 else "")
        return f"  ... {time.monotonic() - self._t0:.0f} s: {done}/{len(self.pieces)} done" + (
            f"; running {shown}" if running else ""
        )


def piece_progress(piece: Piece) -> float | None:
    """How far a piece has got, in [0, 1], from its run directory; None before its first metrics row."""
    path = Path(piece.run_dir) / "metrics.csv"
    try:
        with open(path, "rb") as f:
            header = f.readline().decode("utf-8", "replace").strip().split(",")
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            tail = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return None
    rows = [r for r in tail if r and not r.startswith(header[0] + ",")]
    if not rows:
        return None
    if piece.kind == "train" and piece.steps and "global_step" in header:
        cells = rows[-1].split(",")
        i = header.index("global_step")
        try:
            return min(1.0, int(cells[i]) / piece.steps)
        except (IndexError, ValueError):
            return None
    if piece.episodes:
        with contextlib.suppress(OSError), open(path, "rb") as f:
            return min(1.0, (sum(1 for _ in f) - 1) / piece.episodes)
    return None


def _run_piece(piece: Piece, git: dict[str, Any]) -> PieceResult:
    """:func:`run_piece_safely` in a worker: the driver's git state, one directory sync per piece."""
    with recorded_git(git), batched_dir_sync():
        return run_piece_safely(piece)


def _cores() -> int:
    """CPU cores this process may use (its affinity mask, e.g. a container's share), at least 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS and Windows have no affinity masks
        return os.cpu_count() or 1


def _init_worker(parent: int | None = None) -> None:
    """Set up a worker process; with ``parent`` (the pid of the ``rlcredit run`` process) the worker also
    exits as soon as that process dies (:func:`exit_with_parent`)."""
    if parent is not None:
        exit_with_parent(parent)
    import torch  # heavy: only a worker process that will train needs it, never the CLI parsing a spec

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
    armed = False
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    if armed:
        return

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
        git = git_state()
        if n == 1:
            out = []
            for p in pieces:
                out.append(_run_piece(p, git))
                on_result(out[-1])
            return out
        ctx = multiprocessing.get_context("spawn")
        results: list[PieceResult] = []
        interrupts = 0
        pool = ProcessPoolExecutor(
            max_workers=n, mp_context=ctx, initializer=_init_pool_worker, initargs=(os.getpid(),)
        )
        try:
            futures = {pool.submit(_pool_piece, p, git): p for p in pieces}
            pending = set(futures)
            while pending:
                try:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        r = _pool_result(f, futures[f])
                        if r.status == "interrupted":  # not finished: --resume continues it
                            interrupts = max(interrupts, 1)
                            pending = _cancel_queued(pending)  # a worker was stopped: start no further piece
                            continue
                        results.append(r)
                        on_result(r)
                except KeyboardInterrupt:
                    # Ctrl-C reaches this process only (the workers have their own process group): queued
                    # pieces are cancelled and each worker is told once per Ctrl-C. A training piece stops
                    # after its update's checkpoint at the first, at once at the second; a third stops the
                    # workers outright. Whatever a piece wrote stays, and --resume continues it.
                    interrupts += 1
                    pending = _cancel_queued(pending)
                    _signal_workers(
                        signal.SIGINT if interrupts < 3 else getattr(signal, "SIGKILL", signal.SIGTERM)
                    )
                    if interrupts >= 3:
                        raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if interrupts:
            raise KeyboardInterrupt
        return results


def _cancel_queued(pending: set[Future[PieceResult]]) -> set[Future[PieceResult]]:
    """Cancel the pieces no worker has taken yet (--resume runs them); returns the ones still running."""
    return {f for f in pending if not f.cancel()}


def _pool_result(future: Future[PieceResult], piece: Piece) -> PieceResult:
    """A pool future's result; a worker that died or a result that could not be pickled is a failed piece."""
    try:
        return future.result()
    except BrokenProcessPool:
        return PieceResult(
            piece.name,
            piece.agent,
            "failed",
            error="BrokenProcessPool: a worker process died (killed, or out of memory)",
        )
    except Exception as e:  # an error pickling the piece or its result
        return PieceResult(piece.name, piece.agent, "failed", error=f"{type(e).__name__}: {e}")


_stop_requested = False


def _init_pool_worker(parent: int) -> None:
    """:func:`_init_worker` for a local pool worker, which the driver alone interrupts.

    The worker gets a process group of its own, so a terminal's Ctrl-C goes to ``rlcredit run`` only, which
    tells each worker once (:meth:`LocalBackend.run`). Between pieces the worker notes a SIGINT instead of
    raising it (an exception inside the pool's queue machinery could leave a message half read, and the
    pool would never shut down); a piece it is then handed is not started.
    """
    _init_worker(parent)
    if hasattr(os, "setpgrp"):
        os.setpgrp()
    signal.signal(signal.SIGINT, _note_stop)


def _note_stop(signum: int, frame: Any) -> None:
    global _stop_requested
    _stop_requested = True


def _pool_piece(piece: Piece, git: dict[str, Any]) -> PieceResult:
    """:func:`_run_piece` in a pool worker: SIGINT raises KeyboardInterrupt only while the piece runs (training
    turns the first into "stop after this update's checkpoint"), and an interrupted piece is a result with
    status ``"interrupted"``, never an exception through the pool."""
    global _stop_requested
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if _stop_requested:  # told to stop before this piece started (it was already queued to this worker)
            return PieceResult(piece.name, piece.agent, "interrupted")
        return _run_piece(piece, git)
    except KeyboardInterrupt:
        _stop_requested = True
        return PieceResult(piece.name, piece.agent, "interrupted")
    finally:
        signal.signal(signal.SIGINT, _note_stop)


def _signal_workers(sig: signal.Signals) -> None:
    """Send ``sig`` to this process's multiprocessing children (the pool's workers)."""
    for child in multiprocessing.active_children():
        if child.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, sig)


ShipMode = Literal["auto", "always", "never"]
_MARKER = ".rlcredit-ray-"


Shipped = tuple[PieceResult, bytes | None, str | None]


def _ray_chunk(
    pieces: Sequence[Piece], token: str, ship: ShipMode, partial: Sequence[bytes | None], git: dict[str, Any]
) -> list[Shipped]:
    """Run pieces one after another in a Ray task; see :func:`_ray_piece`. One result per piece, in order."""
    _init_worker()
    sees: dict[Path, bool] = {}
    out = []
    for piece, shipped in zip(pieces, partial, strict=True):
        exp_dir = Path(piece.run_dir).parent
        if ship == "auto" and exp_dir not in sees:
            sees[exp_dir] = _sees_driver_dir(exp_dir, token)
        out.append(_ray_piece(piece, ship == "never" or (ship == "auto" and sees[exp_dir]), shipped, git))
    return out


def _ray_piece(piece: Piece, in_place: bool, shipped: bytes | None, git: dict[str, Any]) -> Shipped:
    """Run one piece in a Ray task: in place when this node sees the driver's experiment directory, else in a
    temporary directory whose contents go back as a tar archive. Returns (result, archive or None, the
    temporary run directory's path, which the driver rewrites to the real one in text files)."""
    if in_place:
        return _run_piece(piece, git), None, None
    with tempfile.TemporaryDirectory(prefix="rlcredit-piece-") as tmp:
        local = Path(tmp) / Path(piece.run_dir).name
        if shipped:
            unpack_run_dir(shipped, local)
        result = _run_piece(dataclasses.replace(piece, run_dir=str(local)), git)
        return result, pack_run_dir(local), str(local)


def _sees_driver_dir(exp_dir: Path, token: str) -> bool:
    """Whether this process sees the driver's experiment directory (its marker file) and can write there."""
    if not (exp_dir / f"{_MARKER}{token}").is_file():
        return False
    try:
        fd, probe = tempfile.mkstemp(prefix=".rlcredit-probe-", dir=exp_dir)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def pack_run_dir(path: str | os.PathLike[str]) -> bytes:
    """A run directory as an uncompressed tar archive (its files are mostly compressed already)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(Path(path).rglob("*")):
            if p.is_file() and p.name != ".rlcredit.lock":
                tar.add(p, arcname=str(p.relative_to(path)), recursive=False)
    return buf.getvalue()


def unpack_run_dir(
    data: bytes, path: str | os.PathLike[str], *, rename: tuple[str, str] | None = None
) -> None:
    """Replace the run directory ``path`` with the archive ``data`` (:func:`pack_run_dir`).

    The archive is unpacked beside ``path`` first and swapped in afterwards, so ``path`` holds either the
    old or the complete new run. ``rename=(old, new)`` rewrites the path ``old`` to ``new`` inside the text
    files (config, summary, JSON records), where the piece recorded the temporary directory it ran in.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".unpack", dir=path.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
            tar.extractall(staging, filter="data")  # no absolute paths, no links out of the directory
        if rename is not None:
            old, new = rename
            for p in staging.rglob("*"):
                if p.is_file() and p.suffix in (".json", ".toml", ".csv", ".txt", ".html"):
                    text = p.read_text(encoding="utf-8", errors="surrogateescape")
                    if old in text:
                        p.write_text(text.replace(old, new), encoding="utf-8", errors="surrogateescape")
        if path.exists():
            trash = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
            path.rename(trash)
            staging.rename(path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


class RayBackend:
    """Ray tasks (``@ray.remote``), on a cluster or a local Ray.

    Parameters
    ----------
    address : str, optional
        ``"auto"`` or ``"HOST:PORT"`` of a running cluster; None starts a local Ray.
    workers : int, optional
        CPUs of a local Ray (default 2); ignored with an address.
    ship : {"auto", "always", "never"}
        How run directories reach the driver: ``"auto"`` in place where a task sees the driver's experiment
        directory, else shipped as bytes (see the module docstring); ``"always"`` ships every piece (a
        cluster whose shared filesystem is slow); ``"never"`` requires the shared filesystem.
    chunk : int, optional
        Planner pieces per Ray task. Default: enough for about eight tasks per CPU of the cluster, at most
        32 pieces a task (about a second of work), so every CPU still gets several and none is left with a
        long last task while the others idle. Training
        pieces (minutes each) always run one per task. A worker that dies fails the unfinished pieces of
        its task; what they wrote stays, and re-running the experiment continues them.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        ship: ShipMode = "auto",
        chunk: int | None = None,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError("the ray backend needs Ray: pip install 'rlcredit[ray]'") from None
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be >= 1, got {workers}")
        if ship not in ("auto", "always", "never"):
            raise ValueError(f"ship must be auto, always or never; got {ship!r}")
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.address = address
        self.workers = workers or 2
        self.ship: ShipMode = ship
        self.chunk = chunk

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
                    # "local": a new Ray of our own, never a Ray another process started on this machine
                    ray.init(
                        address="local",
                        num_cpus=self.workers,
                        include_dashboard=False,
                        log_to_driver=False,
                    )
            except (ConnectionError, RuntimeError) as e:
                what = (
                    f"connect to the Ray cluster at {self.address}" if self.address else "start a local Ray"
                )
                raise ValueError(f"cannot {what}: {str(e).strip().splitlines()[0]}") from None
            started = True
        results: list[PieceResult] = []
        token = secrets.token_hex(8)
        markers: set[Path] = set()
        git = git_state()
        try:
            markers = _write_markers(pieces, token)
            remote = ray.remote(num_cpus=1, max_retries=0)(_ray_chunk)
            cpus = max(1, int(ray.cluster_resources().get("CPU", self.workers)))
            refs = {}
            for chunk in _chunks(pieces, self.chunk, cpus):
                partial = [_partial(p) if self.ship != "never" else None for p in chunk]
                refs[remote.remote(chunk, token, self.ship, partial, git)] = chunk
            pending = list(refs)
            try:
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    chunk = refs[ready[0]]
                    try:
                        shipped = ray.get(ready[0])
                    except Exception as e:  # the worker died, or Ray could not run the task
                        shipped = [_failed(p, e) for p in chunk]
                    for p, (r, archive, ran_in) in zip(chunk, shipped, strict=True):
                        if archive is not None:
                            try:
                                unpack_run_dir(
                                    archive, p.run_dir, rename=(ran_in, p.run_dir) if ran_in else None
                                )
                            except Exception as e:  # a full or read-only disk on the driver
                                r = _failed(p, e)[0]
                        results.append(r)
                        on_result(r)
            except BaseException:
                for ref in pending:
                    ray.cancel(ref, force=True)
                raise
        finally:
            for marker in markers:
                with contextlib.suppress(OSError):
                    marker.unlink()
            if started:
                ray.shutdown()
        return results


def _chunks(pieces: Sequence[Piece], chunk: int | None, cpus: int) -> list[list[Piece]]:
    """Ray tasks' pieces: each training piece alone, planner pieces ``chunk`` at a time (default: about eight
    tasks per CPU, at most 32 pieces a task), in the given order."""
    plans = [p for p in pieces if p.kind != "train"]
    size = chunk or max(1, min(32, len(plans) // (8 * cpus)))
    out = [[p] for p in pieces if p.kind == "train"]
    out += [plans[i : i + size] for i in range(0, len(plans), size)]
    return out


def _failed(piece: Piece, e: BaseException) -> Shipped:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return PieceResult(piece.name, piece.agent, "failed", error=f"{type(e).__name__}: {msg}"), None, None


def _write_markers(pieces: Sequence[Piece], token: str) -> set[Path]:
    """Write the marker a task looks for to know it sees the driver's experiment directory (one per directory)."""
    markers: set[Path] = set()
    for p in pieces:
        marker = Path(p.run_dir).parent / f"{_MARKER}{token}"
        if marker not in markers:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("rlcredit driver\n")
            markers.add(marker)
    return markers


def _partial(piece: Piece) -> bytes | None:
    """What a piece's run directory already holds (a resumed experiment), packed for a node that cannot
    see it; None when the directory is empty or missing."""
    path = Path(piece.run_dir)
    if not path.is_dir() or not any(p.is_file() for p in path.rglob("*")):
        return None
    return pack_run_dir(path)


def _check_reachable(address: str) -> None:
    """Fail fast on a ``HOST:PORT`` nobody listens on (``ray.init`` would retry for minutes)."""
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
