"""Ctrl-C of ``rlcredit run`` with a pool of workers: every process exits promptly, the training pieces stop
after a checkpoint, and ``--resume`` finishes the experiment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rlcredit.tracking.lock import lock_holder

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "setpgrp"), reason="POSIX process groups")]

# Two PPO pieces of 156 updates (seconds each), checkpointing every update.
TRAINERS = {
    "ppo": {
        "steps": 20_000,
        "config": {
            "num_envs": 4,
            "num_steps": 32,
            "num_minibatches": 2,
            "checkpoint_every": 1,
            "credit": False,
            "exact": False,
        },
    }
}


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its new parent) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _start(spec: Path, out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "MPLBACKEND": "Agg"}
    args = ["run", str(spec), "--out", str(out), "--wandb", "disabled", "--workers", "2"]
    # Ctrl-C handled as in a terminal even when this test runs as a background job (whose shell made the
    # process ignore SIGINT, which Python and so rlcredit would inherit and respect)
    launcher = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from rlcredit.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    # its own session: the signal below goes to its process group, as a terminal's Ctrl-C does
    return subprocess.Popen(
        [sys.executable, "-c", launcher, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env=env,
    )


def _interrupted_output(proc: subprocess.Popen[str], timeout: float) -> str:
    """The output of ``rlcredit run`` after it exits with status 130 (an interrupted run) within ``timeout``."""
    try:
        text, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"rlcredit run did not exit within {timeout:.0f} s of the interruption")
    assert proc.returncode == 130, text
    return text


def _wait_training(out: Path, pieces: list[str], deadline: float) -> None:
    """Until every piece has written a metrics row (and so a checkpoint) and is still training."""
    while time.monotonic() < deadline:
        if all(
            (out / p / "metrics.csv").is_file()
            and len((out / p / "metrics.csv").read_text().splitlines()) >= 3
            and lock_holder(out / p) is not None
            for p in pieces
        ):
            return
        time.sleep(0.2)
    pytest.fail("the pieces did not start training in time")


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_every_process_and_resume_finishes(
    presses: int, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path / "long.toml", "Does Ctrl-C stop it cleanly?", trainers=TRAINERS, planners=None
    )
    out = tmp_path / "exp"
    proc = _start(spec, out)
    pieces = ["ppo-s0", "ppo-s1"]
    _wait_training(out, pieces, time.monotonic() + 120)
    workers = _children(proc.pid)
    assert len(workers) >= 2
    for _ in range(presses):  # 2: "send it again to stop at once"
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.2)
    text = _interrupted_output(proc, timeout=60)
    assert f"continue with: rlcredit run --resume {out}" in text
    assert "leaked" not in text and "Traceback" not in text, text
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "a worker outlived rlcredit run"
    for p in pieces:
        assert lock_holder(out / p) is None
        assert not (out / p / "eval.json").exists()
        assert list((out / p / "checkpoints").glob("ckpt_*.safetensors")), "no checkpoint to resume from"

    # the same experiment, shortened so it finishes: the pieces continue from their checkpoints
    rows = {p: len((out / p / "metrics.csv").read_text().splitlines()) for p in pieces}
    cmd = [sys.executable, "-m", "rlcredit.cli", "run", "--resume", str(out), "--wandb", "disabled"]
    resumed = subprocess.run(
        [*cmd, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "WANDB_MODE": "offline", "MPLBACKEND": "Agg"},
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    for p in pieces:
        assert (out / p / "eval.json").is_file()
        assert "starting over" not in resumed.stderr
        assert len((out / p / "metrics.csv").read_text().splitlines()) > rows[p]


def test_a_worker_stopped_alone_ends_the_run_as_interrupted(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "long.toml", "Who stopped it?", trainers=TRAINERS, planners=None, seeds=7)
    out = tmp_path / "exp"
    proc = _start(spec, out)
    _wait_training(out, ["ppo-s0", "ppo-s1"], time.monotonic() + 120)
    holder = lock_holder(out / "ppo-s0")
    assert holder is not None
    os.kill(holder[0], signal.SIGINT)  # someone interrupts the worker training ppo-s0, not the driver
    text = _interrupted_output(proc, timeout=180)
    assert "failed" not in text.lower() and "Cancelled" not in text, text
    assert f"continue with: rlcredit run --resume {out}" in text
    assert not (out / "ppo-s0" / "eval.json").exists()
    assert list((out / "ppo-s0" / "checkpoints").glob("ckpt_*.safetensors"))
    assert (out / "ppo-s1" / "eval.json").is_file()  # the other worker's piece was finished, not abandoned
