"""DirLock: one writer per directory, the holder named, locks of dead processes recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlcredit.tracking.lock import LOCK_FILE, DirLock, LockedError

HOLD = """
import sys, time
from rlcredit.tracking.lock import DirLock
lock = DirLock(sys.argv[1], what="run directory").acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _holder(directory: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "locked"
    return p


def test_second_lock_in_this_process_is_refused_naming_this_pid(tmp_path: Path) -> None:
    with DirLock(tmp_path, what="run directory") as first:
        assert first.held
        with pytest.raises(LockedError) as e:
            DirLock(tmp_path, what="run directory").acquire()
        assert str(e.value) == (
            f"{tmp_path} is in use by process {os.getpid()} (another rlcredit writes this run directory; "
            "wait for it to finish or stop it)"
        )
    assert not first.held
    with DirLock(tmp_path):  # released: free again
        pass


def test_lock_held_by_another_process_then_recovered_after_it_is_killed(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    try:
        with pytest.raises(LockedError, match=rf"^{tmp_path} is in use by process {holder.pid} "):
            DirLock(tmp_path, what="experiment directory").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The dead holder's pid is still in the file, but the kernel released its lock.
    assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(holder.pid)
    with DirLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_lock_is_not_inherited_by_child_processes(tmp_path: Path) -> None:
    """A worker started while the lock is held must not keep it alive after the holder releases it."""
    lock = DirLock(tmp_path).acquire()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.release()
        deadline = time.monotonic() + 10
        while True:
            try:
                DirLock(tmp_path).acquire().release()
                break
            except LockedError:
                assert time.monotonic() < deadline, "the child process kept the lock"
                time.sleep(0.1)
    finally:
        child.kill()
        child.wait()
