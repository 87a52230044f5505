"""Pieces shared by the ``rlcredit`` commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rlcredit.config import ConfigError, apply_overrides, parse_value

__all__ = ["UserError", "env_kwargs"]


class UserError(Exception):
    """An error in what the user asked for: reported as one line, exit status 2."""


def env_kwargs(table: str | None, items: Sequence[str]) -> dict[str, Any] | None:
    """``--env-kwargs`` (an inline TOML table) updated by the ``--env-arg KEY=VALUE`` items; None if neither."""
    if table is None and not items:
        return None
    kwargs: Any = {}
    if table is not None:
        kwargs = parse_value(table.strip())
        if not isinstance(kwargs, dict):
            raise ConfigError(
                f"--env-kwargs must be an inline TOML table like '{{time_limit = 50}}'; got {table!r}"
            )
    for item in items:
        if "." in item.partition("=")[0]:
            raise ConfigError(f"--env-arg {item!r}: the key must be a plain keyword argument name")
    return apply_overrides(kwargs, list(items))
