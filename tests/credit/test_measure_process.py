"""The measurement process: the same files and rows as the measurement thread, errors that surface, a child that
never outlives its training process."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rlcredit.credit.measure as measure
from rlcredit.credit.measure import Job, Measurer
from rlcredit.tracking import MetricsWriter
from rlcredit.trainers.loop import train

pytestmark = pytest.mark.skipif(not measure.can_fork(), reason="the measurement process needs fork (Linux)")


class _NoWandb:
    def log(self, data: dict, step: int | None = None) -> None:
        pass


def _job(update: int) -> Job:
    batch = {
        "state": np.array([0, 1], np.int32),
        "action": np.array([1, 0], np.int64),
        "logp_new": np.zeros(2, np.float32),
        "layout_seed": np.full(2, -1, np.int64),
    }
    row = {"update": update, "global_step": 10 * update, "charts/SPS": 1.0}
    return Job(update, records=False, row=row, batch=batch)


def _measurer(tmp_path: Path, on_update, *, process: bool) -> Measurer:
    return Measurer(
        MetricsWriter(tmp_path / "metrics.csv"),
        _NoWandb(),
        None,
        None,
        on_update,
        logged_update=0,
        process=process,
    )


def _pid_hook(update, before, after, batch):
    if update == 3:
        raise ValueError(f"no measurement for update {update}")
    return {"pid": os.getpid(), "steps": len(batch["action"])}


@pytest.mark.parametrize("process", [True, False])
def test_rows_are_measured_where_asked_and_logged_in_order(tmp_path, process):
    m = _measurer(tmp_path, _pid_hook, process=process)
    try:
        assert m.in_process is process
        m.submit(_job(1))
        m.submit(_job(2))
        m.wait()
        rows = m.metrics.rows
        assert [r["update"] for r in rows] == [1, 2] and m.logged_update == 2
        assert all(r["steps"] == 2 for r in rows)
        assert all((r["pid"] != os.getpid()) is process for r in rows)
        # the hook's scalars go before the timing column
        assert list(rows[0])[-1] == "charts/SPS"
    finally:
        m.close()


@pytest.mark.parametrize("process", [True, False])
def test_an_error_in_a_measurement_is_raised_at_the_next_wait_with_its_type_and_message(tmp_path, process):
    m = _measurer(tmp_path, _pid_hook, process=process)
    try:
        m.submit(_job(3))
        with pytest.raises(ValueError, match="no measurement for update 3") as info:
            m.wait()
        if process:
            notes = "\n".join(getattr(info.value, "__notes__", []))
            assert "measurement process" in notes and "_pid_hook" in notes  # the child's traceback
        m.submit(_job(4))  # the worker goes on with the next job
        m.wait()
        assert m.logged_update == 4
    finally:
        m.close()


class _Unpicklable(Exception):
    def __init__(self, handle: object) -> None:
        super().__init__("a handle")
        self.handle = handle

    def __reduce__(self):
        raise TypeError("cannot pickle a handle")


def _unpicklable_hook(update, before, after, batch):
    raise _Unpicklable(object())


def test_an_error_that_cannot_cross_processes_keeps_its_type_name_and_message(tmp_path):
    m = _measurer(tmp_path, _unpicklable_hook, process=True)
    try:
        m.submit(_job(1))
        with pytest.raises(RuntimeError, match="_Unpicklable: a handle"):
            m.wait()
    finally:
        m.close()


def test_a_killed_measurement_process_is_a_clear_error_and_close_does_not_hang(tmp_path):
    m = _measurer(tmp_path, _pid_hook, process=True)
    m.submit(_job(1))
    m.wait()
    pid = m.metrics.rows[0]["pid"]
    os.kill(pid, signal.SIGKILL)
    m.submit(_job(2))
    with pytest.raises(RuntimeError, match=rf"measurement process \(pid {pid}\) was killed by SIGKILL"):
        m.wait()
    m.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped


def test_the_measurement_process_ignores_interrupts_meant_for_the_training_process(tmp_path):
    m = _measurer(tmp_path, _pid_hook, process=True)
    try:
        m.submit(_job(1))
        m.wait()
        pid = m.metrics.rows[0]["pid"]
        os.kill(pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        os.kill(pid, signal.SIGTERM)
        m.submit(_job(2))
        m.wait()
        assert m.metrics.rows[-1]["pid"] == pid and m.logged_update == 2
    finally:
        m.close()


def test_the_measurement_process_exits_when_its_training_process_is_killed(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_measure_process import _measurer, _job
        from pathlib import Path
        m = _measurer(Path({str(tmp_path)!r}), lambda u, b, a, batch: {{"pid": os.getpid()}}, process=True)
        m.submit(_job(1)); m.wait()
        print(m.metrics.rows[0]["pid"], flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        os.kill(child, 0)  # alive
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # not our child: it is reparented to init, which reaps it; until then it may show as a zombie
        if _is_zombie(child):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"measurement process {child} still running 10 s after its training process was killed")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (FileNotFoundError, IndexError):
        return True


def _digest(run_dir: Path) -> dict[str, str]:
    """Every credit, shaping and checkpoint file's hash, and metrics.csv without its timing column."""
    out = {}
    for p in sorted(run_dir.rglob("*")):
        if p.suffix in (".parquet", ".safetensors") or p.name == "metrics.csv":
            data = p.read_bytes()
            if p.name == "metrics.csv":
                data = pd.read_csv(p).drop(columns=["charts/SPS"]).to_csv().encode()
            out[str(p.relative_to(run_dir))] = hashlib.sha256(data).hexdigest()
    return out


@pytest.mark.parametrize(
    "env, config",
    [
        ("rlcredit/ButtonRoomBridge1-v0", {"num_envs": 4, "num_steps": 32, "checkpoint_every": 2}),
        ("rlcredit/CheeseMazeSmall-v0", {"num_envs": 2, "num_steps": 64, "obs": "coords"}),
    ],
)
def test_a_run_measured_in_a_process_writes_the_same_files_as_one_measured_on_a_thread(
    tmp_path, monkeypatch, env, config
):
    runs = {}
    for process in (True, False):
        monkeypatch.setattr(measure, "can_fork", lambda process=process: process)
        run = train(
            "ppo",
            env=env,
            steps=640,
            seed=4,
            out_dir=tmp_path / str(process),
            wandb="disabled",
            config=config,
        )
        runs[process] = _digest(run.dir)
    assert runs[True] == runs[False]
    names = list(runs[True])
    assert any(n.startswith("credit/") for n in names) and any(n.startswith("shaping/") for n in names)
    assert any(n.startswith("checkpoints/") for n in names)


def test_train_measures_its_default_hooks_in_a_child_and_a_callers_hook_in_its_own_process(tmp_path):
    def children_cpu() -> float:
        t = os.times()
        return t.children_user + t.children_system

    before = children_cpu()
    train(
        "ppo",
        env="rlcredit/ButtonRoomBridge1-v0",
        steps=4096,
        seed=0,
        out_dir=tmp_path / "a",
        wandb="disabled",
    )
    assert children_cpu() > before  # a reaped child did the measuring

    seen: list[int] = []
    run = train(
        "ppo",
        env="rlcredit/ButtonRoomBridge1-v0",
        steps=1024,
        seed=0,
        out_dir=tmp_path / "b",
        wandb="disabled",
        on_update=lambda update, before, after, batch: seen.append(os.getpid()) or {"mine": 1.0},
    )
    assert seen == [os.getpid()] * len(run.metrics) and (run.metrics["mine"] == 1.0).all()


def _unsendable_hook(update, before, after, batch):
    return {"callback": lambda: None}  # a value no pickle can send


def test_a_row_that_cannot_be_sent_back_is_an_error_naming_the_cause(tmp_path):
    m = _measurer(tmp_path, _unsendable_hook, process=True)
    try:
        m.submit(_job(1))
        with pytest.raises(Exception, match=r"(?i)pickle") as info:
            m.wait()
        assert "measurement process" in "\n".join(getattr(info.value, "__notes__", []))
    finally:
        m.close()


def test_no_measurement_process_where_torch_has_an_accelerator(monkeypatch):
    # torch's autograd refuses to run in a child forked after a backward pass when an accelerator is available
    import torch

    if getattr(torch, "accelerator", None) is not None:
        monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert not measure.can_fork()


def test_credit_and_shaping_directories_are_fsynced_before_a_checkpoint_in_a_batched_dir_sync(
    tmp_path, monkeypatch
):
    """In `batched_dir_sync` (how experiment pieces run) directory fsyncs are noted and done later; the ones of the
    files the measurement process wrote must be done before the checkpoint that counts them."""
    import rlcredit.tracking.io as io_mod

    log = tmp_path / "fsynced.txt"
    real = io_mod._fsync_dir_now

    def noting(directory):
        with open(log, "a") as f:  # from both processes (the child inherits this function)
            f.write(f"{Path(directory).name}\n")
        real(directory)

    monkeypatch.setattr(io_mod, "_fsync_dir_now", noting)
    with io_mod.batched_dir_sync():
        train(
            "ppo",
            env="rlcredit/ButtonRoomBridge1-v0",
            steps=1024,
            seed=0,
            out_dir=tmp_path / "run",
            wandb="disabled",
            config={"num_envs": 4, "num_steps": 64},
        )
    synced = log.read_text().split()
    assert {"credit", "shaping", "checkpoints"} <= set(synced)
    assert synced.index("credit") < synced.index("checkpoints")
