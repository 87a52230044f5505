"""The credit record schema: columns, dtypes, version, size on disk, round trip."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from rlcredit.credit.records import CREDIT_SCHEMA, SCHEMA_VERSION, CreditRecorder, read_credit

COLUMNS = [
    "update", "env", "episode", "t", "state", "action", "reward", "terminated", "truncated", "value",
    "return", "advantage", "advantage_norm", "adv_scale", "applied_weight", "logp_old", "logp_new", "ratio", "clipped",
    "credit", "grad_norm", "grad_cos", "exact_q", "exact_advantage", "exact_advantage_boot",
]  # fmt: skip


def _rollout_rows(update: int, T: int = 128, N: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows shaped like one PPO update on a gridworld: sparse rewards, float noise everywhere."""
    rng = np.random.default_rng(seed)
    n = T * N
    adv = rng.normal(size=n)
    ratio = np.exp(rng.normal(scale=0.05, size=n))
    clipped = rng.random(n) < 0.1
    grad = np.full(n, np.nan)
    sub = rng.choice(n, min(n, 256), replace=False)
    grad[sub] = rng.random(len(sub))
    return {
        "update": update,
        "env": np.tile(np.arange(N), T),
        "episode": np.repeat(np.arange(T) // 20, N),
        "t": np.repeat(np.arange(T) % 20, N),
        "state": rng.integers(0, 126, n),
        "action": rng.integers(0, 4, n),
        "reward": np.where(rng.random(n) < 0.02, 1.0, 0.0),
        "terminated": rng.random(n) < 0.02,
        "truncated": rng.random(n) < 0.01,
        "value": rng.normal(size=n),
        "return": rng.normal(size=n),
        "advantage": adv,
        "advantage_norm": adv / adv.std(),
        "adv_scale": np.full(n, adv.std()),
        "applied_weight": np.where(clipped, 0.0, adv * ratio),
        "logp_old": np.log(rng.random(n)),
        "logp_new": np.log(rng.random(n)),
        "ratio": ratio,
        "clipped": clipped,
        "credit": np.where(clipped, 0.0, adv * ratio),
        "grad_norm": grad,
        "grad_cos": grad,
        "exact_q": rng.normal(size=n),
        "exact_advantage": rng.normal(size=n),
        "exact_advantage_boot": rng.normal(size=n),
    }


def test_schema_columns_dtypes_and_docs():
    assert [c.name for c in CREDIT_SCHEMA] == COLUMNS
    dtypes = {c.name: c.dtype for c in CREDIT_SCHEMA}
    assert dtypes["update"] == "int32" and dtypes["env"] == "int16" and dtypes["action"] == "int16"
    assert {dtypes[k] for k in ("terminated", "truncated", "clipped")} == {"bool"}
    assert all(dtypes[k] == "float32" for k in COLUMNS[6:] if k not in ("terminated", "truncated", "clipped"))
    assert all(c.doc for c in CREDIT_SCHEMA)


def test_write_read_round_trip_with_version(tmp_path):
    rec = CreditRecorder(tmp_path / "credit")
    rows = _rollout_rows(12, T=8, N=4)
    rec.add(rows)
    path = rec.flush(12)
    assert path.name == "update_000012.parquet" and len(rec) == 0
    meta = pq.read_schema(path).metadata
    assert meta[b"rlcredit.credit_schema_version"] == str(SCHEMA_VERSION).encode()
    df = read_credit(tmp_path)
    assert list(df.columns) == COLUMNS and len(df) == 32
    assert {c.name: str(df[c.name].dtype) for c in CREDIT_SCHEMA} == {c.name: c.dtype for c in CREDIT_SCHEMA}
    np.testing.assert_array_equal(df["update"], 12)
    np.testing.assert_allclose(df["credit"], rows["credit"].astype(np.float32))
    np.testing.assert_array_equal(df["clipped"], rows["clipped"])


def test_missing_float_columns_are_nan_and_required_ones_are_enforced(tmp_path):
    rec = CreditRecorder(tmp_path)
    rows = {k: v for k, v in _rollout_rows(1, T=2, N=2).items() if k in COLUMNS[:9]}
    rec.add(rows)
    df = pd.read_parquet(rec.flush(1))
    assert df["exact_q"].isna().all() and not df["clipped"].any()
    with pytest.raises(KeyError, match="missing required"):
        rec.add({"update": 1, "credit": np.zeros(3)})
    with pytest.raises(KeyError, match="unknown credit columns"):
        rec.add({**rows, "bonus": np.zeros(4)})
    assert rec.flush(2) is None


def test_at_most_64_bytes_per_step_on_disk(tmp_path):
    rec = CreditRecorder(tmp_path)
    total, steps = 0, 0
    for update in range(1, 4):
        rows = _rollout_rows(update, seed=update)
        steps += rec.add(rows)
        total += rec.flush(update).stat().st_size
    assert total / steps <= 64, f"{total / steps:.1f} bytes per step"


def test_other_schema_version_is_refused(tmp_path):
    import pyarrow as pa

    table = pa.table({"update": np.zeros(2, np.int32)}, metadata={b"rlcredit.credit_schema_version": b"0"})
    pq.write_table(table, tmp_path / "update_000001.parquet")
    with pytest.raises(ValueError, match="schema version 0"):
        read_credit(tmp_path)


def test_discard_after(tmp_path):
    rec = CreditRecorder(tmp_path)
    for u in (1, 2, 3):
        rec.add(_rollout_rows(u, T=1, N=2))
        rec.flush(u)
    rec.discard_after(1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["update_000001.parquet"]


def test_deferred_fsync_writes_atomically_and_syncs_once(tmp_path, monkeypatch):
    import os

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    rec = CreditRecorder(tmp_path, fsync=False)
    for u in (1, 2, 3):
        rec.add(_rollout_rows(u, T=2, N=3))
        rec.flush(u)
    assert not synced  # nothing flushed to disk yet ...
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"update_00000{u}.parquet" for u in (1, 2, 3)]
    assert len(read_credit(tmp_path)) == 18  # ... but every file is complete (no temporary files left)
    rec.discard_after(2)
    rec.sync()
    assert len(synced) == 2 + 1  # the two files still there, then their directory
    rec.sync()
    assert len(synced) == 3  # nothing new to sync

    rec = CreditRecorder(tmp_path)  # the default flushes each file to disk as it is written
    rec.add(_rollout_rows(4, T=1, N=2))
    rec.flush(4)
    assert len(synced) == 5  # the file and its directory


def test_version_1_files_are_read_with_the_added_columns_nan(tmp_path):
    """A run written before adv_scale / exact_advantage_boot existed still reads, those columns NaN."""
    import pyarrow as pa

    rows = _rollout_rows(3, T=2, N=2)
    v1 = [c for c in COLUMNS if c not in ("adv_scale", "applied_weight", "exact_advantage_boot")]
    table = pa.table(
        {c: np.asarray(rows[c] if np.ndim(rows[c]) else np.full(4, rows[c])) for c in v1},
        metadata={b"rlcredit.credit_schema_version": b"1"},
    )
    (tmp_path / "credit").mkdir()
    pq.write_table(table, tmp_path / "credit" / "update_000003.parquet")
    df = read_credit(tmp_path)
    assert list(df.columns) == COLUMNS and len(df) == 4
    assert df[["adv_scale", "applied_weight", "exact_advantage_boot"]].isna().all().all()
    np.testing.assert_allclose(df["credit"], rows["credit"])


def test_credit_in_return_units_undoes_the_normalization():
    """credit * adv_scale is (A - mean) * ratio where not clipped: recompute it from the raw advantages."""
    from rlcredit.credit.records import credit_in_return_units

    rng = np.random.default_rng(1)
    adv = rng.normal(3.0, 2.0, size=64)
    mu, sd = adv.mean(), adv.std() + 1e-8
    ratio = np.exp(rng.normal(scale=0.1, size=64))
    clipped = rng.random(64) < 0.2
    credit = np.where(clipped, 0.0, (adv - mu) / sd * ratio)
    frame = {"credit": credit, "adv_scale": np.full(64, sd)}
    np.testing.assert_allclose(credit_in_return_units(frame), np.where(clipped, 0.0, (adv - mu) * ratio))
