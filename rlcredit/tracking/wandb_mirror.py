"""Mirror a run's metrics, tables and images to Weights & Biases.

wandb is never the only copy: the run directory has everything, and this class only mirrors it. The
default mode is ``"offline"``: wandb writes ``DIR/wandb/offline-run-*`` without touching the network, and
``wandb sync DIR/wandb/offline-run-*`` uploads it later. ``"online"`` streams to the server; ``"disabled"``
makes every method a no-op and never imports wandb.

All series share one x axis: each :meth:`log` also logs ``global_step`` (environment steps), and every
metric is declared with ``step_metric="global_step"``. wandb's own ``step`` counter is left to wandb, so a
resumed run can log again from an earlier ``global_step``.

One offline folder per run: wandb writes a new ``offline-run-*`` folder every time a run id is opened
again (a resumed run, the plots mirrored after training). Offline folders that were never synced are only
a mirror of the run directory, so :class:`WandbMirror` with ``replace_offline=True`` deletes them
(:attr:`WandbMirror.replaced`) and the caller logs the run directory's rows again (:meth:`log_rows`);
folders already uploaded by ``wandb sync`` are kept. :func:`sync_hint` gives the ``wandb sync`` command for
a run or experiment directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from rlcredit.config import to_dict
from rlcredit.tracking.io import atomic_write_json
from rlcredit.tracking.metrics import read_metrics_csv

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["WANDB_MODES", "WandbMirror", "mirror_plots", "offline_runs", "sync_hint"]

WandbMode = Literal["offline", "online", "disabled"]
WANDB_MODES: tuple[WandbMode, ...] = get_args(WandbMode)
STEP_KEY = "global_step"
MIRROR_FILE = "rlcredit-mirror.json"
"""Written beside wandb's folders: the run id, group, job type, tags and name to reopen the run with."""


class WandbMirror:
    """A wandb run that mirrors a run directory (or nothing, when disabled).

    Parameters
    ----------
    mode : {"offline", "online", "disabled"}
        See the module docstring.
    project, group, job_type, tags, name :
        Passed to ``wandb.init``. Seeds of one experiment share a ``group``.
    config : mapping or config dataclass, optional
        The run's config (converted with :func:`rlcredit.config.to_dict`).
    dir : path-like, optional
        Where wandb writes its files (``DIR/wandb/...``); normally the run directory. Created if missing.
    run_id : str, optional
        wandb run id (with ``resume="allow"`` a resumed run continues the same wandb run).
    resume : str, optional
        wandb's ``resume`` argument.
    settings : mapping, optional
        Extra ``wandb.Settings`` fields, overriding the quiet defaults (``silent=True``, ``console="off"``).
    replace_offline : bool
        Offline mode with a ``run_id``: delete this run's unsynced ``offline-run-*`` folders under ``dir``
        first, so the run keeps one folder (the caller then logs the run directory again; see
        :attr:`replaced`). Tags are deduplicated, keeping their order.

    Raises
    ------
    ValueError
        ``"wandb mode must be one of offline, online, disabled; got 'x'"``.

    Examples
    --------
    >>> with WandbMirror("offline", group="wirehead", config=cfg, dir=run.path) as wb:   # doctest: +SKIP
    ...     wb.log({"charts/episodic_return": 0.5}, step=2048)
    """

    def __init__(
        self,
        mode: WandbMode = "offline",
        *,
        project: str = "rlcredit",
        group: str | None = None,
        job_type: str = "train",
        tags: Sequence[str] = (),
        name: str | None = None,
        config: Mapping[str, Any] | Any = None,
        dir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        resume: Literal["allow", "never", "must", "auto"] | None = None,
        settings: Mapping[str, Any] | None = None,
        replace_offline: bool = False,
    ) -> None:
        if mode not in WANDB_MODES:
            raise ValueError(f"wandb mode must be one of {', '.join(WANDB_MODES)}; got {mode!r}")
        self.mode = mode
        self.run: Any = None
        self._wandb: Any = None
        self._last_step: int | None = None
        self.replaced = False
        """Whether unsynced offline folders of this run were deleted (their rows must be logged again)."""
        if mode == "disabled":
            return
        if replace_offline and mode == "offline" and run_id and dir is not None:
            stale = [p for p in offline_runs(dir, run_id=run_id) if not _synced(p)]
            for p in stale:
                shutil.rmtree(p, ignore_errors=True)
            self.replaced = bool(stale)
        import wandb

        self._wandb = wandb
        if dir is not None:
            Path(dir).mkdir(parents=True, exist_ok=True)
        quiet: dict[str, Any] = {"silent": True, "console": "off"}
        quiet.update(settings or {})
        self.run = wandb.init(
            project=project,
            group=group,
            job_type=job_type,
            tags=list(dict.fromkeys(tags)),  # ordered, without duplicates
            name=name,
            config=to_dict(config) if config is not None else None,
            dir=os.fspath(dir) if dir is not None else None,
            id=run_id,
            resume=resume,
            mode=mode,
            reinit="create_new",  # several runs may be open in one process (local sweeps)
            settings=wandb.Settings(**quiet),
        )
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY)
        if dir is not None:  # how to reopen this wandb run later (mirror_plots), with the same attributes
            atomic_write_json(
                Path(dir) / "wandb" / MIRROR_FILE,
                {
                    "run_id": self.run.id,
                    "project": project,
                    "group": group,
                    "job_type": job_type,
                    "tags": list(dict.fromkeys(tags)),
                    "name": name,
                },
            )

    @property
    def enabled(self) -> bool:
        """False in disabled mode or after :meth:`finish`."""
        return self.run is not None

    @property
    def run_dir(self) -> Path | None:
        """The wandb run's directory (``.../wandb/offline-run-*`` offline), or None when not enabled."""
        if self.run is None:
            return None
        return Path(self.run.dir).parent

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Log scalars (or any wandb value) at environment step ``step`` (also logged as ``global_step``).

        Without ``step``, the values are attached to the last step logged.
        """
        if self.run is None:
            return
        payload = dict(data)
        if step is not None:
            self._last_step = int(step)
        if self._last_step is not None:
            payload[STEP_KEY] = self._last_step
        self.run.log(payload)

    def log_rows(self, rows: Iterable[Mapping[str, Any]], step_key: str = STEP_KEY) -> int:
        """Log metric rows again (e.g. ``metrics.csv`` after :attr:`replaced`), each at its ``step_key``.

        Returns the number of rows logged.
        """
        n = 0
        for row in rows:
            step = row.get(step_key)
            self.log(
                {k: v for k, v in row.items() if k != step_key}, step=int(step) if step is not None else None
            )
            n += 1
        return n

    def log_plots(self, plots_dir: str | os.PathLike[str], *, prefix: str = "plots") -> list[str]:
        """Log every ``*.png`` in ``plots_dir`` as an image ``PREFIX/NAME`` (at the last step logged).

        Returns the keys logged (empty when disabled or there are no plots).
        """
        if self.run is None:
            return []
        keys = []
        for png in sorted(Path(plots_dir).glob("*.png")):
            key = f"{prefix}/{png.stem}"
            self.log_image(key, png)
            keys.append(key)
        return keys

    def log_table(
        self,
        key: str,
        df: pd.DataFrame,
        *,
        step: int | None = None,
        max_rows: int = 2000,
        seed: int = 0,
    ) -> None:
        """Log a DataFrame as a ``wandb.Table``, keeping at most ``max_rows`` rows.

        Larger frames are subsampled uniformly at random with a fixed ``seed`` (so the same frame always
        gives the same rows), keeping the original row order. Random rather than evenly spaced rows avoid
        aliasing with periodic layouts such as ``num_envs``-strided rollouts.
        """
        if self.run is None:
            return
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1; got {max_rows}")
        if len(df) > max_rows:
            rows = np.sort(np.random.default_rng(seed).choice(len(df), size=max_rows, replace=False))
            df = df.iloc[rows]
        table = self._wandb.Table(dataframe=df.reset_index(drop=True))
        self.log({key: table}, step=step)

    def log_image(
        self, key: str, path: str | os.PathLike[str], *, step: int | None = None, caption: str | None = None
    ) -> None:
        """Log an image file (e.g. a plot from ``plots/``)."""
        if self.run is None:
            return
        self.log({key: self._wandb.Image(os.fspath(path), caption=caption)}, step=step)

    def update_summary(self, values: Mapping[str, Any]) -> None:
        """Set final figures in the wandb run summary."""
        if self.run is None:
            return
        for k, v in values.items():
            self.run.summary[k] = v

    def finish(self, exit_code: int | None = None) -> None:
        """Close the wandb run (idempotent)."""
        if self.run is None:
            return
        run, self.run = self.run, None
        run.finish(exit_code=exit_code)

    def __enter__(self) -> WandbMirror:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=0 if exc_type is None else 1)


def offline_runs(directory: str | os.PathLike[str], *, run_id: str | None = None) -> list[Path]:
    """The ``offline-run-*`` folders under ``directory`` (a run directory: ``DIR/wandb/``; an experiment
    directory: every piece's), oldest first; only those of ``run_id`` when given."""
    root = Path(directory)
    found = list(root.glob("wandb/offline-run-*")) + list(root.glob("*/wandb/offline-run-*"))
    if run_id is not None:
        found = [p for p in found if p.name.endswith(f"-{run_id}")]
    return sorted((p for p in found if p.is_dir()), key=lambda p: p.name)


def _synced(folder: Path) -> bool:
    """Whether ``wandb sync`` uploaded this offline folder (it leaves ``run-ID.wandb.synced`` beside the log)."""
    return any(folder.glob("*.wandb.synced"))


def sync_hint(directory: str | os.PathLike[str]) -> str | None:
    """``"wandb: N offline run(s) not uploaded yet; upload with: wandb sync PATHS"``, or None if there are none.

    ``PATHS`` is the folder itself for one run, a glob for many (what a shell expands to the same folders).
    """
    folders = [p for p in offline_runs(directory) if not _synced(p)]
    if not folders:
        return None
    root = Path(directory)
    if len(folders) == 1:
        target = str(folders[0])
    else:  # the experiment's own folder (ROOT/wandb) and its pieces' (ROOT/PIECE/wandb)
        globs = {
            str(root / "wandb" / "offline-run-*")
            if p.parent.parent == root
            else str(root / "*" / "wandb" / "offline-run-*")
            for p in folders
        }
        target = " ".join(sorted(globs, key=len))
    n = len(folders)
    return f"wandb: {n} offline run{'s' if n > 1 else ''} not uploaded yet; upload with: wandb sync {target}"


def mirror_plots(run_dir: str | os.PathLike[str], mode: WandbMode) -> list[str]:
    """Mirror a finished run directory's ``plots/*.png`` into its wandb run (plots are made after training).

    The wandb run is reopened with the id, group, job type, tags and name recorded in
    ``DIR/wandb/rlcredit-mirror.json`` when it was first opened. Offline, reopening a run id makes a new
    folder, so the unsynced one is replaced (``replace_offline``) and the run directory is logged again:
    ``config.toml``, ``metrics.csv`` rows, ``summary.json`` and the plots; the run keeps one offline folder.
    Online, the plots are added to the run on the server.

    Returns the image keys logged (empty when disabled, or the run has no wandb record or no plots).
    """
    run_dir = Path(run_dir)
    plots = sorted((run_dir / "plots").glob("*.png"))
    record_path = run_dir / "wandb" / MIRROR_FILE
    if mode == "disabled" or not plots or not record_path.is_file():
        return []
    record = json.loads(record_path.read_text(encoding="utf-8"))
    config = None
    if (run_dir / "config.toml").is_file():
        with open(run_dir / "config.toml", "rb") as f:
            config = tomllib.load(f)
    with WandbMirror(
        mode,
        project=record.get("project") or "rlcredit",
        group=record.get("group"),
        job_type=record.get("job_type") or "train",
        tags=record.get("tags") or (),
        name=record.get("name"),
        config=config,
        dir=run_dir,
        run_id=record["run_id"],
        resume="allow",
        replace_offline=True,
    ) as wb:
        if wb.replaced:
            if (run_dir / "metrics.csv").is_file():
                wb.log_rows(read_metrics_csv(run_dir / "metrics.csv")[1])
            if (run_dir / "summary.json").is_file():
                summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
                wb.update_summary({k: v for k, v in summary.items() if v is not None})
        return wb.log_plots(run_dir / "plots")
