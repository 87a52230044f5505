"""One episode of a trained policy, replayed from files only and saved as a GIF.

The policy is the ``pi_after`` table of a logged update's shaping file (``(S, 4)``: the action probabilities
of every state after that update); the episode is stepped with the layout's pure transition
:func:`rlcredit.gridworld.core.step` from a start drawn with a fixed seed. Nothing needs the network or a
checkpoint, so any finished run can be replayed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from rlcredit.gridworld.core import Layout, step
from rlcredit.gridworld.env import sample_start
from rlcredit.gridworld.observe import render_rgb
from rlcredit.plots import style
from rlcredit.plots.data import Run, open_run, policy_columns, read_shaping
from rlcredit.plots.grid import shaping_layout
from rlcredit.tracking import atomic_open

__all__ = ["Episode", "episode_animation", "rollout"]

_FRAME_MS = 160
_LAST_MS = 1600


def rollout(
    layout: Layout, pi: np.ndarray, *, seed: int = 0, greedy: bool = False, max_steps: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str | None]]:
    """Run one episode of the tabular policy ``pi`` ``(S, A)`` on ``layout``.

    The start state, every sampled action (unless ``greedy``: the most probable action, lowest index on
    ties) and every slip come from ``numpy.random.default_rng(seed)``, in that order per step.

    Returns
    -------
    states : (T + 1,) int64
    actions, rewards : (T,) int64, float64
    events : list of T kind names (None where no object was entered)
    """
    rng = np.random.default_rng(seed)
    s = int(sample_start(layout, rng))
    states, actions, rewards, events = [s], [], [], []
    limit = layout.time_limit if max_steps is None else max_steps
    for _ in range(limit):
        p = np.clip(np.asarray(pi[s], dtype=np.float64), 0, None)
        p = p / p.sum() if p.sum() > 0 else np.full(len(p), 1.0 / len(p))
        a = int(np.argmax(p)) if greedy else int(rng.choice(len(p), p=p))
        noise = rng.random() if layout.slip > 0 else None
        nxt, r, term, ev = step(layout, s, a, noise)
        s = int(nxt)
        states.append(s)
        actions.append(a)
        rewards.append(float(r))
        events.append(layout.kinds[int(ev)] if int(ev) >= 0 else None)
        if bool(term):
            break
    return np.array(states), np.array(actions, dtype=np.int64), np.array(rewards), events


@dataclass(frozen=True, eq=False)
class Episode:
    """A replayed episode and its frames.

    Attributes
    ----------
    name : str
        File stem (``NAME.gif``).
    title, caption : str
    update : int
        The shaping file whose ``pi_after`` acted.
    greedy : bool
    seed : int
    states : (T + 1,) int64
    actions : (T,) int64
    rewards : (T,) float64
    events : list of str or None
    frames : list of (h, w, 3) uint8
        One per state visited.
    """

    name: str
    title: str
    caption: str
    update: int
    greedy: bool
    seed: int
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    events: list[str | None]
    frames: list[np.ndarray]

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``NAME.gif`` (looping) into ``out_dir`` and record the caption in ``captions.json``."""

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        images = [
            Image.fromarray(f).convert("P", palette=Image.Palette.ADAPTIVE, colors=64) for f in self.frames
        ]
        durations = [_FRAME_MS] * (len(images) - 1) + [_LAST_MS]
        path = out / f"{self.name}.gif"
        with atomic_open(path, "wb") as f:
            images[0].save(
                f,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                duration=durations,
                loop=0,
                optimize=True,
                disposal=1,
            )
        style.record_caption(out, path.name, self.caption)
        return [path]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


def _frames(
    layout: Layout,
    states: np.ndarray,
    rewards: np.ndarray,
    events: list[str | None],
    header: str,
    tile: int,
) -> list[np.ndarray]:
    H, W = layout.shape
    bar = 50
    font, small = _font(13), _font(11)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = header.split("\n")
    # wide enough for the header: the env name must never be cut off on a small map
    width = max(W * tile, *(int(probe.textlength(line, font=font)) + 8 for line in lines))
    frames = []
    total = 0.0
    for t, s in enumerate(states):
        img = render_rgb(layout, int(s), tile=tile)
        for prev in states[:t]:  # the trail: a small dot on every cell already passed through
            r, c = divmod(int(prev), W)
            if int(prev) != int(s):
                cy, cx = r * tile + tile // 2, c * tile + tile // 2
                img[cy - 2 : cy + 2, cx - 2 : cx + 2] = (214, 39, 40)
        if t > 0:
            total += rewards[t - 1]
        canvas = Image.new("RGB", (width, H * tile + bar), "white")
        canvas.paste(Image.fromarray(img), ((width - W * tile) // 2, bar))
        draw = ImageDraw.Draw(canvas)
        for i, line in enumerate(lines):
            draw.text((4, 2 + 16 * i), line, fill=(30, 30, 30), font=font)
        status = f"t = {t}   return {total:+g}"
        if t > 0 and events[t - 1] is not None:
            status += f"   · {events[t - 1]}!"
        draw.text((4, 2 + 16 * len(lines)), status, fill=(80, 80, 80), font=small)
        frames.append(np.asarray(canvas))
    return frames


def episode_animation(
    run: Run | str | os.PathLike[str],
    *,
    update: int | None = None,
    greedy: bool = False,
    seed: int = 0,
    tile: int = 28,
    name: str = "episode",
) -> Episode:
    """Replay one episode of a run's policy from the shaping file of ``update`` (default: the last logged).

    Parameters
    ----------
    greedy : bool
        Take the most probable action instead of sampling.
    seed : int
        Seeds the start state, the sampled actions and slips.
    tile : int
        Pixels per cell.
    name : str
        File stem of the GIF.

    Returns
    -------
    Episode (call ``.save(plots_dir)``).
    """
    run = open_run(run)
    df = read_shaping(run, update)
    layout = shaping_layout(run, df)
    u = int(df["update"].iloc[0])
    pi = policy_columns(df, "pi_after")
    if pi.shape[0] != layout.num_states:
        raise ValueError(
            f"{run.path}: shaping file has {pi.shape[0]} states; the layout has {layout.num_states}"
        )
    states, actions, rewards, events = rollout(layout, pi, seed=seed, greedy=greedy)
    mode = "greedy" if greedy else "sampled"
    header = f"{run.algo} · {run.env_name()} · seed {run.seed}\nupdate {u} · {mode}"
    frames = _frames(layout, states, rewards, events, header, tile)
    entered = [e for e in events if e is not None]
    outcome = (
        f"ends by entering {entered[-1]}" if entered else f"ends at the time limit after {len(actions)} steps"
    )
    title = f"{run.algo} on {run.env_name()}: one {mode} episode"
    trained = f"training seed {run.seed}" if run.seed is not None else "no training seed recorded"
    layout_seed = int(df["layout_seed"].iloc[0]) if "layout_seed" in df.columns and len(df) else -1
    on_layout = f", layout seed {layout_seed}" if layout_seed >= 0 else ""
    caption = (
        f"One episode on {run.env_name()}{on_layout} of the {run.algo} policy ({trained}, run {run.path.name}) "
        f"after update {u}, actions {mode} from its stored probabilities (episode seed {seed}); it {outcome} "
        f"with return {rewards.sum():+.2f}."
    )
    return Episode(name, title, caption, u, greedy, seed, states, actions, rewards, events, frames)
