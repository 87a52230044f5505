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

- ``reward`` is received on entering the cell (added to ``step_cost``); ``terminal`` ends the episode there;
- ``intended = true`` marks the designer's intended objective: tracked in ``info`` and in the experiments,
  never rewarded by itself (give it a reward too if it should be);
- ``respawn = true`` sends the agent back to the start cell after the reward (the classic cliff);
- ``place`` randomises the object's position at every reset: ``"anywhere"``, ``"top-right-3x3"`` (also
  top-left, bottom-left, bottom-right, any KxL) or ``"rows:1-3,cols:7-9"`` (interior coordinates, inclusive);
  ``count`` objects are placed on free floor cells of that region.

A ``[maze]`` table (``cells = [rows, cols]``) replaces ``map`` by a procedural perfect maze (randomised depth-first
search) drawn at every reset, the start at the bottom-left cell. ``[variants.NAME]`` tables override any top-level
key (deep merge) and register ``rlcredit/<name><NAME>-v0``. Errors name the file, line and column.
"""

from __future__ import annotations

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
}
_LEGEND_KEYS = {"kind", "reward", "terminal", "intended", "respawn", "place", "count", "weight"}
_RESERVED_KINDS = {"wall", "floor", "agent"}


class MapError(ValueError):
    """A malformed map file: the message names the file, the line and column, and what was expected."""


@dataclass(frozen=True)
class CellType:
    """One legend entry: what a map character means."""

    char: str
    kind: str
    reward: float = 0.0
    terminal: bool = False
    intended: bool = False
    respawn: bool = False
    place: str | None = None
    count: int = 1
    weight: float = 1.0


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

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the grid, border walls included."""
        if self.maze is not None:
            return 2 * self.maze[0] + 1, 2 * self.maze[1] + 1
        return len(self.rows), len(self.rows[0])

    @property
    def kinds(self) -> tuple[str, ...]:
        """Object kinds in legend order (one observation channel each); ``start`` is not an object."""
        out: list[str] = []
        for ct in self.legend.values():
            if ct.kind != "start" and ct.kind not in out:
                out.append(ct.kind)
        return tuple(out)

    @property
    def chars(self) -> dict[str, str]:
        """Object kind -> the map character that stands for it (for drawing maps as text)."""
        return {ct.kind: ch for ch, ct in self.legend.items()}

    @property
    def randomized(self) -> bool:
        """True when every reset may draw a new layout (maze or placed objects)."""
        return self.maze is not None or any(ct.place for ct in self.legend.values())

    def with_overrides(self, **overrides: Any) -> MapSpec:
        """A copy with top-level keys replaced (``time_limit``, ``slip``, ``gamma``, ``step_cost``)."""
        data = {k: v for k, v in overrides.items() if v is not None}
        bad = set(data) - {"time_limit", "slip", "gamma", "step_cost"}
        if bad:
            raise MapError(
                f"{self.source}: cannot override {sorted(bad)}; allowed: gamma, slip, step_cost, time_limit"
            )
        merged = {**self.__dict__, **data}
        spec = MapSpec(**merged)
        _check_scalars(spec.__dict__, spec.source, _LineFinder(""))
        return spec


class _LineFinder:
    """Finds the line and column of a key or map character in the raw TOML text, for error messages."""

    def __init__(self, text: str):
        self.lines = text.splitlines()

    def key(self, key: str, default: int = 1) -> tuple[int, int]:
        pat = re.compile(rf"^\s*{re.escape(key)}\s*=|[{{,]\s*{re.escape(key)}\s*=")
        for i, line in enumerate(self.lines, 1):
            m = pat.search(line)
            if m:
                return i, m.start() + 1 + (len(m.group(0)) - len(m.group(0).lstrip("{, ")))
        return default, 1

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
    if not path.is_file():
        raise MapError(f"{path}: map file not found")
    return parse_map(path.read_text(encoding="utf-8"), source=str(path), variant=variant)


def parse_map(text: str, *, source: str = "<string>", variant: str | None = None) -> MapSpec:
    """Parse a map document (TOML text). See the module docstring for the format."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (1, 1)
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise _err(source, line, col, f"invalid TOML: {msg}") from None
    finder = _LineFinder(text)
    variants = data.pop("variants", {}) or {}
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        line, col = finder.key("variants")
        raise _err(source, line, col, "expected [variants.NAME] tables")
    if variant is not None:
        if variant not in variants:
            raise MapError(f"{source}: unknown variant {variant!r}; known: {', '.join(variants) or 'none'}")
        data = _deep_merge(data, variants[variant])
    return _build(data, source, finder, variants)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _check_scalars(data: dict[str, Any], source: str, finder: _LineFinder) -> None:
    def fail(key: str, what: str) -> MapError:
        line, col = finder.key(key)
        return _err(source, line, col, f"'{key}' {what}, got {data[key]!r}")

    g = data["gamma"]
    if isinstance(g, bool) or not isinstance(g, int | float) or not 0.0 < g <= 1.0:
        raise fail("gamma", "must be a number in (0, 1]")
    tl = data["time_limit"]
    if isinstance(tl, bool) or not isinstance(tl, int) or tl < 1:
        raise fail("time_limit", "must be a positive integer")
    s = data["slip"]
    if isinstance(s, bool) or not isinstance(s, int | float) or not 0.0 <= s <= 1.0:
        raise fail("slip", "must be a probability in [0, 1]")
    c = data["step_cost"]
    if isinstance(c, bool) or not isinstance(c, int | float):
        raise fail("step_cost", "must be a number")


def _build(data: dict[str, Any], source: str, finder: _LineFinder, variants: dict) -> MapSpec:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        line, col = finder.key(key)
        raise _err(source, line, col, f"unknown key '{key}'; expected one of: {', '.join(sorted(_TOP_KEYS))}")
    if (
        "name" not in data
        or not isinstance(data["name"], str)
        or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", data["name"])
    ):
        line, col = finder.key("name")
        raise _err(source, line, col, "expected 'name', an identifier such as \"ButtonRoom\"")
    data.setdefault("description", "")
    data.setdefault("purpose", "")
    data.setdefault("gamma", 0.99)
    data.setdefault("time_limit", 100)
    data.setdefault("slip", 0.0)
    data.setdefault("step_cost", 0.0)
    _check_scalars(data, source, finder)
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
        if not isinstance(entry, dict):
            raise _err(
                source,
                line,
                col,
                f'legend entry {ch!r} must be a table like {{ kind = "goal", reward = 1.0 }}',
            )
        bad = set(entry) - _LEGEND_KEYS
        if bad:
            raise _err(
                source,
                line,
                col,
                f"legend entry {ch!r}: unknown field '{sorted(bad)[0]}'; expected {', '.join(sorted(_LEGEND_KEYS))}",
            )
        kind = entry.get("kind")
        if not isinstance(kind, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", kind) or kind in _RESERVED_KINDS:
            raise _err(
                source,
                line,
                col,
                f"legend entry {ch!r}: 'kind' must be a lowercase name other than wall/floor/agent, got {kind!r}",
            )
        types = {
            "reward": (int, float),
            "terminal": bool,
            "intended": bool,
            "respawn": bool,
            "place": str,
            "count": int,
            "weight": (int, float),
        }
        for k, t in types.items():
            if k in entry and (not isinstance(entry[k], t) or (t is not bool and isinstance(entry[k], bool))):
                tname = t.__name__ if isinstance(t, type) else "number"
                raise _err(source, line, col, f"legend entry {ch!r}: '{k}' must be {tname}, got {entry[k]!r}")
        ct = CellType(char=ch, **{k: entry[k] for k in entry})
        ct = CellType(**{**ct.__dict__, "reward": float(ct.reward), "weight": float(ct.weight)})
        if ct.place is not None:
            try:
                parse_region(ct.place, (9, 9))
            except ValueError as e:
                raise _err(source, line, col, f"legend entry {ch!r}: {e}") from None
        if ct.count < 1 or ct.weight <= 0:
            raise _err(source, line, col, f"legend entry {ch!r}: 'count' and 'weight' must be positive")
        if ct.kind == "start" and (ct.reward or ct.terminal or ct.respawn or ct.place):
            raise _err(source, line, col, f"legend entry {ch!r}: a start cell takes only 'weight'")
        legend[ch] = ct
    if START not in legend:
        legend[START] = CellType(char=START, kind="start")

    maze = data.get("maze")
    rows: tuple[str, ...] = ()
    if maze is not None:
        line, col = finder.key("maze")
        cells = maze.get("cells") if isinstance(maze, dict) else None
        if (
            not isinstance(cells, list)
            or len(cells) != 2
            or not all(isinstance(c, int) and c >= 2 for c in cells)
            or set(maze) - {"cells"}
        ):
            raise _err(source, line, col, "expected [maze] with cells = [rows, cols], each >= 2")
        if "map" in data:
            raise _err(source, line, col, "give either 'map' or [maze], not both")
        for ct in legend.values():
            if ct.kind != "start" and not ct.place:
                raise _err(
                    source, line, col, f"in a maze every object needs 'place' (legend entry {ct.char!r})"
                )
        maze = (cells[0], cells[1])
    else:
        if "map" not in data or not isinstance(data["map"], str):
            raise _err(
                source, 1, 1, "expected 'map', a multi-line string with the ASCII grid (or a [maze] table)"
            )
        rows = _parse_rows(data["map"], legend, source, finder)
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
    )


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
