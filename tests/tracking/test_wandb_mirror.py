"""WandbMirror: offline runs land under the run directory without network; disabled imports nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlcredit.tracking import WandbMirror
from rlcredit.tracking.wandb_mirror import offline_runs, sync_hint


def test_invalid_mode_message() -> None:
    with pytest.raises(ValueError) as e:
        WandbMirror("x")
    assert str(e.value) == "wandb mode must be one of offline, online, disabled; got 'x'"


def test_disabled_mode_is_a_no_op_and_imports_neither_wandb_nor_torch(tmp_path: Path) -> None:
    code = (
        "import sys, pandas as pd\n"
        "from rlcredit.tracking import WandbMirror, RunDir, MetricsWriter\n"
        f"run = RunDir.create({str(tmp_path / 'run')!r})\n"
        "with WandbMirror('disabled', config={'a': 1}, dir=run.path) as wb:\n"
        "    wb.log({'x': 1.0}, step=3)\n"
        "    wb.log_table('t', pd.DataFrame({'a': [1, 2]}))\n"
        "    wb.log_image('img', 'missing.png')\n"
        "    wb.update_summary({'y': 2})\n"
        "    assert not wb.enabled and wb.run_dir is None\n"
        "print(sorted(m for m in ('wandb', 'torch') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert not (tmp_path / "run" / "wandb").exists()


@pytest.fixture
def quiet_offline_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    for var in ("WANDB_MODE", "WANDB_RUN_ID", "WANDB_RESUME", "WANDB_DIR", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    for var in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb-home" / var.lower()))
    # Any attempt to reach a server would hit a closed local port and fail or hang, not succeed.
    closed = "http://127.0.0.1:9"
    monkeypatch.setenv("WANDB_BASE_URL", closed)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, closed)
    monkeypatch.setenv("NO_PROXY", "")


def _spy_log(wb: WandbMirror) -> list[dict]:
    """Record every payload the mirror hands to wandb's public ``Run.log``, then let wandb have it."""
    calls: list[dict] = []
    real = wb.run.log

    def log(data, *args, **kwargs):
        calls.append(dict(data))
        return real(data, *args, **kwargs)

    wb.run.log = log
    return calls


def test_offline_run_writes_under_dir_with_global_step_axis(tmp_path: Path, quiet_offline_env) -> None:
    """Checked through wandb's public Run API and the media files wandb writes in this process (never
    through its binary log, whose flush a loaded machine delays)."""
    from PIL import Image

    run_dir = tmp_path / "run"
    (run_dir / "plots").mkdir(parents=True)
    img = run_dir / "plots" / "reach.png"
    Image.new("RGB", (4, 3), (255, 0, 0)).save(img)
    n = 5000
    df = pd.DataFrame(
        {
            "t": np.arange(n, dtype=np.int32),
            "credit": np.linspace(-1, 1, n, dtype=np.float32),
            "event": pd.Categorical(np.where(np.arange(n) % 7 == 0, "goal", "none")),
        }
    )
    with WandbMirror(
        "offline",
        group="wirehead",
        job_type="train",
        tags=("ppo", "seed0", "ppo"),
        name="ppo-0",
        config={"lr": 3e-4, "ppo": {"clip": 0.2}, "hidden": (64, 64)},
        dir=run_dir,
    ) as wb:
        assert wb.enabled
        calls = _spy_log(wb)
        run = wb.run
        assert (run.group, run.job_type, run.name, list(run.tags)) == (
            "wirehead",
            "train",
            "ppo-0",
            ["ppo", "seed0"],
        )
        assert dict(run.config) == {"lr": 3e-4, "ppo": {"clip": 0.2}, "hidden": [64, 64]}
        wb.log({"charts/return": 0.5}, step=128)
        wb.log({"charts/return": 0.75}, step=256)
        wb.log_table("credit", df, max_rows=2000)
        assert wb.log_plots(run_dir / "plots") == ["plots/reach"]
        wb.update_summary({"final/return": 0.75})
        summary = dict(run.summary)
        offline = wb.run_dir
    assert not wb.enabled
    wb.finish()  # idempotent

    # Every payload carries the shared x axis; tables and images attach to the last step.
    assert [c["global_step"] for c in calls] == [128, 256, 256, 256]
    assert [c.get("charts/return") for c in calls[:2]] == [0.5, 0.75]
    assert (
        summary["charts/return"] == 0.75 and summary["global_step"] == 256 and summary["final/return"] == 0.75
    )
    assert offline.parent == run_dir / "wandb" and offline.name.startswith("offline-run-")
    assert offline_runs(run_dir) == [offline]

    (table_file,) = (offline / "files" / "media" / "table").glob("credit_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["t", "credit", "event"]
    assert len(table["data"]) == 2000
    ts = [row[0] for row in table["data"]]
    assert ts == sorted(ts) and len(set(ts)) == 2000  # distinct rows, original order kept
    expected = np.sort(np.random.default_rng(0).choice(n, size=2000, replace=False))
    assert ts == expected.tolist()  # deterministic: the same rows every time
    (png,) = (offline / "files" / "media" / "images" / "plots").glob("reach_*.png")
    assert Image.open(png).size == (4, 3)


def test_reopened_offline_run_keeps_one_folder_unless_synced(tmp_path: Path, quiet_offline_env) -> None:
    run_dir = tmp_path / "run"
    with WandbMirror("offline", dir=run_dir) as wb:
        run_id = wb.run.id
        first = wb.run_dir
    assert offline_runs(run_dir) == [first]
    # Opened again (a resumed run): the unsynced folder is only a mirror, so it is replaced.
    with WandbMirror("offline", dir=run_dir, run_id=run_id, resume="allow", replace_offline=True) as wb:
        assert wb.replaced and wb.run.id == run_id
        calls = _spy_log(wb)
        assert wb.log_rows([{"global_step": 10, "a": 1.0}, {"global_step": 20, "a": 2.0}]) == 2
        second = wb.run_dir
    assert calls == [{"a": 1.0, "global_step": 10}, {"a": 2.0, "global_step": 20}]
    # (Opened within the same second, wandb names the new folder like the old one.)
    assert offline_runs(run_dir) == [second] and (second == first or not first.exists())
    hint = sync_hint(run_dir)
    assert hint == f"wandb: 1 offline run not uploaded yet; upload with: wandb sync {second}"
    # Once `wandb sync` has uploaded a folder, it is history on the server: keep it, and say nothing.
    (second / f"run-{run_id}.wandb.synced").write_text("")
    assert sync_hint(run_dir) is None
    with WandbMirror("offline", dir=run_dir, run_id=run_id, resume="allow", replace_offline=True) as wb:
        assert not wb.replaced
    assert len(offline_runs(run_dir)) == 2 and second.exists()


def test_sync_hint_for_an_experiment_directory(tmp_path: Path) -> None:
    for piece, run_id in (("ppo-s0", "aaaa1111"), ("vi-s0", "bbbb2222")):
        (tmp_path / piece / "wandb" / f"offline-run-20250101_000000-{run_id}").mkdir(parents=True)
    assert sync_hint(tmp_path) == (
        f"wandb: 2 offline runs not uploaded yet; upload with: wandb sync {tmp_path}/*/wandb/offline-run-*"
    )
    assert sync_hint(tmp_path / "missing") is None
