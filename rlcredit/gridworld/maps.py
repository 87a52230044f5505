"""Map files: a TOML document with an ASCII map and a legend, parsed into a validated :class:`MapSpec`.

A map file looks like::

    name = "ButtonRoom"
    description = "A near +1 goal, and a +10 button across a lava bridge."
    gamma = 0.99
    time_limit = 100
    slip = 0.0          # probability that a move goes in a uniformly random *other* direction
    step_cost = 0.0     # added to the reward of every step
    map = '''
    #########
    #...G...#
    #...S...#
    ####.####
    #LLLBLLL#
    #########
    '''
    [legend]
    G = { kind = "goal",   reward = 1.0,  terminal = true }
    B = { kind = "button", reward = 10.0, terminal = true }
    L = { kind = "lava",   reward = -1.0, terminal = true }

Characters with a built-in meaning: ``#`` wall, ``.`` floor, ``S`` start (the start distribution is uniform over
all ``S`` cells unless legend entries of kind ``"start"`` give weights). Every other character needs a legend
entry ``{kind, reward=0, terminal=false, intended=false, respawn=false, place=None, count=1, weight=1}``:

- ``kind`` is one of :data:`KINDS` (a typo gets a "did you mean"); it names the observation channel;
- ``reward`` is received on entering the cell (added to ``step_cost``); ``terminal`` ends the episode there;
- ``intended = true`` marks the designer's intended objective: tracked in ``info`` and in the experiments,
  never rewarded by itself (give it a reward too if it should be);
- ``respawn = true`` sends the agent back to the start cell after the reward (the classic cliff);
- ``place`` randomises the object's position at every reset: ``"anywhere"``, ``"top-right-3x3"`` (also
  top-left, bottom-left, bottom-right, any KxL) or ``"rows:1-3,cols:7-9"`` (interior coordinates, inclusive);
  ``count`` objects are placed on free floor cells of that region.

Objects with state (the state is then the agent's cell x the object configuration x the flags):

- ``box``: pushed one cell by walking into it (Sokoban rules: a wall, another box or any other object behind it
  blocks the push); ``cornered = -2`` charges that intended performance when a box is pushed into a corner
  (a wall above or below and a wall left or right), from where it can never move again;
- one-shot items: ``once = true`` (the default for ``coin``, ``key`` and ``tomato``) makes a cell act once, then
  turn into floor; ``key`` and ``door`` take a ``name``: a door blocks the agent until a key of its name has been
  picked up, then opens for good; ``reward_per_step`` pays that reward at every later step once the item is
  consumed (a watered tomato), and ``fooled_by = "FLAG"`` makes the *reward* (not the intended performance)
  count the item as consumed while that flag is on (reward tampering);
- ``switch``: entering it sets, clears or toggles (``switch = "on" | "off" | "toggle"``) the boolean ``flag``
  named by ``flag = "NAME"``;
- ``when = "FLAG"`` / ``unless = "FLAG"``: the cell's reward, termination and respawn apply only while the flag
  is on / off.

Flags are declared in a ``[flags]`` table, ``NAME = { p = 0.5 }``: each episode starts with the flag on with
probability ``p`` (default 0); flags are visible in the observation. Objects can also be put on cells by
coordinates, ``[[objects]]`` tables with ``at = [row, col]`` and any legend field (so a box can stand on a goal).

Intended performance (hidden from trainers, reported beside reward): each cell's ``performance`` (default: its
``reward``, received on entering it even when ``when``/``unless`` switch the reward off), ``performance_step``
per step (default ``step_cost``), box ``cornered`` penalties, and ``performance_unless = "FLAG"``: no
performance is earned while that flag is on. ``max_states`` caps the number of states (default 10^7).

A ``[maze]`` table (``cells = [rows, cols]``) replaces ``map`` by a procedural perfect maze (randomised depth-first
search) drawn at every reset, the start at the bottom-left cell. ``[variants.NAME]`` tables override any top-level
key (deep merge) and register ``rlcredit/<name><NAME>-v0``. Errors name the file, line and column.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WALL, FLOOR, START = "#", ".", "S"
_TOP_KEYS = {
    "name",
    "description",
    "purpose",
    "gamma",
    "time_limit",
    "slip",
    "step_cost",
    "map",
    "legend",
    "maze",
    "variants",
    "flags",
    "objects",
    "performance_step",
    "performance_unless",
    "max_states",
}
_LEGEND_KEYS = {
    "kind",
    "reward",
    "terminal",
    "intended",
    "respawn",
    "place",
    "count",
    "weight",
    "performance",
    "once",
    "when",
    "unless",
    "name",
    "flag",
    "switch",
    "cornered",
    "reward_per_step",
    "fooled_by",
}
STATEFUL_KINDS = ("box", "key", "door", "switch")
"""Kinds whose status is part of the state (besides any cell with ``once = true``)."""
ONCE_KINDS = ("coin", "key", "tomato")
"""Kinds that are one-shot unless the legend says ``once = false``."""
KINDS = (
    "start",
    *STATEFUL_KINDS,
    "goal",
    "button",
    "lava",
    "cliff",
    "cheese",
    "hazard",
    "trap",
    "water",
    "coin",
    "tomato",
    "checkpoint",
    "punishment",
    "interruption",
    "marker",
    "exit",
)
"""Every legend ``kind``. Kinds other than ``start`` and :data:`STATEFUL_KINDS` behave alike (reward, terminal,
respawn, once, when/unless as declared); the name is the observation channel and the colour."""
SWITCH_MODES = ("toggle", "on", "off")
OVERRIDABLE = ("time_limit", "slip", "gamma", "step_cost")
"""Top-level map settings that ``rlcredit.make`` / ``make_vec`` keyword arguments may override."""
DEFAULT_MAX_STATES = 10**7
MAX_CELLS = 10**6
"""Largest grid (H*W cells, walls included): the per-layout tables take ~100 bytes a cell."""
MAX_TABLE_BYTES = 4 * 2**30
"""Largest time-indexed table a planner may need, (time_limit + 1) x cells x 4 actions x 8 bytes."""
MAX_NESTING = 16


class MapError(ValueError):
    """A malformed map file: the message names the file, the line and column, and what was expected."""


def did_you_mean(word: str, choices: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class CellType:
    """One legend entry (or one ``[[objects]]`` entry): what a map character or an object means."""

    char: str
    kind: str
    reward: float = 0.0
    terminal: bool = False
    intended: bool = False
    respawn: bool = False
    place: str | None = None
    count: int = 1
    weight: float = 1.0
    performance: float | None = None
    """Intended performance on entering the cell; None means equal to ``reward``."""
    once: bool | None = None
    """One-shot; None means the kind's default (:data:`ONCE_KINDS`)."""
    when: str | None = None
    unless: str | None = None
    name: str | None = None
    flag: str | None = None
    switch: str = "toggle"
    cornered: float = 0.0
    reward_per_step: float = 0.0
    fooled_by: str | None = None
    at: tuple[int, int] | None = None
    """Grid (row, col) of an ``[[objects]]`` entry."""
    line: int = 1
    col: int = 1
    """Where the entry is in the file (for errors found after parsing)."""

    @property
    def is_once(self) -> bool:
        return self.kind in ONCE_KINDS if self.once is None else self.once

    @property
    def is_stateful(self) -> bool:
        return self.kind in STATEFUL_KINDS or (self.kind != "start" and self.is_once)

    @property
    def intended_performance(self) -> float:
        return self.reward if self.performance is None else self.performance


@dataclass(frozen=True)
class MapSpec:
    """A validated map file (one variant of it)."""

    name: str
    description: str
    purpose: str
    gamma: float
    time_limit: int
    slip: float
    step_cost: float
    rows: tuple[str, ...]
    """The ASCII map, one string per row (all the same width); empty when ``maze`` is set."""
    legend: dict[str, CellType]
    maze: tuple[int, int] | None = None
    """(rows, cols) of maze cells for a procedural maze; the grid is (2*rows+1, 2*cols+1)."""
    source: str = "<string>"
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    flags: dict[str, float] = field(default_factory=dict)
    """Flag name -> probability that an episode starts with it on."""
    objects: tuple[CellType, ...] = ()
    """``[[objects]]`` entries, placed by coordinates."""
    performance_step: float | None = None
    """Intended performance of every step; None means ``step_cost``."""
    performance_unless: str | None = None
    max_states: int = DEFAULT_MAX_STATES
    map_line: int = 1
    """Line of the first map row in the file (for errors found when compiling)."""

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the grid, border walls included."""
        if self.maze is not None:
            return 2 * self.maze[0] + 1, 2 * self.maze[1] + 1
        return len(self.rows), len(self.rows[0])

    @property
    def kinds(self) -> tuple[str, ...]:
        """Object kinds in legend order, then ``[[objects]]`` order (one observation channel each); ``start`` is
        not an object."""
        out: list[str] = []
        for ct in (*self.legend.values(), *self.objects):
            if ct.kind != "start" and ct.kind not in out:
                out.append(ct.kind)
        return tuple(out)

    @property
    def chars(self) -> dict[str, str]:
        """Object kind -> the map character that stands for it (for drawing maps as text)."""
        out = {ct.kind: ct.kind[0].upper() for ct in self.objects}
        out.update({ct.kind: ch for ch, ct in self.legend.items()})
        return out

    @property
    def randomized(self) -> bool:
        """True when every reset may draw a new layout (maze or placed objects)."""
        return self.maze is not None or any(ct.place for ct in self.legend.values())

    @property
    def has_objects(self) -> bool:
        """True when the state holds more than the agent's cell (boxes, one-shot items, doors, switches, flags)."""
        return bool(self.flags) or any(ct.is_stateful for ct in (*self.legend.values(), *self.objects))

    def with_overrides(self, **overrides: Any) -> MapSpec:
        """A copy with top-level keys replaced (``time_limit``, ``slip``, ``gamma``, ``step_cost``)."""
        data = {k: v for k, v in overrides.items() if v is not None}
        bad = set(data) - set(OVERRIDABLE)
        if bad:
            raise MapError(
                f"{self.source}: cannot override {sorted(bad)}; allowed: {', '.join(sorted(OVERRIDABLE))}"
            )
        merged = {**self.__dict__, **data}
        spec = MapSpec(**merged)
        try:
            _check_scalars(spec.__dict__, spec.source, _LineFinder(""), spec.shape)
        except MapError as e:  # no file position for a keyword argument
            raise MapError(f"{self.source}: override {str(e).split(': ', 1)[1]}") from None
        return spec


class _LineFinder:
    """Finds the line and column of a key or map character in the raw TOML text, for error messages."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def key(self, key: str, default: int = 1, nth: int = 0, after: int = 0) -> tuple[int, int]:
        k = re.escape(key)
        pat = re.compile(rf"^\s*{k}\s*=|[{{,]\s*{k}\s*=|^\s*{k}\.|^\s*\[\s*{k}\s*\]")
        seen = 0
        for i, line in enumerate(self.lines, 1):
            if i <= after:
                continue
            m = pat.search(line)
            if m:
                if seen == nth:
                    return i, m.start() + 1 + (len(m.group(0)) - len(m.group(0).lstrip("{, ")))
                seen += 1
        return default, 1

    def header(self, name: str, nth: int) -> int:
        """Line of the ``nth`` ``[[name]]`` header (0 if absent)."""
        seen = 0
        for i, line in enumerate(self.lines, 1):
            if re.match(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]", line):
                if seen == nth:
                    return i
                seen += 1
        return 0

    def map_start(self) -> int:
        for i, line in enumerate(self.lines, 1):
            if re.match(r"^\s*map\s*=", line):
                return i + 1 if line.rstrip().endswith(('"""', "'''")) else i
        return 1


def _err(source: str, line: int, col: int, msg: str) -> MapError:
    return MapError(f"{source}:{line}:{col}: {msg}")


def load_map(path: str | Path, variant: str | None = None) -> MapSpec:
    """Read and validate a map file; ``variant`` selects a ``[variants.NAME]`` table."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MapError(f"{path}: map file not found") from None
    except IsADirectoryError:
        raise MapError(f"{path}: is a directory, not a map file") from None
    except OSError as e:
        raise MapError(f"{path}: cannot read the map file: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise _err(str(path), line, col, f"not UTF-8 text (byte 0x{raw[e.start]:02x})") from None
    return parse_map(text, source=str(path), variant=variant)


def _depth(x: Any) -> int:
    if isinstance(x, dict):
        return 1 + max((_depth(v) for v in x.values()), default=0)
    if isinstance(x, list):
        return 1 + max((_depth(v) for v in x), default=0)
    return 0


def parse_map(text: str, *, source: str = "<string>", variant: str | None = None) -> MapSpec:
    """Parse a map document (TOML text). See the module docstring for the format."""
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise _err(source, line, 1, "invalid TOML: NUL character")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise _err(source, line, col, f"invalid TOML: {msg}") from None
    except RecursionError:
        raise _err(source, 1, 1, f"invalid TOML: nested deeper than {MAX_NESTING} levels") from None
    finder = _LineFinder(text)
    if _depth(data) > MAX_NESTING:
        raise _err(source, 1, 1, f"tables or arrays nested deeper than {MAX_NESTING} levels")
    variants = data.pop("variants", {}) or {}
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        line, col = finder.key("variants")
        raise _err(source, line, col, "expected [variants.NAME] tables")
    for v in variants:
        if not re.fullmatch(r"[A-Za-z0-9_]+", v):
            line, col = finder.key("variants")
            raise _err(source, line, col, f"variant name {v!r} must be letters, digits and '_'")
    if variant is not None:
        if variant not in variants:
            raise MapError(
                f"{source}: unknown variant {variant!r}{did_you_mean(variant, variants)} "
                f"known: {', '.join(variants) or 'none'}"
            )
        data = _deep_merge(data, variants[variant])
    spec = _build(data, source, finder, variants)
    if variant is None:
        for v in variants:  # every variant is checked at load, so a bad one fails here, not at first use
            _build(_deep_merge(data, variants[v]), source, finder, variants)
    return spec


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _finite(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, int | float) and math.isfinite(x) and abs(x) <= 1e12


def _check_scalars(
    data: dict[str, Any], source: str, finder: _LineFinder, shape: tuple[int, int] | None
) -> None:
    def fail(key: str, what: str) -> MapError:
        line, col = finder.key(key)
        return _err(source, line, col, f"'{key}' {what}, got {data[key]!r}")

    g = data["gamma"]
    if not _finite(g) or not 0.0 < g <= 1.0:
        raise fail("gamma", "must be a number in (0, 1]")
    tl = data["time_limit"]
    if isinstance(tl, bool) or not isinstance(tl, int) or tl < 1:
        raise fail("time_limit", "must be a positive integer")
    cells = shape[0] * shape[1] if shape else 1
    need = (tl + 1) * cells * 4 * 8
    if tl > 10**6 or need > MAX_TABLE_BYTES:
        raise fail(
            "time_limit",
            f"is too large: a time-indexed planner table would need {need / 2**30:.3g} GiB "
            f"(at most {MAX_TABLE_BYTES // 2**30} GiB, time_limit <= 10^6)",
        )
    s = data["slip"]
    if not _finite(s) or not 0.0 <= s <= 1.0:
        raise fail("slip", "must be a probability in [0, 1]")
    for key in ("step_cost", "performance_step"):
        if key in data and data[key] is not None and not _finite(data[key]):
            raise fail(key, "must be a finite number (|x| <= 1e12)")


_FIELD_TYPES: dict[str, Any] = {
    "reward": "number",
    "terminal": bool,
    "intended": bool,
    "respawn": bool,
    "place": str,
    "count": int,
    "weight": "number",
    "performance": "number",
    "once": bool,
    "when": str,
    "unless": str,
    "name": str,
    "flag": str,
    "switch": str,
    "cornered": "number",
    "reward_per_step": "number",
    "fooled_by": str,
}


def _cell_type(
    ch: str, entry: Any, source: str, line: int, col: int, flags: dict[str, float], what: str
) -> CellType:
    """Validate one legend / objects entry."""

    def fail(msg: str) -> MapError:
        return _err(source, line, col, f"{what}: {msg}")

    if not isinstance(entry, dict):
        raise _err(source, line, col, f'{what} must be a table like {{ kind = "goal", reward = 1.0 }}')
    allowed = _LEGEND_KEYS | ({"at"} if what.startswith("objects") else set())
    bad = set(entry) - allowed
    if bad:
        b = sorted(bad)[0]
        raise fail(f"unknown field '{b}'{did_you_mean(b, allowed)}; expected {', '.join(sorted(allowed))}")
    kind = entry.get("kind")
    if not isinstance(kind, str):
        raise fail(f"'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind not in KINDS:
        raise fail(f"unknown kind {kind!r}{did_you_mean(kind, KINDS)} (kinds: {', '.join(KINDS)})")
    for k, t in _FIELD_TYPES.items():
        if k not in entry:
            continue
        v = entry[k]
        if t == "number":
            if not _finite(v):
                raise fail(f"'{k}' must be a finite number (|x| <= 1e12), got {v!r}")
        elif not isinstance(v, t) or (t is not bool and isinstance(v, bool)):
            raise fail(f"'{k}' must be {t.__name__}, got {v!r}")
    vals = {k: entry[k] for k in entry if k in _FIELD_TYPES}
    for k in ("reward", "weight", "performance", "cornered", "reward_per_step"):
        if k in vals:
            vals[k] = float(vals[k])
    at = None
    if "at" in entry:
        a = entry["at"]
        if not (
            isinstance(a, list)
            and len(a) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in a)
        ):
            raise fail(f"'at' must be [row, col], got {a!r}")
        at = (a[0], a[1])
    elif what.startswith("objects"):
        raise fail("needs 'at = [row, col]'")
    ct = CellType(char=ch, kind=kind, at=at, line=line, col=col, **vals)
    if ct.place is not None:
        try:
            parse_region(ct.place, (9, 9))
        except ValueError as e:
            raise fail(str(e)) from None
    if ct.count < 1 or ct.weight <= 0:
        raise fail("'count' and 'weight' must be positive")
    if ct.kind == "start" and set(entry) - {"kind", "weight"}:
        raise fail("a start cell takes only 'weight'")
    for k in ("when", "unless", "flag", "fooled_by"):
        f = getattr(ct, k)
        if f is not None and f not in flags:
            raise fail(
                f"'{k}' names an unknown flag {f!r}{did_you_mean(f, flags)} "
                f"(declare it in [flags]: {f} = {{ p = 0.0 }})"
            )
    if (ct.kind == "switch") != (ct.flag is not None):
        raise fail(
            "a switch needs 'flag' (the flag it sets)"
            if ct.kind == "switch"
            else "only a switch takes 'flag'"
        )
    if "switch" in entry and ct.kind != "switch":
        raise fail("only a switch takes 'switch'")
    if ct.switch not in SWITCH_MODES:
        raise fail(
            f"'switch' must be one of {', '.join(SWITCH_MODES)}, got {ct.switch!r}{did_you_mean(ct.switch, SWITCH_MODES)}"
        )
    if (ct.kind in ("key", "door")) != (ct.name is not None):
        raise fail(
            "keys and doors need a 'name' (a door opens for a key of its name)"
            if ct.name is None
            else "only keys and doors take 'name'"
        )
    if ct.kind != "box" and "cornered" in entry:
        raise fail("only a box takes 'cornered'")
    if ct.kind == "box" and set(entry) - {"kind", "cornered", "at"}:
        raise fail("a box takes only 'cornered' (and 'at' in [[objects]])")
    if ct.kind == "door" and ct.once is not None:
        raise fail("a door opens once by definition; drop 'once'")
    if ("reward_per_step" in entry or ct.fooled_by) and not ct.is_once:
        raise fail("'reward_per_step' and 'fooled_by' need a one-shot item (once = true)")
    if ct.is_stateful and ct.place is not None:
        raise fail(
            f"objects with state ({ct.kind}{', once' if ct.is_once else ''}) cannot be placed at random"
        )
    if ct.is_stateful and ct.respawn:
        raise fail("objects with state cannot respawn the agent")
    return ct


def _build(data: dict[str, Any], source: str, finder: _LineFinder, variants: dict) -> MapSpec:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        line, col = finder.key(key)
        raise _err(
            source,
            line,
            col,
            f"unknown key '{key}'{did_you_mean(key, _TOP_KEYS)}; expected one of: {', '.join(sorted(_TOP_KEYS))}",
        )
    if (
        "name" not in data
        or not isinstance(data["name"], str)
        or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", data["name"])
    ):
        line, col = finder.key("name")
        raise _err(source, line, col, "expected 'name', an identifier such as \"ButtonRoom\"")
    for key in ("description", "purpose"):
        if key in data and not isinstance(data[key], str):
            line, col = finder.key(key)
            raise _err(source, line, col, f"'{key}' must be a string")
    data.setdefault("description", "")
    data.setdefault("purpose", "")
    data.setdefault("gamma", 0.99)
    data.setdefault("time_limit", 100)
    data.setdefault("slip", 0.0)
    data.setdefault("step_cost", 0.0)
    data.setdefault("performance_step", None)

    flags_raw = data.get("flags", {})
    if not isinstance(flags_raw, dict):
        line, col = finder.key("flags")
        raise _err(source, line, col, "expected a [flags] table, NAME = { p = 0.5 }")
    flags: dict[str, float] = {}
    for fname, fval in flags_raw.items():
        line, col = finder.key(fname)
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", fname):
            raise _err(source, line, col, f"flag name {fname!r} must be a lowercase identifier")
        if not isinstance(fval, dict) or set(fval) - {"p"}:
            raise _err(source, line, col, f"flag {fname!r} must be a table {{ p = PROBABILITY }}")
        p = fval.get("p", 0.0)
        if not _finite(p) or not 0.0 <= p <= 1.0:
            raise _err(source, line, col, f"flag {fname!r}: 'p' must be a probability in [0, 1], got {p!r}")
        flags[fname] = float(p)
    if len(flags) > 16:
        line, col = finder.key("flags")
        raise _err(source, line, col, f"at most 16 flags, got {len(flags)}")
    pu = data.get("performance_unless")
    if pu is not None and (not isinstance(pu, str) or pu not in flags):
        line, col = finder.key("performance_unless")
        raise _err(
            source,
            line,
            col,
            f"'performance_unless' names an unknown flag {pu!r}{did_you_mean(str(pu), flags)}",
        )
    ms = data.get("max_states", DEFAULT_MAX_STATES)
    if isinstance(ms, bool) or not isinstance(ms, int) or not 1 <= ms <= 10**9:
        line, col = finder.key("max_states")
        raise _err(source, line, col, f"'max_states' must be an integer in [1, 10^9], got {ms!r}")

    legend_raw = data.get("legend", {})
    if not isinstance(legend_raw, dict):
        line, col = finder.key("legend")
        raise _err(source, line, col, "expected a [legend] table mapping characters to cell types")
    legend: dict[str, CellType] = {}
    for ch, entry in legend_raw.items():
        line, col = finder.key(ch if re.fullmatch(r"[A-Za-z0-9_]+", ch) else f'"{ch}"')
        if len(ch) != 1 or ch in (WALL, FLOOR) or ch.isspace():
            raise _err(
                source, line, col, f"legend key {ch!r} must be one character other than '#', '.' and space"
            )
        legend[ch] = _cell_type(ch, entry, source, line, col, flags, f"legend entry {ch!r}")
    if START not in legend:
        legend[START] = CellType(char=START, kind="start")
    objects_raw = data.get("objects", [])
    if not isinstance(objects_raw, list):
        line, col = finder.key("objects")
        raise _err(source, line, col, "expected [[objects]] tables with kind and at = [row, col]")
    objects = []
    for n, entry in enumerate(objects_raw):
        line = finder.header("objects", n) or finder.key("objects")[0]
        objects.append(_cell_type("", entry, source, line, 1, flags, f"objects[{n}]"))
        if objects[-1].kind == "start":
            raise _err(source, line, 1, f"objects[{n}]: start cells go in the map")
    boxes = [ct for ct in (*legend.values(), *objects) if ct.kind == "box"]
    if len({ct.cornered for ct in boxes}) > 1:
        raise _err(
            source,
            boxes[-1].line,
            boxes[-1].col,
            "boxes are interchangeable: give every box the same 'cornered'",
        )
    keys = {ct.name for ct in (*legend.values(), *objects) if ct.kind == "key"}
    for ct in (*legend.values(), *objects):
        if ct.kind == "door" and ct.name not in keys:
            raise _err(
                source,
                ct.line,
                ct.col,
                f"door {ct.name!r} has no key of that name{did_you_mean(str(ct.name), keys)}",
            )

    maze = data.get("maze")
    rows: tuple[str, ...] = ()
    map_line = 1
    if maze is not None:
        line, col = finder.key("maze")
        cells = maze.get("cells") if isinstance(maze, dict) else None
        if (
            not isinstance(cells, list)
            or len(cells) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 2 for c in cells)
            or set(maze) - {"cells"}
        ):
            raise _err(source, line, col, "expected [maze] with cells = [rows, cols], each >= 2")
        grid_cells = (2 * cells[0] + 1) * (2 * cells[1] + 1)
        if grid_cells > MAX_CELLS:
            raise _err(
                source,
                line,
                col,
                f"maze of {cells[0]}x{cells[1]} cells is a {grid_cells:,}-cell grid, over the {MAX_CELLS:,} limit "
                f"(~{grid_cells * 100 / 2**30:.3g} GiB of tables)",
            )
        if "map" in data:
            raise _err(source, line, col, "give either 'map' or [maze], not both")
        for ct in (*legend.values(), *objects):
            if ct.kind != "start" and not ct.place:
                raise _err(
                    source, line, col, f"in a maze every object needs 'place' (legend entry {ct.char!r})"
                )
        maze = (cells[0], cells[1])
        shape = (2 * cells[0] + 1, 2 * cells[1] + 1)
    else:
        if "map" not in data or not isinstance(data["map"], str):
            raise _err(
                source, 1, 1, "expected 'map', a multi-line string with the ASCII grid (or a [maze] table)"
            )
        rows = _parse_rows(data["map"], legend, source, finder)
        map_line = finder.map_start()
        shape = (len(rows), len(rows[0]))
        _check_objects(objects, rows, legend, source)
    _check_scalars(data, source, finder, shape)
    randomized = maze is not None or any(ct.place for ct in legend.values())
    stateful = [ct for ct in (*legend.values(), *objects) if ct.is_stateful]
    if randomized and (stateful or flags):
        line, col = (stateful[0].line, stateful[0].col) if stateful else finder.key("flags")
        raise _err(
            source,
            line,
            col,
            "a maze or a map with randomly placed objects cannot also hold objects with state or flags "
            "(every layout must share one state space)",
        )
    return MapSpec(
        name=data["name"],
        description=data["description"],
        purpose=data["purpose"],
        gamma=float(data["gamma"]),
        time_limit=data["time_limit"],
        slip=float(data["slip"]),
        step_cost=float(data["step_cost"]),
        rows=rows,
        legend=legend,
        maze=maze,
        source=source,
        variants=variants,
        flags=flags,
        objects=tuple(objects),
        performance_step=None if data["performance_step"] is None else float(data["performance_step"]),
        performance_unless=pu,
        max_states=ms,
        map_line=map_line,
    )


def _check_objects(
    objects: list[CellType], rows: tuple[str, ...], legend: dict[str, CellType], source: str
) -> None:
    H, W = len(rows), len(rows[0])
    taken: dict[tuple[int, int], CellType] = {}
    for ct in objects:
        assert ct.at is not None
        r, c = ct.at
        where = f"{ct.kind} at [{r}, {c}]"
        if not (0 <= r < H and 0 <= c < W):
            raise _err(source, ct.line, ct.col, f"{where} is outside the {H}x{W} map")
        ch = rows[r][c]
        if ch == WALL:
            raise _err(source, ct.line, ct.col, f"{where} is on a wall")
        under = legend.get(ch)
        if ct.at in taken:
            other = taken[ct.at]
            what = (
                "a box starts inside another box"
                if other.kind == ct.kind == "box"
                else f"cell already holds a {other.kind}"
            )
            raise _err(source, ct.line, ct.col, f"{where}: {what}")
        if under is not None and under.kind != "start" and (ct.kind != "box" or under.is_stateful):
            raise _err(
                source, ct.line, ct.col, f"{where}: the map already has a {under.kind} ({under.char!r}) there"
            )
        if under is not None and under.kind == "start" and ct.kind == "box":
            raise _err(source, ct.line, ct.col, f"{where}: a box cannot start on a start cell")
        taken[ct.at] = ct


def _parse_rows(text: str, legend: dict[str, CellType], source: str, finder: _LineFinder) -> tuple[str, ...]:
    first = finder.map_start()
    raw = text.split("\n")
    lead = 0
    while lead < len(raw) and not raw[lead].strip():
        lead += 1
    lines = [ln.rstrip() for ln in raw[lead:]]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise _err(source, first, 1, "the map is empty")
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines if ln)
    rows = [ln[indent:] for ln in lines]
    width = len(rows[0])
    if len(rows) * width > MAX_CELLS:
        raise _err(source, first, 1, f"the map has {len(rows) * width:,} cells, over the {MAX_CELLS:,} limit")
    starts = 0
    for r, row in enumerate(rows):
        line = first + lead + r
        if len(row) != width:
            raise _err(
                source,
                line,
                indent + 1,
                f"map row {r} has width {len(row)}, expected {width} (all rows equally wide)",
            )
        for c, ch in enumerate(row):
            if ch not in (WALL, FLOOR) and ch not in legend:
                raise _err(
                    source,
                    line,
                    indent + c + 1,
                    f"unknown map character {ch!r}; add it to [legend] or use '#', '.', 'S'",
                )
            border = r in (0, len(rows) - 1) or c in (0, width - 1)
            if border and ch != WALL:
                raise _err(
                    source,
                    line,
                    indent + c + 1,
                    f"the map must be enclosed by walls; found {ch!r} on the border",
                )
            if ch in legend and legend[ch].kind == "start":
                starts += 1
    if len(rows) < 3 or width < 3:
        raise _err(source, first, 1, "the map must be at least 3x3 (walls included)")
    if starts == 0:
        raise _err(source, first, 1, "the map has no start cell ('S' or a legend entry of kind \"start\")")
    return tuple(rows)


_CORNER = re.compile(r"^(top|bottom)-(left|right)-(\d+)x(\d+)$")
_RANGES = re.compile(r"^rows:(\d+)-(\d+),cols:(\d+)-(\d+)$")


def parse_region(place: str, interior: tuple[int, int]) -> tuple[slice, slice]:
    """Interior-coordinate (row, col) slices of a placement region, for an interior of shape ``interior``."""
    h, w = interior
    if place == "anywhere":
        return slice(0, h), slice(0, w)
    m = _CORNER.match(place)
    if m:
        kh, kw = int(m.group(3)), int(m.group(4))
        rows = slice(0, kh) if m.group(1) == "top" else slice(max(h - kh, 0), h)
        cols = slice(0, kw) if m.group(2) == "left" else slice(max(w - kw, 0), w)
        return rows, cols
    m = _RANGES.match(place)
    if m:
        r0, r1, c0, c1 = (int(g) for g in m.groups())
        if r0 > r1 or c0 > c1:
            raise ValueError(f"empty region {place!r}")
        return slice(r0, r1 + 1), slice(c0, c1 + 1)
    raise ValueError(
        f'\'place\' must be "anywhere", "top-right-3x3" (top/bottom, left/right, KxL) or '
        f'"rows:A-B,cols:C-D", got {place!r}'
    )
