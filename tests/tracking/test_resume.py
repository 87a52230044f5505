"""Resume verifies the run directory first: damage is one line naming the file, exit 2, nothing changed.

The run under test was trained for 16 updates with a checkpoint every 4 and then "killed" after checkpoint 12
(checkpoint 16 and summary.json removed; metrics rows and credit/shaping files past 12 stay, as a real kill
leaves them). Each case damages one thing the checkpoint promises and resumes through the real
``rlcredit train --resume`` entry point.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

import rlcredit
from rlcredit.cli import main
from rlcredit.tracking import Checkpointer, RunDir
from rlcredit.tracking.resume import NO_CHECKPOINT_YET, ResumeError, resume_point

CONFIG = {"num_envs": 4, "num_steps": 16, "checkpoint_every": 4, "num_minibatches": 2, "update_epochs": 2}
BATCH = 64
UPDATES = 16


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resume") / "run"
    rlcredit.train(
        "ppo",
        env="rlcredit/ButtonRoomBridge0-v0",
        steps=UPDATES * BATCH,
        seed=0,
        out_dir=out,
        wandb="disabled",
        config=CONFIG,
        progress=False,
    )
    return out


def _killed_after_12(finished: Path, dst: Path) -> Path:
    shutil.copytree(finished, dst)
    for p in (dst / "checkpoints").glob("ckpt_000016.*"):
        p.unlink()
    (dst / "summary.json").unlink()
    return dst


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _edit_state(run: Path, edit: Callable[[dict], None], *, rehash: bool = True) -> None:
    import hashlib

    js = run / "checkpoints" / "ckpt_000012.json"
    record = json.loads(js.read_text())
    edit(record["state"])
    if rehash:  # a deliberate edit with a matching hash: the state checks, not the hash, must catch it
        body = {k: v for k, v in record.items() if k != "record_sha256"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
        record["record_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    js.write_text(json.dumps(record))


def _lines(path: Path, keep: Callable[[list[str]], list[str]]) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(keep(lines)))


def _garble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 8] = bytes(b ^ 0x5A for b in data[mid : mid + 8])
    path.write_bytes(bytes(data))


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "metrics truncated to 5 rows": (
        lambda r: _lines(r / "metrics.csv", lambda L: L[:6]),
        "metrics.csv: 5 rows, but the checkpoint is at update 12",
    ),
    "metrics empty": (lambda r: (r / "metrics.csv").write_text(""), "metrics.csv: 0 rows"),
    "metrics missing": (lambda r: (r / "metrics.csv").unlink(), "metrics.csv: 0 rows"),
    "metrics row duplicated": (
        lambda r: _lines(r / "metrics.csv", lambda L: [*L[:5], L[4], *L[5:]]),
        "metrics.csv: row 5 is update 4",
    ),
    "checkpoint records deleted": (
        lambda r: [p.unlink() for p in (r / "checkpoints").glob("*.json")],
        "no checkpoint, but metrics.csv has 16 updates",
    ),
    "global_step negative": (
        lambda r: _edit_state(r, lambda s: s.update(global_step=-5000)),
        "state 'global_step' must be a non-negative integer; got -5000",
    ),
    "global_step huge": (
        lambda r: _edit_state(r, lambda s: s.update(global_step=10**12)),
        "global_step 1000000000000 is impossible after 12 updates of 64 steps",
    ),
    "global_step off by one batch": (
        lambda r: _edit_state(r, lambda s: s.update(global_step=11 * BATCH)),
        "global_step 704 is impossible after 12 updates",
    ),
    "json edited without its hash": (
        lambda r: _edit_state(r, lambda s: s.update(global_step=11 * BATCH), rehash=False),
        "does not match its record_sha256",
    ),
    "credit file missing": (
        lambda r: (r / "credit" / "update_000007.parquet").unlink(),
        "credit/update_000007.parquet: the credit file of update 7 is missing",
    ),
    "credit file garbled": (
        lambda r: _garble(r / "credit" / "update_000007.parquet"),
        "credit/update_000007.parquet: damaged Parquet file",
    ),
    "shaping file missing": (
        lambda r: (r / "shaping" / "update_000003.parquet").unlink(),
        "shaping/update_000003.parquet: the shaping file of update 3 is missing",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_run_is_refused_with_one_line_and_left_alone(
    case: str, finished: Path, tmp_path: Path, capsys
) -> None:
    damage, expected = CASES[case]
    run = _killed_after_12(finished, tmp_path / "run")
    damage(run)
    before = _snapshot(run)
    code = main(["train", "--resume", str(run), "--wandb", "disabled", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert expected in err[0] and str(run) in err[0], err[0]
    assert _snapshot(run) == before  # nothing truncated, deleted or rewritten


def test_intact_kill_resumes_to_the_uninterrupted_metrics(finished: Path, tmp_path: Path, capsys) -> None:
    run = _killed_after_12(finished, tmp_path / "run")
    assert main(["train", "--resume", str(run), "--wandb", "disabled", "--no-progress"]) == 0
    strip = lambda p: [line.rsplit(",", 1)[0] for line in p.read_text().splitlines()]  # noqa: E731  (SPS last)
    header = (finished / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "charts/SPS"
    assert strip(run / "metrics.csv") == strip(finished / "metrics.csv")
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_kill_before_the_first_checkpoint_says_so_and_starts_over(
    finished: Path, tmp_path: Path, capsys
) -> None:
    run = _killed_after_12(finished, tmp_path / "run")
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").mkdir()
    _lines(run / "metrics.csv", lambda L: L[:3])  # killed during update 3, before checkpoint 4
    assert main(["train", "--resume", str(run), "--wandb", "disabled", "--no-progress"]) == 0
    assert f"{run}: {NO_CHECKPOINT_YET}" in capsys.readouterr().err
    assert len((run / "metrics.csv").read_text().splitlines()) == UPDATES + 1


def test_resuming_a_finished_run_keeps_its_summary(finished: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    before = _snapshot(run)
    assert main(["train", "--resume", str(run), "--wandb", "disabled", "--no-progress"]) == 0
    assert _snapshot(run) == {k: v for k, v in before.items()}  # summary.json figures (wall time, SPS) kept


def test_second_writer_of_a_run_is_refused_naming_the_first(finished: Path, tmp_path: Path, capsys) -> None:
    import os

    from rlcredit.tracking.lock import DirLock

    run = _killed_after_12(finished, tmp_path / "run")
    before = _snapshot(run)
    with DirLock(run, what="run directory"):  # another `train --resume` holds it
        code = main(["train", "--resume", str(run), "--wandb", "disabled", "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == (
        f"rlcredit: error: {run} is in use by process {os.getpid()} (another rlcredit writes this run "
        "directory; wait for it to finish or stop it)"
    )
    after = _snapshot(run)
    after.pop(".rlcredit.lock", None)
    before.pop(".rlcredit.lock", None)
    assert after == before


def test_resume_point_of_a_fresh_directory(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r")
    point = resume_point(
        run,
        Checkpointer(run.checkpoints_dir),
        steps=100,
        batch_steps=(10, 10),
        checkpoint_every=4,
        credit_logged=None,
        shaping=False,
    )
    assert point.checkpoint is None and point.update == 0 and point.message == NO_CHECKPOINT_YET
    (run.checkpoints_dir / "ckpt_000004.safetensors").write_bytes(b"x")
    (run.checkpoints_dir / "ckpt_000008.safetensors").write_bytes(b"x")
    with pytest.raises(ResumeError, match="checkpoint records \\(JSON\\) are missing"):
        resume_point(
            run,
            Checkpointer(run.checkpoints_dir),
            steps=100,
            batch_steps=(10, 10),
            checkpoint_every=4,
            credit_logged=None,
            shaping=False,
        )
