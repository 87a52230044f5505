"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint for update ``U`` is two files in the checkpoint directory::

    ckpt_00000U.safetensors   the tensors (weights, optimizer moments, torch RNG state as uint8, ...)
    ckpt_00000U.json          {"update": U, "sha256": ..., "size": ..., "state": {...}, "record_sha256": ...}

Both are written atomically, the safetensors file first and the JSON last. The JSON is the commit record:
a checkpoint exists once its JSON exists, and it is valid when the safetensors file is present with the
size and sha256 the JSON records and the JSON itself matches its ``record_sha256`` (the sha256 of the
record's other keys as canonical JSON: sorted keys, no spaces). A safetensors file without a JSON is an
interrupted save, not a checkpoint, and is ignored (and cleaned up by the next save).

The JSON state is also checked for what the trainers store in it (:func:`check_state`): a damaged or
hand-edited ``global_step`` or ``policy_spec`` is an error naming the file, never a 4 TB allocation.
Identical saves give identical bytes: the safetensors header is written with sorted metadata keys.

Typical use::

    ck = Checkpointer(run.checkpoints_dir, keep=3)
    ck.save(update, {**policy.state_dict(), "rng/torch": torch.get_rng_state()},
            {"global_step": step, "rng/numpy": rng_state_to_json(rng)})
    found = ck.latest()
    if found is not None:
        update, tensors, state = found
        torch.set_rng_state(tensors.pop("rng/torch"))
        rng = rng_from_json(state["rng/numpy"])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rlcredit.tracking.io import (
    atomic_write_bytes,
    atomic_write_json,
    leftover_temp_files,
    sync_dirs,
    to_jsonable,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "check_state",
    "rng_from_json",
    "rng_state_to_json",
]

FORMAT = "rlcredit-checkpoint"
FORMAT_VERSION = 2
"""2 adds ``record_sha256``; version-1 records (without it) are still read, their state still checked."""
NETWORKS = ("mlp", "cnn")
"""Network names a ``policy_spec`` may hold (those of :class:`rlcredit.trainers.networks.Policy`)."""
MAX_PARAMETERS = 100_000_000
"""Largest network a ``policy_spec`` may describe (per actor or critic): 400 MB of float32 weights."""
_NAME = re.compile(r"ckpt_(\d+)\.(safetensors|json)")


class CheckpointError(RuntimeError):
    """A checkpoint is damaged: ``"corrupt checkpoint PATH: <why>"``."""


class Checkpoint(NamedTuple):
    """A loaded checkpoint; unpacks as ``update, tensors, state``.

    Attributes
    ----------
    update : int
        The update number it was saved at.
    tensors : dict of str to torch.Tensor
        CPU tensors.
    state : dict
        The JSON state as saved (tuples come back as lists).
    """

    update: int
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


class Checkpointer:
    """Save and find checkpoints in one directory, keeping the newest ``keep``.

    Parameters
    ----------
    directory : path-like
        Created if missing.
    keep : int or None
        How many checkpoints to keep (newest by update); None keeps all.
    """

    def __init__(self, directory: str | os.PathLike[str], *, keep: int | None = 3) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1 or None; got {keep}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def paths(self, update: int) -> tuple[Path, Path]:
        """``(safetensors_path, json_path)`` for ``update``."""
        stem = f"ckpt_{update:06d}"
        return self.directory / f"{stem}.safetensors", self.directory / f"{stem}.json"

    def updates(self) -> list[int]:
        """Update numbers that have a checkpoint record (JSON), ascending; validity is not checked."""
        return sorted(u for u, kinds in self._scan().items() if "json" in kinds)

    def save(self, update: int, tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> Path:
        """Write a checkpoint for ``update`` and prune old ones.

        Checkpoints for updates *after* ``update`` are deleted: after a resume from an earlier checkpoint
        they belong to an abandoned continuation and must not be found by :meth:`latest`.

        Parameters
        ----------
        update : int
            Non-negative update number (the file name and ordering key).
        tensors : mapping of str to torch.Tensor
            Saved as detached contiguous CPU copies.
        state : mapping
            JSON-serializable: str/int/float/bool/None, lists, dicts with string keys, numpy scalars
            (stored as Python numbers) and :func:`rng_state_to_json` output.

        Returns
        -------
        Path
            The JSON file.

        Raises
        ------
        TypeError
            If ``state`` holds something JSON cannot store (the message says where).
        """
        import safetensors.torch  # needs torch: reading a checkpoint's JSON state must not load it

        if isinstance(update, bool) or not isinstance(update, int | np.integer) or update < 0:
            raise ValueError(f"update must be a non-negative int; got {update!r}")
        update = int(update)
        state_json = to_jsonable(dict(state), name="state")
        # Clone so tensors sharing storage (tied weights, views) serialize independently.
        flat = {k: t.detach().to("cpu").contiguous().clone() for k, t in tensors.items()}
        blob = _sorted_header(
            safetensors.torch.save(flat, metadata={"format": FORMAT, "update": str(update)})
        )
        st_path, js_path = self.paths(update)
        atomic_write_bytes(st_path, blob)
        # The JSON commits the checkpoint: everything written before it (the weights, the metrics rows and
        # credit files it counts) must be on disk first, even where directory syncs are batched.
        sync_dirs()
        record: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "update": update,
            "safetensors": st_path.name,
            "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "state": state_json,
        }
        record["record_sha256"] = _record_digest(record)
        atomic_write_json(js_path, record)
        sync_dirs()  # a checkpoint is durable when save returns
        self._prune(update)
        return js_path

    def load(self, update: int) -> Checkpoint:
        """Load and verify the checkpoint for ``update``.

        Raises
        ------
        FileNotFoundError
            If neither file exists.
        CheckpointError
            If the JSON is missing or unreadable, or the safetensors file is missing, truncated, or does
            not match the recorded sha256.
        """
        st_path, js_path = self.paths(update)
        if not js_path.exists():
            if st_path.exists():
                raise CheckpointError(
                    f"corrupt checkpoint {st_path}: missing JSON record {js_path.name} (interrupted save?)"
                )
            raise FileNotFoundError(f"no checkpoint for update {update} in {self.directory}")
        return self._load(update)

    def latest(self, *, skip_corrupt: bool = False) -> Checkpoint | None:
        """Load the newest checkpoint, or None if there is none.

        Parameters
        ----------
        skip_corrupt : bool
            If True, fall back past damaged checkpoints to the newest valid one (None if none is valid).

        Raises
        ------
        CheckpointError
            If the newest checkpoint is damaged and ``skip_corrupt`` is False.
        """
        for update in reversed(self.updates()):
            try:
                return self._load(update)
            except CheckpointError:
                if not skip_corrupt:
                    raise
        return None

    # --------------------------------------------------------------------------------------------- internals

    def _scan(self) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        for p in self.directory.iterdir():
            m = _NAME.fullmatch(p.name)
            if m:
                found.setdefault(int(m[1]), set()).add(m[2])
        return found

    def _load(self, update: int) -> Checkpoint:
        import safetensors.torch  # needs torch: reading a checkpoint's JSON state must not load it

        st_path, js_path = self.paths(update)
        try:
            record = json.loads(js_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"corrupt checkpoint {js_path}: unreadable JSON record ({e})") from e
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise CheckpointError(f"corrupt checkpoint {js_path}: not an {FORMAT} record")
        version = record.get("version")
        if version not in (1, FORMAT_VERSION) or isinstance(version, bool):
            raise CheckpointError(
                f"corrupt checkpoint {js_path}: format version {version!r}; this rlcredit reads 1 and {FORMAT_VERSION}"
            )
        for key in ("update", "size", "sha256", "state", *(("record_sha256",) if version >= 2 else ())):
            if key not in record:
                raise CheckpointError(f"corrupt checkpoint {js_path}: JSON record has no '{key}'")
        if version >= 2:
            recorded = record.pop("record_sha256")
            if _record_digest(record) != recorded:
                raise CheckpointError(
                    f"corrupt checkpoint {js_path}: the JSON record does not match its record_sha256 "
                    "(edited or damaged)"
                )
        if not isinstance(record["size"], int) or not isinstance(record["sha256"], str):
            raise CheckpointError(f"corrupt checkpoint {js_path}: 'size' or 'sha256' has the wrong type")
        if not isinstance(record["state"], dict):
            raise CheckpointError(f"corrupt checkpoint {js_path}: 'state' is not a JSON object")
        try:
            check_state(record["state"])
        except ValueError as e:
            raise CheckpointError(f"corrupt checkpoint {js_path}: {e}") from None
        if record["update"] != update:
            raise CheckpointError(
                f"corrupt checkpoint {js_path}: records update {record['update']}, file name says {update}"
            )
        try:
            blob = st_path.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"corrupt checkpoint {st_path}: safetensors file is missing") from None
        if len(blob) != record["size"]:
            raise CheckpointError(
                f"corrupt checkpoint {st_path}: file has {len(blob)} bytes, "
                f"expected {record['size']} (truncated?)"
            )
        digest = hashlib.sha256(blob).hexdigest()
        if digest != record["sha256"]:
            raise CheckpointError(
                f"corrupt checkpoint {st_path}: sha256 {digest} does not match recorded {record['sha256']}"
            )
        try:
            tensors = safetensors.torch.load(blob)
        except Exception as e:  # safetensors raises its own error types for a malformed header
            raise CheckpointError(f"corrupt checkpoint {st_path}: unreadable safetensors ({e})") from e
        return Checkpoint(update, tensors, record["state"])

    def _prune(self, current: int) -> None:
        found = self._scan()
        doomed = [u for u in found if u > current]
        committed = sorted(u for u, kinds in found.items() if u <= current and "json" in kinds)
        if self.keep is not None:
            doomed += committed[: -self.keep]
        # Interrupted saves older than the one just written.
        doomed += [u for u, kinds in found.items() if u < current and "json" not in kinds]
        for u in set(doomed):
            st_path, js_path = self.paths(u)
            # JSON first: a crash in between leaves an uncommitted safetensors file, which is ignored.
            for p in (js_path, st_path):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        # Temporary files of this process's or dead processes' saves only: another live process may be
        # writing its own (the run-directory lock keeps that from happening in normal use).
        for p in leftover_temp_files(self.directory, "ckpt_*"):
            with contextlib.suppress(OSError):
                p.unlink()


def _record_digest(record: Mapping[str, Any]) -> str:
    """sha256 of a checkpoint record (without ``record_sha256``) as canonical JSON."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sorted_header(blob: bytes) -> bytes:
    """``blob`` (a safetensors file) with its ``__metadata__`` keys sorted, so identical saves give
    identical bytes (safetensors writes metadata in hash-map order, which varies between processes).

    Reordering keys keeps the header's length, so tensor offsets are unchanged.
    """
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header.get("__metadata__")
    if not isinstance(meta, dict):
        return blob
    header["__metadata__"] = dict(sorted(meta.items()))
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if len(text) > n:  # never expected: the same keys and values in another order
        return blob
    return blob[:8] + text + b" " * (n - len(text)) + blob[8 + n :]


# ------------------------------------------------------------------------------------------ state checks


def check_state(state: Mapping[str, Any]) -> None:
    """Check the keys the trainers store in a checkpoint's JSON state, where present.

    ``global_step`` a non-negative int; ``recent_returns`` a list of numbers; ``wandb_id`` a short string
    or null; ``policy_spec`` a network :class:`~rlcredit.trainers.networks.Policy` can build within
    :data:`MAX_PARAMETERS` (known ``network``, positive bounded ``hidden`` widths and ``num_actions``, a
    known ``obs_spec``); ``trainer`` an object.

    Raises
    ------
    ValueError
        Naming the key and the problem.
    """
    if "global_step" in state:
        gs = state["global_step"]
        if not _is_int(gs) or gs < 0:
            raise ValueError(f"state 'global_step' must be a non-negative integer; got {gs!r}")
    if "recent_returns" in state:
        rr = state["recent_returns"]
        if not isinstance(rr, list) or not all(_is_number(x) for x in rr):
            raise ValueError("state 'recent_returns' must be a list of numbers")
    if "wandb_id" in state:
        wid = state["wandb_id"]
        if wid is not None and not (isinstance(wid, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", wid)):
            raise ValueError(f"state 'wandb_id' must be null or a short id; got {wid!r}")
    if "trainer" in state and not isinstance(state["trainer"], dict):
        raise ValueError("state 'trainer' must be a JSON object")
    if "policy_spec" in state:
        check_policy_spec(state["policy_spec"])


def check_policy_spec(spec: Any) -> None:
    """Check a ``policy_spec`` (``Policy.spec()`` output) before anything is allocated from it.

    Raises
    ------
    ValueError
        ``"state 'policy_spec.hidden' ..."`` and the like.
    """
    if not isinstance(spec, dict):
        raise ValueError("state 'policy_spec' must be a JSON object")
    for key in ("obs_spec", "num_actions", "hidden", "network"):
        if key not in spec:
            raise ValueError(f"state 'policy_spec' has no '{key}'")
    network = spec["network"]
    if network not in NETWORKS:
        raise ValueError(f"state 'policy_spec.network' must be one of {', '.join(NETWORKS)}; got {network!r}")
    actions = spec["num_actions"]
    if not _is_int(actions) or not 1 <= actions <= 65_536:
        raise ValueError(f"state 'policy_spec.num_actions' must be an integer in [1, 65536]; got {actions!r}")
    hidden = spec["hidden"]
    if (
        not isinstance(hidden, list)
        or len(hidden) > 16
        or not all(_is_int(h) and 1 <= h <= 65_536 for h in hidden)
    ):
        raise ValueError(
            f"state 'policy_spec.hidden' must be a list of at most 16 integers in [1, 65536]; got {hidden!r}"
        )
    obs = spec["obs_spec"]
    if not isinstance(obs, dict) or obs.get("kind") not in ("discrete", "box"):
        raise ValueError("state 'policy_spec.obs_spec' must be an object with kind 'discrete' or 'box'")
    shape = obs.get("shape", [])
    n = obs.get("n", 0)
    if (
        not isinstance(shape, list)
        or len(shape) > 4
        or not all(_is_int(d) and 1 <= d <= 65_536 for d in shape)
    ):
        raise ValueError(
            f"state 'policy_spec.obs_spec.shape' must be at most 4 positive sizes; got {shape!r}"
        )
    if not _is_int(n) or not 0 <= n <= 2**31 or not _is_int(obs.get("start", 0)):
        raise ValueError("state 'policy_spec.obs_spec' has an invalid 'n' or 'start'")
    if obs["kind"] == "discrete" and n < 1:
        raise ValueError("state 'policy_spec.obs_spec.n' must be >= 1 for discrete observations")
    width = n if obs["kind"] == "discrete" else math.prod(shape)
    if network == "cnn" and len(shape) == 3:
        width = 16 * shape[1] * shape[2]  # two padded 3x3 convolutions with 16 channels keep H x W
    params, prev = 0, width
    for h in [*hidden, actions]:
        params += (prev + 1) * h
        prev = h
    if params > MAX_PARAMETERS:
        raise ValueError(
            f"state 'policy_spec' describes a network of about {params:.3g} parameters "
            f"(more than {MAX_PARAMETERS:.0e}); hidden={hidden!r}"
        )


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# ------------------------------------------------------------------------------------------------- RNG state


def rng_state_to_json(rng: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy Generator as JSON-compatible data; :func:`rng_from_json` restores it exactly.

    Works for every numpy bit generator (PCG64, PCG64DXSM, MT19937, Philox, SFC64): arrays in the
    state are stored as ``{"__ndarray__": [...], "dtype": "uint64"}`` so their dtype survives.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"expected a numpy.random.Generator; got {type(rng).__name__}")
    return _encode(rng.bit_generator.state)


def rng_from_json(data: Mapping[str, Any]) -> np.random.Generator:
    """A new numpy Generator in the state saved by :func:`rng_state_to_json`."""
    state = _decode(data)
    name = state.get("bit_generator") if isinstance(state, dict) else None
    bit_gen_cls = getattr(np.random, name, None) if isinstance(name, str) else None
    if bit_gen_cls is None or not (
        isinstance(bit_gen_cls, type) and issubclass(bit_gen_cls, np.random.BitGenerator)
    ):
        raise ValueError(f"not a saved numpy Generator state (bit_generator={name!r})")
    bit_gen = bit_gen_cls()
    bit_gen.state = state
    return np.random.Generator(bit_gen)


def _encode(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        if "__ndarray__" in obj:
            return np.array(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: _decode(v) for k, v in obj.items()}
    return obj
