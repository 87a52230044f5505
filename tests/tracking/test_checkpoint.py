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


# ---------------------------------------------------------------------------- the JSON record is checked too


def _rewrite_record(js: Path, edit, *, rehash: bool) -> None:
    """Edit a checkpoint's JSON record; ``rehash`` recomputes ``record_sha256`` as a deliberate edit would."""
    import hashlib

    record = json.loads(js.read_text())
    edit(record)
    if rehash:
        body = {k: v for k, v in record.items() if k != "record_sha256"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
        record["record_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    js.write_text(json.dumps(record))


def test_an_edited_json_record_fails_its_hash(tmp_path: Path) -> None:
    ck = Checkpointer(tmp_path)
    _save_some(ck, range(1, 3))
    _, js = ck.paths(2)
    _rewrite_record(js, lambda r: r["state"].update(global_step=10**12), rehash=False)
    with pytest.raises(CheckpointError) as e:
        ck.latest()
    assert str(e.value) == (
        f"corrupt checkpoint {js}: the JSON record does not match its record_sha256 (edited or damaged)"
    )
    assert ck.latest(skip_corrupt=True).update == 1


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda s: s.update(global_step=-5000),
            "state 'global_step' must be a non-negative integer; got -5000",
        ),
        (
            lambda s: s.update(global_step=1e12),
            "state 'global_step' must be a non-negative integer; got 1000000000000.0",
        ),
        (lambda s: s["policy_spec"].update(network="evil"), "state 'policy_spec.network' must be one of"),
        (
            lambda s: s["policy_spec"].update(hidden=[10**6, 10**6]),
            "state 'policy_spec.hidden' must be a list",
        ),
        (
            lambda s: s["policy_spec"].update(hidden=[60_000, 60_000]),
            "state 'policy_spec' describes a network of about 3.6e+09",
        ),
        (lambda s: s.update(recent_returns=["x"]), "state 'recent_returns' must be a list of numbers"),
        (lambda s: s["policy_spec"].pop("obs_spec"), "state 'policy_spec' has no 'obs_spec'"),
    ],
)
def test_state_is_validated_even_with_a_matching_hash(tmp_path: Path, edit, problem: str) -> None:
    """A hand-made record with a correct hash still cannot ask for a 4 TB network or a negative step."""
    ck = Checkpointer(tmp_path)
    spec = {"obs_spec": {"kind": "discrete", "shape": [], "n": 30, "start": 0}, "num_actions": 4,
            "hidden": [64, 64], "network": "mlp"}  # fmt: skip
    ck.save(1, _tensors(1), {"global_step": 128, "recent_returns": [0.5], "policy_spec": spec})
    assert ck.latest().state["policy_spec"] == spec
    _, js = ck.paths(1)
    _rewrite_record(js, lambda r: edit(r["state"]), rehash=True)
    with pytest.raises(
        CheckpointError, match=f"^corrupt checkpoint {re.escape(str(js))}: {re.escape(problem)}"
    ):
        ck.latest()


@pytest.mark.parametrize(
    ("obs_space", "network", "hidden"),
    [
        ("discrete", "mlp", (64, 64)),
        ("box", "mlp", (32,)),
        ("grid", "cnn", (64, 64)),
        ("discrete", "mlp", ()),
    ],
)
def test_parameter_bound_counts_the_real_network(obs_space: str, network: str, hidden: tuple) -> None:
    """The size check's parameter count equals torch's count of the network the spec builds."""
    import gymnasium as gym

    from rlcredit.tracking.checkpoint import MAX_PARAMETERS, check_policy_spec
    from rlcredit.trainers.networks import ObsSpec, Policy

    space = {
        "discrete": gym.spaces.Discrete(37),
        "box": gym.spaces.Box(0, 1, (2,)),
        "grid": gym.spaces.Box(0, 1, (5, 7, 9)),
    }[obs_space]
    policy = Policy(ObsSpec.from_space(space), 4, hidden=hidden, network=network)
    actor = sum(p.numel() for p in policy.actor.parameters())
    conv = sum(
        p.numel() for m in policy.actor.modules() if isinstance(m, torch.nn.Conv2d) for p in m.parameters()
    )
    check_policy_spec(json.loads(json.dumps(policy.spec())))  # a real spec passes
    # Shrink the bound to the dense part of this exact network: it passes at the count, fails one below.
    dense = actor - conv
    old = ckmod.MAX_PARAMETERS
    try:
        ckmod.MAX_PARAMETERS = dense
        check_policy_spec(policy.spec())
        ckmod.MAX_PARAMETERS = dense - 1
        with pytest.raises(ValueError, match="describes a network of about"):
            check_policy_spec(policy.spec())
    finally:
        ckmod.MAX_PARAMETERS = old
    assert old == MAX_PARAMETERS


def test_identical_saves_are_identical_bytes_across_processes(tmp_path: Path) -> None:
    """safetensors writes its metadata in hash-map order, which differs between processes; ours is sorted."""
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from rlcredit.tracking import Checkpointer\n"
        "Checkpointer(sys.argv[1]).save(3, {'w': torch.arange(6.0), 'n': torch.arange(2)}, {'global_step': 9})\n"
    )
    blobs = set()
    for i in range(6):
        out = tmp_path / f"p{i}"
        subprocess.run([sys.executable, "-c", script, str(out)], check=True)
        blobs.add((out / "ckpt_000003.safetensors").read_bytes())
        blobs.add((out / "ckpt_000003.json").read_bytes())
    assert len(blobs) == 2  # one safetensors file and one JSON record, whatever the process


def test_prune_removes_only_its_own_or_dead_writers_temp_files(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        others = tmp_path / f".ckpt_000009.safetensors.{live.pid}.abc123.tmp"  # another process's save
        stale = tmp_path / f".ckpt_000009.json.{dead.pid}.xyz789.tmp"  # left by a killed process
        mine = tmp_path / f".ckpt_000008.json.{os.getpid()}.qqq111.tmp"
        for p in (others, stale, mine):
            p.write_bytes(b"partial")
        _save_some(Checkpointer(tmp_path), range(1, 3))
        assert others.exists()
        assert not stale.exists() and not mine.exists()
    finally:
        live.kill()
        live.wait()


@pytest.mark.slow
def test_two_identical_trainings_write_identical_checkpoints(tmp_path: Path) -> None:
    """Same seed and config in two processes (different hash seeds): every checkpoint file byte-identical."""
    import os
    import subprocess
    import sys

    script = (
        "import sys, rlcredit\n"
        "rlcredit.train('ppo', env='rlcredit/ButtonRoomBridge0-v0', steps=256, seed=3, out_dir=sys.argv[1],\n"
        "               wandb='disabled', progress=False,\n"
        "               config={'num_envs': 4, 'num_steps': 16, 'num_minibatches': 2, 'checkpoint_every': 2})\n"
    )
    runs = []
    for i, hash_seed in enumerate(("1", "2")):
        out = tmp_path / f"run{i}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "WANDB_MODE": "disabled"}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, timeout=600)
        runs.append({p.name: p.read_bytes() for p in sorted((out / "checkpoints").iterdir())})
    assert sorted(runs[0]) == [
        "ckpt_000002.json",
        "ckpt_000002.safetensors",
        "ckpt_000004.json",
        "ckpt_000004.safetensors",
    ]
    assert runs[0] == runs[1]
