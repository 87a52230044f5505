"""Concurrent writers of one experiment directory, and progress lines while pieces run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rlcredit.cli import main
from rlcredit.experiments.backends import ProgressTicker, piece_progress
from rlcredit.experiments.spec import expand_pieces, load_spec
from rlcredit.tracking.lock import LOCK_FILE, DirLock, lock_holder

PPO = {"ppo": {"steps": 1024, "config": {"num_envs": 4, "num_steps": 16, "num_minibatches": 2}}}


def _spec(write_spec: Callable[..., Path], tmp_path: Path) -> Path:
    return write_spec(
        tmp_path / "tiny.toml", "Who writes this experiment?", trainers=PPO, planners={"vi": {"episodes": 4}}
    )


def test_second_run_into_one_experiment_directory_is_refused(
    write_spec: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp, spec = tmp_path / "exp", _spec(write_spec, tmp_path)
    exp.mkdir()
    with DirLock(exp, what="experiment directory"):  # another `rlcredit run --out exp` is running
        code = main(["run", str(spec), "--out", str(exp), "--wandb", "disabled", "--workers", "1"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert err[0] == (
        f"rlcredit: error: {exp.resolve()} is in use by process {os.getpid()} (another rlcredit writes this "
        "experiment directory; wait for it to finish or stop it)"
    )
    assert not [p for p in exp.iterdir() if p.is_dir()], "a piece was started"


def _metrics(run: Path, rows: list[tuple[int, int]]) -> None:
    run.mkdir(parents=True, exist_ok=True)
    lines = ["update,global_step,charts/SPS", *(f"{u},{g},123.0" for u, g in rows)]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")


def test_progress_lines_read_the_run_directories(write_spec: Callable[..., Path], tmp_path: Path) -> None:
    pieces = expand_pieces(load_spec(_spec(write_spec, tmp_path)), tmp_path / "exp", wandb="disabled")
    ppo0, vi0, ppo1, vi1 = pieces
    ticker = ProgressTicker(pieces, lambda line: None)
    ticker._t0 = time.monotonic()
    assert ticker.line() == "  ... 0 s: starting 4 pieces"
    _metrics(Path(ppo0.run_dir), [(1, 64), (2, 128), (3, 192), (4, 256)])  # 256 of 1024 steps
    _metrics(Path(vi0.run_dir), [(1, 7), (2, 14), (3, 21), (4, 28)])  # all 4 episodes: evaluating
    Path(ppo1.run_dir).mkdir(parents=True)  # started, no row yet
    (Path(vi1.run_dir)).mkdir(parents=True)
    (Path(vi1.run_dir) / "eval.json").write_text("{}")  # finished
    assert piece_progress(ppo0) == 0.25 and piece_progress(vi0) == 1.0 and piece_progress(ppo1) is None
    # a piece runs while a process (a worker, here this one) holds its run directory
    locks = [DirLock(p.run_dir).acquire() for p in (ppo0, vi0, ppo1)]
    assert ticker.line() == "  ... 0 s: 1/4 done; running ppo-s0 25%, vi-s0 evaluating, ppo-s1 starting"
    for lock in locks:
        lock.release()
    # the same directories, nobody working in them: left by an interrupted run, waiting for a worker
    assert ticker.line() == "  ... 0 s: 1/4 done"


def test_a_piece_left_by_a_killed_run_is_waiting_not_running(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    pieces = expand_pieces(load_spec(_spec(write_spec, tmp_path)), tmp_path / "exp", wandb="disabled")
    ppo0 = pieces[0]
    _metrics(Path(ppo0.run_dir), [(1, 1024)])  # trained to the end, not evaluated
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    # the lock file a killed holder leaves: its pid and host, the flock gone with the process
    (Path(ppo0.run_dir) / LOCK_FILE).write_text(f"{int(dead.stdout)} {socket.gethostname()}\n")
    ticker = ProgressTicker(pieces, lambda line: None)
    ticker._t0 = time.monotonic()
    assert lock_holder(ppo0.run_dir) is None
    assert ticker.line() == "  ... 0 s: starting 4 pieces"
    with DirLock(ppo0.run_dir):  # a worker takes it up: evaluating
        assert lock_holder(ppo0.run_dir) == (os.getpid(), socket.gethostname())
        assert ticker.line() == "  ... 0 s: 0/4 done; running ppo-s0 evaluating"
    assert lock_holder(ppo0.run_dir) is None  # released: the file is emptied


def test_ticker_speaks_before_the_first_piece_finishes(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    pieces = expand_pieces(load_spec(_spec(write_spec, tmp_path)), tmp_path / "exp", wandb="disabled")
    said: list[str] = []
    with ProgressTicker(pieces, said.append, first=0.05, every=0.05):
        _metrics(Path(pieces[0].run_dir), [(1, 512)])
        lock = DirLock(pieces[0].run_dir).acquire()  # a worker runs it
        deadline = time.monotonic() + 10
        while not any("ppo-s0 50%" in s for s in said) and time.monotonic() < deadline:
            time.sleep(0.02)
        lock.release()
    assert any("ppo-s0 50%" in s for s in said), said
    assert len(said) == len(set(said))  # an unchanged status is not repeated
