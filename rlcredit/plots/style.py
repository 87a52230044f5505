"""One look for every rlcredit figure: colours per agent and per cell kind, fonts, colour maps, saving.

Every figure function in :mod:`rlcredit.plots` returns a :class:`Plot` (the matplotlib figure, its file name,
title, one-sentence caption, and the arrays it drew). :meth:`Plot.save` writes ``NAME.png`` (150 dpi, a
256-colour palette to keep committed files small) and
``NAME.svg`` into a ``plots/`` directory and records the caption in ``plots/captions.json``
(``{"NAME.png": caption}``, the SVG twin has the same stem; animations are keyed by their ``.gif`` name).

Colours: agents use the colour-blind-safe Okabe-Ito palette (PPO blue, REINFORCE vermillion, planners green /
orange / purple); cell kinds use the gridworld renderer's colours (:func:`rlcredit.gridworld.observe.kind_colour`)
so a figure and an ``env.render()`` frame agree. Signed quantities (credit, Δπ) use a diverging map centred at
zero (white = no change); non-negative ones (visits, total variation) a sequential map that starts at white.
"""

from __future__ import annotations

import colorsys
import functools
import io
import json
import os
import re
import textwrap
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize, to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator
from PIL import Image

from rlcredit.gridworld.observe import kind_colour
from rlcredit.tracking import atomic_open, atomic_write_json

__all__ = [
    "AGENT_COLOURS",
    "CAPTIONS_FILE",
    "COUNTS",
    "DIVERGING",
    "DPI",
    "PROBABILITY_FLOOR",
    "SEQUENTIAL",
    "Plot",
    "agent_colour",
    "cell_colour",
    "finish",
    "format_steps",
    "label_colours",
    "new_figure",
    "order_labels",
    "panel_grid",
    "probability_axis",
    "rc",
    "record_caption",
    "signed_norm",
    "steps_axis",
    "styled",
]

DPI = 150
CAPTIONS_FILE = "captions.json"
MIN_CI_SEEDS = 5
"""Below this many seeds no interval is called a confidence interval: figures and tables show the range (min,
max) over the seeds instead (:func:`rlcredit.experiments.stats.interval`)."""

AGENT_COLOURS: dict[str, str] = {
    "ppo": "#0072B2",
    "reinforce": "#D55E00",
    "bi": "#009E73",
    "vi": "#E69F00",
    "mcts": "#CC79A7",
    "random": "#7F7F7F",
}
"""Fixed colour of each trainer / planner name (``[run] algo``)."""

_EXTRA = ("#56B4E9", "#882255", "#44AA99", "#999933", "#332288", "#AA4499")

DIVERGING: Colormap = mpl.colormaps["RdBu_r"]
"""Signed values: blue negative, white zero, red positive."""

SEQUENTIAL: Colormap = LinearSegmentedColormap.from_list(
    "rlcredit_seq", ["#ffffff", "#dadaeb", "#9e9ac8", "#6a51a3", "#3f007d"]
)
"""Non-negative values: white at zero, deep purple at the maximum."""

COUNTS: Colormap = LinearSegmentedColormap.from_list(
    "rlcredit_counts", mpl.colormaps["Blues"](np.linspace(0.18, 1.0, 256))
)
"""Counts on a log scale, light to dark blue (zero counts are left white; blue clashes with no cell kind)."""

_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "figure.facecolor": "white",
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "svg.fonttype": "none",  # text stays text: smaller, searchable SVGs
    "svg.hashsalt": "rlcredit",  # deterministic ids, so re-plotting a run gives identical files
    "image.interpolation": "nearest",
    "lines.linewidth": 1.6,
    "path.simplify": True,
}

P = ParamSpec("P")
T = TypeVar("T")


@contextmanager
def rc() -> Iterator[None]:
    """The rlcredit style as a temporary matplotlib rc context (no global state is changed)."""
    with mpl.rc_context(_RC):  # type: ignore[arg-type]  # rc keys are checked by matplotlib at run time
        yield


def styled(func: Callable[P, T]) -> Callable[P, T]:
    """Run a figure function inside :func:`rc`, so its artists are created with the rlcredit style."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with rc():
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A figure (inches) with constrained layout, not registered with pyplot (so nothing leaks)."""
    return Figure(figsize=(width, height), layout="constrained")


# ------------------------------------------------------------------------------------------------ colours


def _algo_of(label: str) -> str:
    head = label.strip().split()[0] if label.strip() else label
    return re.split(r"[(\[\-]", head)[0].lower()


def _natural_key(label: str) -> list[tuple[int, float | str]]:
    parts = re.split(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)", label)
    return [(0, float(p)) if i % 2 else (1, p) for i, p in enumerate(parts) if p]


def order_labels(labels: Iterable[str]) -> list[str]:
    """Labels in drawing order: trainers, then planners (the order of :data:`AGENT_COLOURS`), then others;
    within an agent by their numbers (``λ=0.5`` before ``λ=0.95`` before ``λ=1``)."""
    rank = {a: i for i, a in enumerate(AGENT_COLOURS)}
    unique = list(dict.fromkeys(labels))
    return sorted(
        unique, key=lambda lab: (rank.get(_algo_of(lab), len(rank)), _algo_of(lab), _natural_key(lab))
    )


def agent_colour(label: str) -> str:
    """Colour of a trainer / planner, by the first word of its label (``"ppo λ=0.9"`` is PPO's colour)."""
    algo = _algo_of(label)
    if algo in AGENT_COLOURS:
        return AGENT_COLOURS[algo]
    return _EXTRA[zlib.crc32(algo.encode()) % len(_EXTRA)]


def label_colours(labels: Iterable[str]) -> dict[str, str]:
    """Colours of several labels: each agent's colour, in lighter and darker shades when an agent has several.

    Labels sharing their first word (``"ppo λ=0.5"``, ``"ppo λ=0.95"``) get shades of that agent's colour, from
    dark to light in :func:`order_labels` order.
    """
    labels = order_labels(labels)
    groups: dict[str, list[str]] = {}
    for lab in labels:
        groups.setdefault(_algo_of(lab), []).append(lab)
    out: dict[str, str] = {}
    for members in groups.values():
        base = agent_colour(members[0])
        if len(members) == 1:
            out[members[0]] = base
            continue
        h, l, s = colorsys.rgb_to_hls(*to_rgb(base))
        for lab, light in zip(members, np.linspace(max(0.2, l - 0.2), min(0.78, l + 0.25), len(members))):
            out[lab] = to_hex(colorsys.hls_to_rgb(h, float(light), s))
    return out


def cell_colour(kind: str, index: int = 0) -> tuple[float, float, float]:
    """RGB in [0, 1] of a cell kind as the gridworld renderer draws it (``"floor"``, ``"wall"``, ``"start"``,
    or an object kind with its index in ``layout.kinds``)."""
    r, g, b = kind_colour(kind, index)
    return (r / 255.0, g / 255.0, b / 255.0)


def signed_norm(values: np.ndarray, *, quantile: float = 1.0) -> Normalize:
    """A colour scale symmetric about zero: ``[-m, m]`` with ``m`` the ``quantile`` of ``|values|`` (> 0)."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v)]
    m = float(np.quantile(v, quantile)) if v.size else 0.0
    if m <= 0:
        m = float(v.max()) if v.size and v.max() > 0 else 1.0
    return Normalize(vmin=-m, vmax=m)


def panel_grid(n: int) -> tuple[int, int]:
    """``(rows, columns)`` for ``n`` panels: one row up to three, 2 x 2 for four, else rows of three."""
    if n <= 3:
        return 1, max(n, 1)
    if n == 4:
        return 2, 2
    return -(-n // 3), 3


def format_steps(value: float, _pos: object = None) -> str:
    """Tick label of an environment-step count: ``0``, ``500``, ``20k``, ``1.5M``."""
    v = abs(value)
    if v >= 1e6:
        return f"{value / 1e6:.3g}M"
    if v >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.0f}"


def steps_axis(ax: Axes, label: str) -> None:
    """Label an x axis of environment steps (or updates) with compact tick labels."""

    ax.set_xlabel(label)
    if label == "environment steps":
        ax.xaxis.set_major_formatter(FuncFormatter(format_steps))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


PROBABILITY_FLOOR = 1e-12
"""Smallest probability a log / logit axis resolves; smaller values are drawn on the axis edge."""


def probability_axis(ax: Axes, scale: str, floor: float) -> None:
    """A probability y axis: ``"logit"`` (0 and 1 both resolved, plain tick labels), ``"log"`` or ``"linear"``.

    ``floor`` is the smallest value to resolve (clamped to [:data:`PROBABILITY_FLOOR`, 1e-2]); values below it
    (and above ``1 - floor`` on a logit axis) should be clipped to it by the caller.
    """

    if scale == "linear":
        ax.set_ylim(-0.02, 1.02)
        return
    lo = min(max(floor, PROBABILITY_FLOOR), 1e-2)
    k_max = int(np.ceil(-np.log10(lo) - 1e-9))
    step = max(1, int(np.ceil(k_max / 4)))
    decades = sorted({10.0**-k for k in range(1, k_max + 1) if (k - 1) % step == 0} | {10.0**-k_max})
    if scale == "log":
        ax.set_yscale("log", nonpositive="clip")
        ax.set_ylim(lo, 1.5)
        ticks = sorted({*decades, 1.0})
    else:
        ax.set_yscale("logit", nonpositive="clip")
        ax.set_ylim(lo, 1 - lo)
        ticks = sorted({*decades, 0.5, *(1 - d for d in decades)})
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(_prob_label))


def _prob_label(p: float, _pos: object = None) -> str:
    if p == 1:
        return "1"
    if p <= 0 or p > 1:
        return ""
    if p < 0.01:
        return f"$10^{{{round(np.log10(p))}}}$"
    if p > 0.99:
        return f"$1-10^{{{round(np.log10(1 - p))}}}$"
    return f"{p:g}"


# ------------------------------------------------------------------------------------------------- saving


@dataclass(frozen=True, eq=False)
class Plot:
    """A finished figure and what it shows.

    Attributes
    ----------
    figure : matplotlib Figure
    name : str
        File stem (``"credit_map"`` -> ``credit_map.png`` / ``credit_map.svg``).
    title : str
        Shown at the top of the figure.
    caption : str
        One sentence saying what to see; shown under the figure and stored in ``captions.json``.
    data : object
        A frozen dataclass with the arrays the figure drew (for tests and for re-use in notebooks).
    """

    figure: Figure
    name: str
    title: str
    caption: str
    data: Any = field(default=None)

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``NAME.png`` and ``NAME.svg`` into ``out_dir`` (created if missing) and record the caption.

        Returns
        -------
        list of Path
            The PNG and the SVG.
        """

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with rc():
            png = io.BytesIO()
            self.figure.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
            with atomic_open(out / f"{self.name}.png", "wb") as f:
                f.write(_palette_png(png.getvalue()))
            with atomic_open(out / f"{self.name}.svg", "wb") as f:
                self.figure.savefig(f, format="svg", dpi=DPI, metadata={"Date": None, "Creator": None})
        paths = [out / f"{self.name}.png", out / f"{self.name}.svg"]
        record_caption(out, f"{self.name}.png", self.caption)
        return paths


def _palette_png(data: bytes) -> bytes:
    """Re-encode a PNG with a 256-colour palette (no dithering): a plot looks the same at about a third the size."""

    with Image.open(io.BytesIO(data)) as im:
        pal = im.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    out = io.BytesIO()
    pal.save(out, format="PNG", optimize=True)
    return out.getvalue()


def record_caption(out_dir: str | os.PathLike[str], filename: str, caption: str) -> None:
    """Add ``{filename: caption}`` to ``out_dir/captions.json`` (atomically; other entries are kept)."""

    path = Path(out_dir) / CAPTIONS_FILE
    captions: dict[str, str] = {}
    if path.is_file():
        try:
            captions = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            captions = {}
    captions[filename] = caption
    atomic_write_json(path, dict(sorted(captions.items())))


def finish(fig: Figure, title: str, caption: str) -> None:
    """Put the title on top of ``fig`` and the caption, wrapped to the figure's width, under it."""
    fig.suptitle(title)
    # 0.6 em per character: italic DejaVu Sans with digits and signs is wider than its 0.52 em average
    width_chars = max(40, int(fig.get_figwidth() * 72 / (8 * 0.6)))
    fig.supxlabel(textwrap.fill(caption, width_chars), fontsize=8, color="#555555", style="italic")
