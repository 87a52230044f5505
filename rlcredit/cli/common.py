"""Pieces shared by the ``rlcredit`` commands."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlcredit.config import ConfigError, apply_overrides, parse_value

__all__ = ["UserError", "check_spec", "env_kwargs"]


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


def check_spec(spec: str) -> None:
    """Fail early (before anything slow is loaded) when ``spec`` names no spec file and no shipped spec.

    The error names the closest shipped spec as the user would type it (``runs/NAME.toml`` when the shipped
    specs are in ``./runs``, else ``NAME``) and lists the shipped specs.
    """
    from rlcredit.experiments.spec import (  # gymnasium: only commands that name a spec
        find_spec_file,
        specs_dir,
    )

    try:
        find_spec_file(spec)
        return
    except FileNotFoundError:
        pass
    try:
        shipped = specs_dir()
    except FileNotFoundError:
        raise UserError(f"spec file not found: {spec}") from None
    names = sorted(p.stem for p in shipped.glob("*.toml"))
    here = Path("runs").resolve() == shipped.resolve()
    close = difflib.get_close_matches(Path(spec).stem, names, n=1, cutoff=0.6)
    hint = f" (did you mean {f'runs/{close[0]}.toml' if here else close[0]}?)" if close else ""
    raise UserError(f"spec file not found: {spec}{hint}; shipped specs: {', '.join(names)}")
