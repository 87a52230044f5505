"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint for update ``U`` is two files in the checkpoint directory::

    ckpt_00000U.safetensors   the tensors (weights, optimizer moments, torch RNG state as uint8, ...)
    ckpt_00000U.json          {"update": U, "sha256": ..., "size": ..., "state": {...}}

Both are written atomically, the safetensors file first and the JSON last. The JSON is the commit record:
a checkpoint exists once its JSON exists, and it is valid when the safetensors file is present with the
size and sha256 the JSON records. A safetensors file without a JSON is an interrupted save, not a
checkpoint, and is ignored (and cleaned up by the next save).

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
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from rlcredit.tracking.io import atomic_write_bytes, atomic_write_json, to_jsonable

if TYPE_CHECKING:
    import torch

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "rng_from_json",
    "rng_state_to_json",
]

FORMAT = "rlcredit-checkpoint"
FORMAT_VERSION = 1
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
        import safetensors.torch

        if isinstance(update, bool) or not isinstance(update, int | np.integer) or update < 0:
            raise ValueError(f"update must be a non-negative int; got {update!r}")
        update = int(update)
        state_json = to_jsonable(dict(state), name="state")
        # Clone so tensors sharing storage (tied weights, views) serialize independently.
        flat = {k: t.detach().to("cpu").contiguous().clone() for k, t in tensors.items()}
        blob = safetensors.torch.save(flat, metadata={"format": FORMAT, "update": str(update)})
        st_path, js_path = self.paths(update)
        atomic_write_bytes(st_path, blob)
        record = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "update": update,
            "safetensors": st_path.name,
            "size": len(blob),
            "sha256": hashlib.sha256(blob).hexdigest(),
            "state": state_json,
        }
        atomic_write_json(js_path, record)
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
        import safetensors.torch

        st_path, js_path = self.paths(update)
        try:
            record = json.loads(js_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"corrupt checkpoint {js_path}: unreadable JSON record ({e})") from e
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise CheckpointError(f"corrupt checkpoint {js_path}: not an {FORMAT} record")
        for key in ("update", "size", "sha256", "state"):
            if key not in record:
                raise CheckpointError(f"corrupt checkpoint {js_path}: JSON record has no '{key}'")
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
        for p in self.directory.glob(".ckpt_*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()


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
