"""Config dataclasses from TOML: strict loading, command-line overrides, and help text.

Every config in rlcredit is a dataclass whose fields document themselves::

    @dataclass(frozen=True)
    class PPOConfig:
        lr: float = field(default=2.5e-4, metadata={"doc": "Adam learning rate."})
        anneal_lr: bool = field(default=True, metadata={"doc": "Decay lr linearly to 0 over training."})

    data = apply_overrides(read_toml("runs/wirehead.toml"), ["ppo.lr=3e-4", "anneal_lr=false"])
    cfg = load_dataclass(RunConfig, data, source="runs/wirehead.toml")

Loading is strict: an unknown key, a value of the wrong type or a missing required key raises
:class:`ConfigError` with one line naming the file and the key, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, Union

__all__ = [
    "ConfigError",
    "FieldHelp",
    "apply_overrides",
    "dataclass_help",
    "load_dataclass",
    "parse_value",
    "read_toml",
    "to_dict",
    "type_name",
]

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override is malformed, has an unknown key, or a value of the wrong type."""


# --------------------------------------------------------------------------------------------- reading TOML

_TOML_POS = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", re.DOTALL)
_TOML_END = re.compile(r"^(?P<msg>.*) \(at end of document\)$", re.DOTALL)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ConfigError
        ``"PATH: line L, column C: <message>"`` on a TOML syntax error; ``"PATH: not UTF-8 text ..."``;
        ``"PATH: arrays or tables nested too deeply"``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (invalid byte at offset {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_toml_error_message(str(path), text, e)) from None
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise ConfigError(f"{path}: arrays or tables nested too deeply") from None


def _toml_error_message(source: str, text: str, err: tomllib.TOMLDecodeError) -> str:
    raw = str(err)
    if m := _TOML_POS.match(raw):
        return f"{source}: line {m['line']}, column {m['col']}: {m['msg']}"
    if m := _TOML_END.match(raw):
        lines = text.split("\n")
        return f"{source}: line {len(lines)}, column {len(lines[-1]) + 1}: {m['msg']} (at end of file)"
    return f"{source}: {raw}"


# ------------------------------------------------------------------------------------------------ overrides


def parse_value(text: str) -> Any:
    """Parse an override value as a TOML literal (``3e-4``, ``false``, ``[1, 2]``, ``"x"``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``KEY=VALUE`` overrides applied.

    Parameters
    ----------
    data : mapping
        Nested config data (e.g. from :func:`read_toml`); not modified.
    overrides : sequence of str
        Each ``"a.b.c=VALUE"``: dotted keys address nested tables (created when missing); ``VALUE`` is
        parsed by :func:`parse_value`, so ``lr=3e-4`` is a float, ``anneal_lr=false`` a bool,
        ``env=rlcredit/ButtonRoom-v0`` a string.

    Raises
    ------
    ConfigError
        For an override without ``=``, an empty key segment, or a key path running through a non-table.
    """
    out = copy.deepcopy(dict(data))
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like KEY=VALUE (e.g. ppo.lr=3e-4)")
        parts = key.split(".")
        if any(not p.strip() for p in parts):
            raise ConfigError(f"override {item!r} has an empty key segment")
        parts = [p.strip() for p in parts]
        table = out
        for depth, part in enumerate(parts[:-1]):
            nxt = table.setdefault(part, {})
            if not isinstance(nxt, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigError(f"override {item!r}: '{prefix}' is a {type(nxt).__name__}, not a table")
            table = nxt
        table[parts[-1]] = parse_value(value.strip())
    return out


# -------------------------------------------------------------------------------------- loading dataclasses


def load_dataclass(cls: type[T], data: Mapping[str, Any], *, source: str = "config") -> T:
    """Build dataclass ``cls`` from nested plain data, checking every key and type.

    Supported field types: ``bool``, ``int``, ``float`` (ints are accepted and converted), ``str``,
    ``pathlib.Path`` (from str), nested dataclasses (from tables), ``list[X]``, ``tuple[X, ...]``,
    ``tuple[X, Y]``, ``dict[str, X]``, ``Optional[X]`` / ``X | None``, unions, ``Literal[...]`` and ``Any``.
    ``bool`` is never accepted where a number is expected, nor a number where a bool is.

    Parameters
    ----------
    cls : dataclass type
    data : mapping
        Keys are field names; nested dataclass fields take nested mappings.
    source : str
        Where ``data`` came from (a file name), used in error messages.

    Raises
    ------
    ConfigError
        ``"unknown key 'lr2' in SOURCE (known: a, b)"``,
        ``"SOURCE: key 'ppo.lr' expects float, got str 'abc'"``,
        ``"SOURCE: key 'obs' must be one of 'index', 'grid'; got 'pixels'"``,
        ``"SOURCE: missing required key 'env'"``.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"load_dataclass needs a dataclass type; got {cls!r}")
    return _load(cls, data, source, "")


def _load(cls: type[T], data: Any, source: str, prefix: str) -> T:
    if not isinstance(data, Mapping):
        where = f"key '{prefix[:-1]}'" if prefix else "the top level"
        raise ConfigError(f"{source}: {where} expects a table, got {_describe(data)}")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key '{prefix}{key}' in {source} (known: {known})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints.get(name, Any), source, prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required key '{prefix}{name}'")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        where = f" [{prefix[:-1]}]" if prefix else ""
        raise ConfigError(f"{source}{where}: {e}") from e


class _Mismatch(Exception):
    """Internal: a value does not fit a type (the caller words the message)."""


def _convert(value: Any, tp: Any, source: str, key: str) -> Any:
    try:
        return _coerce(value, tp, source, key)
    except _Mismatch:
        origin = typing.get_origin(tp)
        if origin is Literal:
            choices = ", ".join(repr(c) for c in typing.get_args(tp))
            raise ConfigError(f"{source}: key '{key}' must be one of {choices}; got {value!r}") from None
        raise ConfigError(f"{source}: key '{key}' expects {type_name(tp)}, got {_describe(value)}") from None


def _coerce(value: Any, tp: Any, source: str, key: str) -> Any:
    if tp is Any or tp is object:
        return value
    origin = tp if tp in (list, tuple, dict) else typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        for choice in args:
            if type(value) is type(choice) and value == choice:
                return choice
        raise _Mismatch
    if origin is Union or origin is types.UnionType:
        if value is None:
            if type(None) in args:
                return None
            raise _Mismatch
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, source, key)
            except (_Mismatch, ConfigError):
                continue
        raise _Mismatch
    if origin in (list, Sequence):
        if not isinstance(value, list | tuple):
            raise _Mismatch
        (item_tp,) = args or (Any,)
        return [_convert(v, item_tp, source, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Mismatch
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], source, f"{key}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise _Mismatch
        item_types = args or (Any,) * len(value)
        return tuple(_convert(v, t, source, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, item_types)))
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch
        k_tp, v_tp = args or (Any, Any)
        return {
            _convert(k, k_tp, source, key): _convert(v, v_tp, source, f"{key}.{k}") for k, v in value.items()
        }
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return _load(tp, value, source, key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if isinstance(tp, type) and issubclass(tp, os.PathLike):
        if isinstance(value, str | os.PathLike):
            return tp(value)  # type: ignore[call-arg]  # a concrete path class (Path), not the protocol
        raise _Mismatch
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _Mismatch
    # An annotation this loader does not understand (e.g. a Callable): pass the value through unchecked.
    return value


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def type_name(tp: Any) -> str:
    """A short, readable name for a type annotation (``float``, ``tuple[int, ...]``, ``str | None``)."""
    if tp is type(None) or tp is None:
        return "None"
    if tp is Any:
        return "Any"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        if not args:
            return base
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{base}[{inner}]"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


# ------------------------------------------------------------------------------------------ help and export


class FieldHelp(NamedTuple):
    """One row of :func:`dataclass_help`.

    Attributes
    ----------
    name : str
        Dotted field name (``ppo.lr`` for a field of a nested dataclass).
    type : str
        Readable type (``float``, ``tuple[int, ...]``, ``'index' | 'grid'``).
    default : str
        The default as a TOML literal usable in an override, or ``"(required)"``.
    doc : str
        The field's ``metadata["doc"]`` (empty if none).
    """

    name: str
    type: str
    default: str
    doc: str


def dataclass_help(cls: type) -> list[FieldHelp]:
    """Describe every field of a config dataclass, recursing into nested dataclass fields.

    A field documents itself with ``field(metadata={"doc": "..."})``. A nested dataclass field is expanded
    into its own fields with dotted names (``ppo.lr``) instead of a row of its own.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"dataclass_help needs a dataclass type; got {cls!r}")
    return _help_rows(cls, "")


def _help_rows(cls: type, prefix: str) -> list[FieldHelp]:
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints.get(f.name, Any)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            rows.extend(_help_rows(tp, f"{prefix}{f.name}."))
            continue
        if f.default is not dataclasses.MISSING:
            default = _format_default(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _format_default(f.default_factory())
        else:
            default = "(required)"
        rows.append(FieldHelp(prefix + f.name, type_name(tp), default, str(f.metadata.get("doc", ""))))
    return rows


def _format_default(value: Any) -> str:
    """``value`` as a one-line TOML literal (what an override would take), or its repr if TOML has none."""
    value = to_dict(value)
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_format_default(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{_toml_key(k)} = {_format_default(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return repr(value)


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def to_dict(obj: Any) -> Any:
    """Convert a (nested) config dataclass to plain data: dicts, lists, str/int/float/bool/None.

    Tuples become lists, paths become strings, numpy scalars become Python numbers, so the result can be
    written as TOML or JSON and read back with :func:`load_dataclass`.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    return obj
