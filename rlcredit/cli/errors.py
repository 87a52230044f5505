"""Which failures are the user's or the machine's (one line, exit status 2) and how that line reads.

A failure caused by what the command was given or where it runs — a bad value, a damaged or missing file,
a read-only or full disk, a directory another process is writing, a nesting too deep to parse, memory the
request would need — is reported as one line that names the file or the value; ``--debug`` shows the
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import re
import warnings
from typing import Any

from rlcredit.tracking.lock import LockedError

__all__ = ["NUMPY_WARNINGS", "one_line", "quiet_numpy_warnings"]

NUMPY_WARNINGS = (
    r"(invalid value|divide by zero|overflow|underflow) encountered",
    r"Mean of empty slice",
    r"Degrees of freedom <= 0",
    r"All-NaN (slice|axis) encountered",
)
"""numpy's RuntimeWarnings about NaN/inf arithmetic: the lab reports NaN where a quantity is undefined
(an empty slice, a zero-probability state), and says so in the files; the warnings add nothing on a terminal."""

_OS_HINTS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted (immutable file?)",
}


def quiet_numpy_warnings() -> None:
    """Keep numpy's NaN/inf arithmetic warnings (:data:`NUMPY_WARNINGS`) off the terminal."""
    for pattern in NUMPY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=RuntimeWarning)


def _paths_of(args: Any) -> list[str]:
    """The paths a command writes or reads, from its parsed arguments (to name one when an error has none)."""
    out = []
    for name in ("out", "resume", "run_dir", "exp_dir", "spec", "env"):
        value = getattr(args, name, None)
        if isinstance(value, str) and value:
            out.append(value)
    return out


def one_line(e: BaseException, args: Any = None) -> str | None:
    """The one-line message for a failure the user can act on, or None for a bug (keep the traceback).

    Parameters
    ----------
    e : exception
    args : argparse.Namespace, optional
        The command's arguments, to name a path when the error itself does not (``write()`` on a full disk
        raises ``ENOSPC`` without a file name).
    """
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    if isinstance(e, LockedError):
        return first
    if isinstance(e, OSError):
        return _os_line(e, args)
    if isinstance(e, RecursionError):
        return "input nested too deeply to process (RecursionError); check the file for runaway nesting"
    if isinstance(e, MemoryError):
        return f"out of memory{': ' + first if first else ''}; the request needs more memory than this machine has"
    if isinstance(e, RuntimeError) and first.startswith("Error(s) in loading state_dict"):
        detail = re.sub(r"\s+", " ", msg.split(":", 1)[1]).strip() if ":" in msg else ""
        where = _paths_of(args)
        return f"{where[0] + ': ' if where else ''}checkpoint does not match its network ({detail[:200]})"
    try:
        import pyarrow as pa  # only when an error needs it: the CLI's error path stays light for --help

        if isinstance(e, pa.ArrowException):
            return f"damaged Parquet file ({first}){' in ' + _paths_of(args)[0] if _paths_of(args) else ''}"
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    return None


def _os_line(e: OSError, args: Any) -> str:
    if e.errno is None and e.filename is None and str(e).strip():
        # Our own messages ("run directory already exists: PATH (...)") are already one good line.
        return str(e).strip().splitlines()[0]
    hint = _OS_HINTS.get(e.errno or -1, e.strerror or type(e).__name__)
    if e.filename is None:
        where = _paths_of(args)
        return f"{hint} while writing {where[0]}" if where else f"{hint} ({type(e).__name__})"
    other = f" -> {e.filename2}" if e.filename2 else ""
    return f"{e.filename}{other}: {hint}"
