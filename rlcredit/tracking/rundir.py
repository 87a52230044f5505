"""The run directory: the lab notebook every trainer writes and every plot reads.

Layout::

    RUN_DIR/
      config.toml      resolved config + a ``_meta`` table (versions, git commit, host, time)
      metrics.csv      one row per update (MetricsWriter)
      summary.json     final figures
      credit/          per-step credit records (parquet)
      shaping/         per-state policy change (parquet)
      checkpoints/     safetensors + JSON (Checkpointer)
      plots/           figures made from the files above
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import functools
import importlib.metadata
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import tomli_w

from rlcredit.config import to_dict
from rlcredit.tracking.io import atomic_write_json, atomic_write_text

__all__ = ["RunDir", "environment_info", "git_state", "recorded_git"]

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
SUBDIRS = ("credit", "shaping", "checkpoints", "plots")


class RunDir:
    """A run directory on disk.

    Make one with :meth:`create` (new run) or :meth:`open` (existing run, e.g. to resume or plot).

    Attributes
    ----------
    path : Path
        The run directory.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # ------------------------------------------------------------------------------------------ construction

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        root: str | os.PathLike[str] = "runs",
        name: str = "run",
    ) -> RunDir:
        """Create a run directory with its subdirectories.

        Parameters
        ----------
        path : path-like, optional
            The directory to use. It may exist already (e.g. made by a sweep launcher) but must not hold a
            ``config.toml`` yet: use :meth:`open` to continue an existing run. If None, a new unique
            directory ``ROOT/NAME-YYYYmmdd-HHMMSS-xxxx`` is made (``xxxx`` random hex).
        root : path-like
            Parent of generated directories (created if missing).
        name : str
            Prefix of generated directory names, e.g. ``"ppo-ButtonRoom"``; ``/`` becomes ``-``.

        Raises
        ------
        FileExistsError
            If ``path`` is already a run directory.
        """
        if path is None:
            root = Path(root)
            root.mkdir(parents=True, exist_ok=True)
            safe = name.replace("/", "-").replace(os.sep, "-") or "run"
            while True:
                stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
                candidate = root / f"{safe}-{stamp}-{secrets.token_hex(2)}"
                try:
                    candidate.mkdir()  # not exist_ok: mkdir is the atomic claim on the name
                except FileExistsError:
                    continue
                run_path = candidate
                break
        else:
            run_path = Path(path)
            if (run_path / CONFIG_FILE).exists():
                raise FileExistsError(
                    f"run directory already exists: {run_path} (use RunDir.open to resume or read it)"
                )
            run_path.mkdir(parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (run_path / sub).mkdir(exist_ok=True)
        return cls(run_path)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunDir:
        """Open an existing run directory (one with a ``config.toml``); nothing on disk is changed.

        Raises
        ------
        FileNotFoundError
            ``"run directory not found: PATH"``.
        ValueError
            ``"not a run directory (no config.toml): PATH"``.
        """
        p = Path(path)
        if not p.is_dir():
            raise FileNotFoundError(f"run directory not found: {p}")
        if not (p / CONFIG_FILE).is_file():
            raise ValueError(f"not a run directory (no config.toml): {p}")
        return cls(p)

    # ------------------------------------------------------------------------------------------------ paths

    @property
    def credit_dir(self) -> Path:
        """``credit/``: per-step credit records."""
        return self.path / "credit"

    @property
    def shaping_dir(self) -> Path:
        """``shaping/``: per-state policy changes."""
        return self.path / "shaping"

    @property
    def checkpoints_dir(self) -> Path:
        """``checkpoints/``: safetensors weights and JSON state."""
        return self.path / "checkpoints"

    @property
    def plots_dir(self) -> Path:
        """``plots/``: figures."""
        return self.path / "plots"

    @property
    def config_path(self) -> Path:
        """``config.toml``."""
        return self.path / CONFIG_FILE

    @property
    def metrics_path(self) -> Path:
        """``metrics.csv``."""
        return self.path / METRICS_FILE

    @property
    def summary_path(self) -> Path:
        """``summary.json``."""
        return self.path / SUMMARY_FILE

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunDir) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)

    # ------------------------------------------------------------------------------------------------ files

    def write_config(self, config: Mapping[str, Any] | Any) -> None:
        """Write ``config.toml`` atomically, adding a ``_meta`` table from :func:`environment_info`.

        Parameters
        ----------
        config : mapping or dataclass
            The resolved config. Dataclasses, tuples, paths and numpy scalars are converted to plain
            values. TOML has no null: keys whose value is None are left out (a config dataclass then
            reloads them as their None default). A ``_meta`` key in ``config`` is replaced.

        Raises
        ------
        ValueError
            If the config holds a None inside a list, or something else TOML cannot represent.
        """
        data = to_dict(config)
        if not isinstance(data, dict):
            raise TypeError(f"config must be a mapping or a dataclass; got {type(config).__name__}")
        data = _drop_none(data, "config")
        data["_meta"] = environment_info()
        try:
            text = tomli_w.dumps(data)
        except TypeError as e:
            raise ValueError(f"config cannot be written as TOML: {e}") from e
        atomic_write_text(self.config_path, text)

    def read_config(self) -> dict[str, Any]:
        """Read ``config.toml`` (including its ``_meta`` table)."""
        with open(self.config_path, "rb") as f:
            return tomllib.load(f)

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary.json`` atomically (numpy scalars/arrays converted; NaN written as ``NaN``)."""
        atomic_write_json(self.summary_path, summary)

    def read_summary(self) -> dict[str, Any]:
        """Read ``summary.json``."""
        with open(self.summary_path, encoding="utf-8") as f:
            return json.load(f)


def _drop_none(obj: Any, where: str) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v, f"{where}.{k}") for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        for i, v in enumerate(obj):
            if v is None:
                raise ValueError(f"{where}[{i}] is None, which TOML cannot represent")
        return [_drop_none(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


@functools.cache  # installed versions do not change while a process runs; the lookup scans site-packages
def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip()


@functools.cache
def _source_tree() -> Path | None:
    """The clone rlcredit is imported from (an editable install: the package's parent holds ``.git``), else None.

    An installed wheel's parent is ``site-packages``, never a clone, even when the venv lies inside one.
    """
    root = Path(__file__).resolve().parent.parent.parent
    return root if (root / ".git").exists() else None


def git_state(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The git commit of ``cwd`` and whether tracked files differ from it.

    Default ``cwd``: the source tree the running rlcredit was imported from, when git tracks it (an editable
    install from a clone, whatever the working directory); else ``"unknown"`` (an installed wheel).

    Two ``git`` subprocesses (about 15 ms on a loaded machine): compute it once per experiment and
    record it with :func:`recorded_git` rather than once per run directory.

    Returns
    -------
    dict
        ``{"git_commit": SHA or "unknown"}``, plus ``"git_dirty": bool`` when the commit is known.
    """
    where = Path(cwd) if cwd is not None else _source_tree()
    if where is None:
        return {"git_commit": "unknown"}
    commit = _git(["rev-parse", "--verify", "HEAD"], where)
    info: dict[str, Any] = {"git_commit": commit or "unknown"}
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        if status is not None:
            info["git_dirty"] = bool(status)
    return info


_RECORDED_GIT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "rlcredit_recorded_git", default=None
)


@contextlib.contextmanager
def recorded_git(state: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, :func:`environment_info` records ``state`` (from :func:`git_state`) instead of asking git.

    The experiment backends run every piece inside this block with the git state the driver computed once:
    one experiment's run directories then name the commit the experiment was launched from (also on a
    node that has no work tree), and a thousand tiny pieces do not start two thousand ``git`` processes.
    """
    if not isinstance(state.get("git_commit"), str):
        raise ValueError(f"recorded_git needs a git_commit string (from git_state()); got {dict(state)!r}")
    token = _RECORDED_GIT.set(dict(state))
    try:
        yield
    finally:
        _RECORDED_GIT.reset(token)


def environment_info(cwd: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What produced a run: package versions, git commit of ``cwd`` (default: rlcredit's own source tree), host.

    Inside :func:`recorded_git` the git fields are the recorded ones and ``cwd`` is not consulted.

    Returns
    -------
    dict
        ``python``, ``numpy``, ``torch``, ``gymnasium``, ``wandb``, ``rlcredit`` versions (strings),
        ``git_commit`` (``"unknown"`` outside a git work tree or before the first commit), ``git_dirty``
        (only when the commit is known: whether tracked files differ from it), ``hostname``, ``time``
        (ISO 8601, UTC) and ``argv``.
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "gymnasium": _version("gymnasium"),
        "wandb": _version("wandb"),
        "rlcredit": _version("rlcredit"),
    }
    recorded = _RECORDED_GIT.get()
    info.update(recorded if recorded is not None else git_state(cwd))
    info["hostname"] = socket.gethostname()
    info["time"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    info["argv"] = list(sys.argv)
    return info
