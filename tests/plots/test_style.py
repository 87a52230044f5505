"""Colours, label order, captions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from matplotlib.colors import to_rgb

from rlcredit.gridworld.observe import kind_colour
from rlcredit.plots import style


def test_agent_colours_and_shades():
    assert (
        style.agent_colour("ppo λ=0.9")
        == style.agent_colour("ppo[gae_lambda=0.9]")
        == style.AGENT_COLOURS["ppo"]
    )
    assert style.agent_colour("foo λ=2") == style.agent_colour("foo")  # by the label's first word
    colours = style.label_colours(["ppo λ=1", "reinforce", "ppo λ=0.5", "ppo λ=0.95"])
    assert colours["reinforce"] == style.AGENT_COLOURS["reinforce"]
    light = [np.mean(to_rgb(colours[f"ppo λ={v}"])) for v in ("0.5", "0.95", "1")]
    assert light == sorted(light)  # dark to light with the swept value
    assert style.order_labels(["mcts", "ppo λ=1", "bi", "reinforce", "ppo λ=0.5"]) == [
        "ppo λ=0.5",
        "ppo λ=1",
        "reinforce",
        "bi",
        "mcts",
    ]


def test_an_unknown_agent_gets_the_same_colour_in_every_process():
    """Figures of one experiment drawn by different processes (pieces, ``rlcredit plot``) must agree, so the colour
    may not depend on Python's per-process string hashing."""
    code = "from rlcredit.plots import style; print(style.agent_colour('foo'), style.agent_colour('bar'))"
    seen = set()
    for seed in ("1", "2", "3"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seen.add(tuple(out.split()[-2:]))
    assert seen == {(style.agent_colour("foo"), style.agent_colour("bar"))}


def test_cell_colours_are_the_renderer_colours():
    assert style.cell_colour("goal") == tuple(c / 255 for c in kind_colour("goal", 0))
    assert style.cell_colour("wall") == tuple(c / 255 for c in kind_colour("wall", 0))


def test_signed_norm_is_centred_at_zero():
    norm = style.signed_norm(np.array([-1.0, 3.0, np.nan]))
    assert (norm.vmin, norm.vmax) == (-3.0, 3.0) and norm(0.0) == 0.5
    assert style.signed_norm(np.zeros(3)).vmax == 1.0


def test_captions_are_merged(tmp_path):
    style.record_caption(tmp_path, "a.png", "A.")
    style.record_caption(tmp_path, "b.gif", "B.")
    style.record_caption(tmp_path, "a.png", "A again.")
    assert json.loads((tmp_path / "captions.json").read_text()) == {"a.png": "A again.", "b.gif": "B."}


def test_step_labels():
    assert [style.format_steps(v) for v in (0, 500, 20_000, 1_500_000)] == ["0", "500", "20k", "1.5M"]
