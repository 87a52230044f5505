"""Fixtures for every test folder: writing a tiny experiment spec."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

TINY_SPEC: dict[str, Any] = {
    "name": "tiny",
    "seeds": 2,
    "run_plots": "none",
    "metrics": ["return"],
    "envs": [{"id": "rlcredit/ButtonRoomBridge0-v0"}],
    "planners": {"vi": {"episodes": 1}},
    "eval": {"episodes": 1},
}
"""The smallest experiment: value iteration on ButtonRoomBridge0 for two seeds, one evaluation episode and no
per-run plots."""

SpecWriter = Callable[..., Path]


def tiny_spec(question: str, **fields: Any) -> dict[str, Any]:
    """:data:`TINY_SPEC` with its ``question`` and the given top-level fields (a field given as None is
    dropped, e.g. ``planners=None`` for a spec of trainers only)."""
    spec = {**copy.deepcopy(TINY_SPEC), "question": question, **fields}
    return {key: value for key, value in spec.items() if value is not None}


@pytest.fixture(scope="session")
def write_spec() -> SpecWriter:
    """A function ``write_spec(path, question, **fields) -> path`` that writes :func:`tiny_spec` as TOML."""

    def write(path: Path, question: str, **fields: Any) -> Path:
        path.write_text(tomli_w.dumps(tiny_spec(question, **fields)))
        return path

    return write
