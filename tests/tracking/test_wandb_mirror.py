"""WandbMirror: offline runs land under the run directory without network; disabled imports nothing."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlcredit.tracking import WandbMirror


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


def _wandb_records(path: Path) -> list:
    """Decode the records of a ``.wandb`` transaction log (LevelDB-style log: 32 KiB blocks of chunks)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    block, pos, pending, records = 32768, 7, b"", []  # 7-byte file header ":W&B" + magic + version
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(pending)
            records.append(rec)
    return records


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


def test_offline_run_writes_under_dir_with_global_step_axis(tmp_path: Path, quiet_offline_env) -> None:
    from PIL import Image

    run_dir = tmp_path / "run"
    img = tmp_path / "plot.png"
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
        tags=("ppo", "seed0"),
        name="ppo-0",
        config={"lr": 3e-4, "ppo": {"clip": 0.2}, "hidden": (64, 64)},
        dir=run_dir,
    ) as wb:
        assert wb.enabled
        wb.log({"charts/return": 0.5}, step=128)
        wb.log({"charts/return": 0.75}, step=256)
        wb.log_table("credit", df, max_rows=2000)
        wb.log_image("plots/reach", img, caption="reach")
        wb.update_summary({"final/return": 0.75})
        offline = wb.run_dir
    assert not wb.enabled
    wb.finish()  # idempotent

    assert offline.parent == run_dir / "wandb" and offline.name.startswith("offline-run-")
    (log_file,) = offline.glob("run-*.wandb")
    records = _wandb_records(log_file)
    kinds = [r.WhichOneof("record_type") for r in records]
    run_rec = records[kinds.index("run")].run
    assert (run_rec.run_group, run_rec.job_type, list(run_rec.tags)) == (
        "wirehead",
        "train",
        ["ppo", "seed0"],
    )
    config = {item.key: json.loads(item.value_json) for item in run_rec.config.update}
    assert config["lr"] == 3e-4 and config["ppo"] == {"clip": 0.2} and config["hidden"] == [64, 64]
    metrics = [r.metric for r in records if r.WhichOneof("record_type") == "metric"]
    assert any(m.glob_name == "*" and m.step_metric == "global_step" for m in metrics)
    history = [
        {item.key or "/".join(item.nested_key): item.value_json for item in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    assert [(h["global_step"], h["charts/return"]) for h in history[:2]] == [("128", "0.5"), ("256", "0.75")]
    assert all(h["global_step"] == "256" for h in history[2:])  # table and image attach to the last step

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
