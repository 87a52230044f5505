"""Checkpointer: exact round trips (tensors, RNG streams), damage detection, pruning, interrupted saves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import rlcredit.tracking.checkpoint as ckmod
from rlcredit.tracking import Checkpointer, CheckpointError, rng_from_json, rng_state_to_json


def _tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "policy.weight": torch.randn(4, 3, generator=g),
        "policy.bias": torch.randn(4, generator=g).double(),
        "counts": torch.arange(5, dtype=torch.int64),
        "mask": torch.tensor([True, False]),
    }


def _save_some(ck: Checkpointer, updates: range) -> None:
    for u in updates:
        ck.save(u, _tensors(u), {"global_step": 100 * u})


def test_round_trip_tensors_state_and_rng_streams(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path / "ckpt")
    torch.manual_seed(123)
    torch.rand(3)
    rng = np.random.default_rng(42)
    rng.random(10)
    tensors = {**_tensors(), "rng/torch": torch.get_rng_state()}
    state = {"global_step": 2048, "lr": 2.5e-4, "history": [1, 2.5, "x"], "rng/numpy": rng_state_to_json(rng)}
    json_path = ck.save(12, tensors, state)
    assert json_path.name == "ckpt_000012.json"
    assert (tmp_path / "ckpt" / "ckpt_000012.safetensors").is_file()

    expected_torch = torch.rand(5)  # the streams the run would have produced had it not been killed
    expected_numpy = rng.random(5)
    torch.manual_seed(999)  # a fresh process has some other state

    update, loaded, loaded_state = ck.latest()
    assert update == 12
    assert set(loaded) == set(tensors)
    for k, t in tensors.items():
        assert loaded[k].dtype == t.dtype and torch.equal(loaded[k], t)
    assert loaded["rng/torch"].dtype == torch.uint8
    torch.set_rng_state(loaded["rng/torch"])
    assert torch.equal(torch.rand(5), expected_torch)
    assert np.array_equal(rng_from_json(loaded_state["rng/numpy"]).random(5), expected_numpy)
    assert {k: loaded_state[k] for k in ("global_step", "lr", "history")} == {
        "global_step": 2048,
        "lr": 2.5e-4,
        "history": [1, 2.5, "x"],
    }
    record = json.loads(json_path.read_text())  # plain JSON, no pickle anywhere
    assert record["update"] == 12 and len(record["sha256"]) == 64


@pytest.mark.parametrize("bit_generator", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_every_numpy_bit_generator_survives_json(bit_generator: str) -> None:
    rng = np.random.Generator(getattr(np.random, bit_generator)(7))
    rng.integers(0, 10, size=3)
    data = json.loads(json.dumps(rng_state_to_json(rng)))
    restored = rng_from_json(data)
    assert type(restored.bit_generator).__name__ == bit_generator
    assert np.array_equal(restored.random(8), rng.random(8))


def test_latest_is_none_when_empty_and_keep_prunes(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path, keep=2)
    assert ck.latest() is None
    _save_some(ck, range(1, 6))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt_000004.json",
        "ckpt_000004.safetensors",
        "ckpt_000005.json",
        "ckpt_000005.safetensors",
    ]
    assert ck.updates() == [4, 5]
    assert ck.latest().state == {"global_step": 500}
    assert ck.load(4).update == 4
    with pytest.raises(ValueError, match="keep must be >= 1"):
        Checkpointer(tmp_path, keep=0)


def test_truncated_safetensors(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path, keep=None)
    _save_some(ck, range(1, 4))
    st, _ = ck.paths(3)
    size = st.stat().st_size
    st.write_bytes(st.read_bytes()[:100])
    with pytest.raises(CheckpointError) as e:
        ck.latest()
    assert str(e.value) == f"corrupt checkpoint {st}: file has 100 bytes, expected {size} (truncated?)"
    assert isinstance(e.value, RuntimeError)
    assert ck.latest(skip_corrupt=True).update == 2


def test_wrong_hash(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path)
    _save_some(ck, range(1, 3))
    st, _ = ck.paths(2)
    blob = bytearray(st.read_bytes())
    blob[-1] ^= 0xFF  # same size, one flipped tensor byte
    st.write_bytes(bytes(blob))
    with pytest.raises(
        CheckpointError,
        match=rf"^corrupt checkpoint {re.escape(str(st))}: sha256 [0-9a-f]{{64}} "
        r"does not match recorded [0-9a-f]{64}$",
    ):
        ck.latest()
    assert ck.latest(skip_corrupt=True).update == 1


def test_missing_safetensors_and_unreadable_json(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path)
    _save_some(ck, range(1, 3))
    st, js = ck.paths(2)
    st.unlink()
    with pytest.raises(CheckpointError) as e:
        ck.latest()
    assert str(e.value) == f"corrupt checkpoint {st}: safetensors file is missing"
    _save_some(ck, range(2, 3))
    js.write_text('{"format": "rlcredit-checkpoint", "upd')
    with pytest.raises(
        CheckpointError, match=rf"^corrupt checkpoint {re.escape(str(js))}: unreadable JSON record"
    ):
        ck.latest()
    assert ck.latest(skip_corrupt=True).update == 1
    for u in (1, 2):
        ck.paths(u)[0].write_bytes(b"junk")
    assert ck.latest(skip_corrupt=True) is None


def test_missing_json_is_an_interrupted_save(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path)
    _save_some(ck, range(1, 3))
    st, js = ck.paths(3)
    st.write_bytes(b"safetensors written, then the process was killed before the JSON")
    assert ck.latest().update == 2  # not a checkpoint: the JSON is the commit record
    with pytest.raises(CheckpointError) as e:
        ck.load(3)
    assert str(e.value) == f"corrupt checkpoint {st}: missing JSON record {js.name} (interrupted save?)"
    with pytest.raises(FileNotFoundError, match="no checkpoint for update 7"):
        ck.load(7)


def test_crash_between_the_two_writes_then_resume(tmp_path: Path, monkeypatch) -> None:
    ck = Checkpointer(tmp_path)
    _save_some(ck, range(1, 3))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ckmod, "atomic_write_json", killed)
    with pytest.raises(KeyboardInterrupt):
        ck.save(3, _tensors(3), {"global_step": 300})
    monkeypatch.undo()
    assert ck.paths(3)[0].exists() and not ck.paths(3)[1].exists()
    found = ck.latest()
    assert found.update == 2 and found.state == {"global_step": 200}
    ck.save(3, _tensors(33), {"global_step": 300})  # the resumed run saves update 3 again
    assert torch.equal(ck.latest().tensors["policy.weight"], _tensors(33)["policy.weight"])


def test_save_after_resume_drops_abandoned_newer_checkpoints(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path, keep=None)
    _save_some(ck, range(1, 5))
    ck.paths(4)[0].write_bytes(b"damaged")
    assert ck.latest(skip_corrupt=True).update == 3
    ck.save(2, _tensors(2), {"global_step": 200})  # resumed from an earlier point
    assert ck.updates() == [1, 2]
    assert ck.latest().update == 2


def test_tied_tensors_and_bad_state(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path)
    w = torch.randn(3, 3)
    ck.save(0, {"enc.weight": w, "dec.weight": w, "view": w[0]}, {})
    back = ck.latest().tensors
    assert torch.equal(back["dec.weight"], w) and torch.equal(back["view"], w[0])
    with pytest.raises(TypeError, match=r"^state\['opt'\] has type object, which cannot be stored as JSON$"):
        ck.save(1, {}, {"opt": object()})
    with pytest.raises(ValueError, match="update must be a non-negative int"):
        ck.save(-1, {}, {})
