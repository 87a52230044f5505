"""Local backend worker lifecycle: pool workers never outlive the ``rlcredit run`` process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

LONG_PPO = {
    "ppo": {"steps": 100_000_000, "config": {"num_envs": 4, "num_steps": 16, "checkpoint_every": 1000}}
}
"""A PPO that trains far longer than the test waits."""


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
def test_pool_workers_exit_when_the_run_process_is_killed(
    write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec = write_spec(
        tmp_path / "long.toml",
        "Do workers die with their parent?",
        name="long",
        trainers=LONG_PPO,
        planners=None,
    )
    env = {**os.environ, "WANDB_MODE": "disabled"}
    parent = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rlcredit.cli",
            "run",
            str(spec),
            "--out",
            str(tmp_path / "exp"),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        workers: list[int] = []
        # Wait until both workers are training (their run directories have a metrics row).
        while time.monotonic() < deadline:
            workers = [c for c in _children(parent.pid) if "spawn_main" in _cmdline(c)]
            rows = [tmp_path / "exp" / f"ppo-s{s}" / "metrics.csv" for s in (0, 1)]
            if len(workers) == 2 and all(r.exists() for r in rows):
                break
            assert parent.poll() is None, "rlcredit run exited early"
            time.sleep(0.5)
        assert len(workers) == 2 and all(_alive(w) for w in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        survivors = [w for w in workers if _alive(w)]
        assert not survivors, f"workers {survivors} outlived the killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for w in workers:  # never leave a worker behind when the test fails
            if _alive(w):
                os.kill(w, signal.SIGKILL)


def test_a_worker_whose_parent_is_already_gone_exits_at_once(tmp_path: Path) -> None:
    """The race the death signal cannot cover: the parent died before the worker armed it."""
    script = textwrap.dedent(
        """
        import os, sys
        from rlcredit.experiments.backends import exit_with_parent
        exit_with_parent(os.getppid() + 1 if os.getppid() != 1 else 2)  # not our parent: it is "gone"
        print("still running")
        """
    )
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "still running" not in p.stdout
    # With the real parent pid, the call returns and the process carries on.
    ok = subprocess.run(
        [
            sys.executable,
            "-c",
            script.replace("os.getppid() + 1 if os.getppid() != 1 else 2", "os.getppid()"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and "still running" in ok.stdout
