"""Exclusive locks on run and experiment directories, so two processes never write one directory at once.

A lock is an ``flock`` on ``DIR/.rlcredit.lock``; the holder writes its pid (and host) into the file so the
next process can say who has it. The kernel releases an ``flock`` when its holder exits, however it exits,
so a lock left by a killed process is never in the way: the file stays, the lock does not (a "stale lock"
is recovered by simply taking it). ``flock`` locks belong to the open file, so a second lock on the same
directory in the *same* process fails too.

Typical use::

    with DirLock(run.path, what="run directory"):
        ...   # train, resume, plan into run.path

Where ``flock`` is unavailable (Windows), locking is a no-op.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from types import TracebackType

__all__ = ["LOCK_FILE", "DirLock", "LockedError", "lock_holder"]

LOCK_FILE = ".rlcredit.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class LockedError(RuntimeError):
    """Another process holds the lock: ``"PATH is in use by process PID on HOST (...)"``."""


class DirLock:
    """An exclusive, non-blocking lock on a directory (see the module docstring).

    Parameters
    ----------
    directory : path-like
        Must exist.
    what : str
        How the directory is named in the error ("run directory", "experiment directory").
    """

    def __init__(self, directory: str | os.PathLike[str], *, what: str = "directory") -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> DirLock:
        """Take the lock or fail at once.

        Raises
        ------
        LockedError
            If another process (or another DirLock in this one) holds it, naming the holder's pid.
        OSError
            If the lock file cannot be created (e.g. a read-only directory).
        """
        if self._fd is not None:
            return self
        if fcntl is None:  # pragma: no cover - Windows
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockedError(
                f"{self.directory} is in use by {holder} (another rlcredit writes this {self.what}; "
                f"wait for it to finish or stop it)"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        except OSError:
            pass  # the lock is held either way; only the holder's name is missing
        self._fd = fd
        return self

    def release(self) -> None:
        """Release the lock (idempotent). The file stays: unlinking it would race with a waiting process."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> DirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def lock_holder(directory: str | os.PathLike[str]) -> tuple[int, str] | None:
    """``(pid, host)`` of the process that holds ``directory``'s lock, read from the lock file; None when free.

    Only reads the file (taking even a shared lock to test it could make the holder-to-be's ``acquire`` fail):
    a holder writes its pid and host when it takes the lock and empties the file when it releases it. A file
    left by a process that was killed still names it: on this host, a pid that no longer runs counts as free.
    Always None where locking is a no-op (Windows).
    """
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        text = (Path(directory) / LOCK_FILE).read_bytes()[:256].decode("utf-8", "replace").split()
    except OSError:
        return None
    if not text or not text[0].isdigit():
        return None
    pid, host = int(text[0]), (text[1] if len(text) > 1 else socket.gethostname())
    if host == socket.gethostname():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's
            pass
    return pid, host


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if not text or not text[0].isdigit():
        return "another process"
    pid = text[0]
    host = text[1] if len(text) > 1 else None
    if host and host != socket.gethostname():
        return f"process {pid} on {host}"
    return f"process {pid}"
