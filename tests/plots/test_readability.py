"""What a reader sees matches the data: captions name the quantity the panel draws, the cell and setting they
speak of, and nothing on a figure is drawn over something else or confused with a value of its colour scale."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb

import rlcredit
from rlcredit.cli import main
from rlcredit.credit.shaping import shaping_frame
from rlcredit.experiments.figures import discoverability
from rlcredit.experiments.spec import find_spec_file, load_spec
from rlcredit.planning import power
from rlcredit.plots import credit_map, credit_vs_exact, policy_field, power_heatmap, shaping_map, style
from rlcredit.plots.animate import episode_animation
from rlcredit.plots.credit import symlog_ticks
from rlcredit.plots.grid import NEUTRAL_OBJECT, cell_name, power_table


def _drawn(fig):
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return renderer


# ------------------------------------------------------------------------------ lava is not a credit value


def _min_distance_to_diverging(rgb) -> float:
    ramp = style.DIVERGING(np.linspace(0, 1, 512))[:, :3]
    return float(np.min(np.linalg.norm(ramp - np.asarray(rgb), axis=1)))


def test_lava_is_not_a_colour_of_the_diverging_map_and_the_legend_says_so(run_dir, kit):
    layout = kit.layout_of()
    H, W = layout.shape
    lava = np.flatnonzero(layout.kind == layout.kinds.index("lava"))
    # the renderer's lava red is (nearly) the diverging map's top: the confusion being prevented
    assert _min_distance_to_diverging(style.cell_colour("lava", layout.kinds.index("lava"))) < 0.15
    assert _min_distance_to_diverging(NEUTRAL_OBJECT) > 0.25
    for plot, signed_axes in ((policy_field(run_dir), [2]), (credit_map(run_dir), [0, 1, 2])):
        for i in signed_axes:
            ax = plot.figure.axes[i]
            image = np.asarray(ax.images[0].get_array())[..., :3].reshape(H * W, 3)
            np.testing.assert_allclose(image[lava], np.tile(NEUTRAL_OBJECT, (len(lava), 1)))
        legends = [ax.get_legend() for ax in plot.figure.axes if ax.get_legend() is not None]
        neutral = [
            lg
            for lg in legends
            if lg.get_title().get_text() == "object cells in grey: not on the colour scale"
        ]
        assert neutral, f"{plot.name}: no legend says the grey cells are off the colour scale"
        assert "hatched grey, off the colour scale" in plot.caption or "grey there, off the colour scale" in (
            plot.caption
        )
        names = {t.get_text() for t in neutral[0].get_texts()}
        assert {"lava", "goal", "button"} <= names
        handle = next(
            h for h, t in zip(neutral[0].legend_handles, neutral[0].get_texts()) if t.get_text() == "lava"
        )
        assert np.allclose(to_rgb(handle.get_facecolor()), NEUTRAL_OBJECT) and handle.get_hatch()


# ------------------------------------------------------------------------------ symlog colour-bar ticks


@pytest.mark.parametrize("vmax", [0.3, 1.0, 4.7, 120.0, 3e4])
def test_symlog_ticks_stay_out_of_the_linear_range(vmax):
    linthresh = vmax / 100
    ticks = symlog_ticks(vmax, linthresh)
    assert ticks == sorted(ticks) and 0.0 in ticks and ticks == [-t for t in reversed(ticks)]
    nonzero = [abs(t) for t in ticks if t]
    assert nonzero and all(10 * linthresh - 1e-12 <= t <= vmax for t in nonzero)


def test_credit_map_colour_bar_labels_do_not_overlap(run_dir):
    fig = credit_map(run_dir).figure
    renderer = _drawn(fig)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) >= 3
    for bar in bars:
        labels = [t for t in bar.get_yticklabels() if t.get_visible() and t.get_text()]
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), [t.get_text() for t in labels]


# ------------------------------------------------------------------------------ the shaping map's update


def test_shaping_map_picks_the_update_by_the_mean_it_plots(kit, tmp_path):
    """Update 1 moves its two never-visited states far (largest mean); update 2 moves its many never-visited
    states a little each (largest total). The panel plots the mean, so the caption must name update 1."""
    layout = kit.layout_of()
    S = layout.num_states
    active = np.flatnonzero(layout.live)
    path = kit.write_train_run(tmp_path / "ppo", shaping=False, credit=False)
    uniform = np.full((S, 4), 0.25)
    frames = {}
    for u, (unvisited, moved_by) in {1: (active[:2], 0.6), 2: (active[:-2], 0.1)}.items():
        visits = np.zeros(S, dtype=np.int64)
        visits[np.setdiff1d(active, unvisited)] = 1
        after = uniform.copy()
        after[unvisited] = [0.25 + moved_by, 0.25 - moved_by / 3, 0.25 - moved_by / 3, 0.25 - moved_by / 3]
        frames[u] = (visits, after)
        frame = shaping_frame(u, uniform, after, visits, layout=layout)
        frame.to_parquet(path / "shaping" / f"update_{u:06d}.parquet")
    # independently: total variation 0.5 * sum |after - before| at live states no step visited
    tv = {u: 0.5 * np.abs(a - uniform).sum(axis=1)[layout.live & (v == 0)] for u, (v, a) in frames.items()}
    by_mean = max(tv, key=lambda u: tv[u].mean())
    by_total = max(tv, key=lambda u: tv[u].sum())
    assert (by_mean, by_total) == (1, 2)  # the two readings disagree on this run
    plot = shaping_map(path)
    assert plot.data.update == by_mean
    assert f"update {by_mean} (the logged update with the largest mean total variation" in plot.caption


# ------------------------------------------------------------------------------ episode GIF captions


def test_episode_caption_names_env_training_seed_and_run(kit, tmp_path):
    path = kit.write_train_run(tmp_path / "ppo-s7", seed=7, credit=False)
    ep = episode_animation(path, seed=3)
    env = kit.ENV.rsplit("/", 1)[-1]
    assert f"One episode on {env} of the ppo policy (training seed 7, run ppo-s7)" in ep.caption
    assert "(episode seed 3)" in ep.caption


# ------------------------------------------------------------------------------ discoverability y label


def test_discoverability_labels_fit_inside_the_figure():
    spec = load_spec(find_spec_file("demo"))
    rows = [
        {
            "agent": agent,
            "kind": "plan" if agent in ("vi", "mcts") else "train",
            "train_env": env.label,
            "env": env.label,
            "reach_button": float(agent == "vi"),
            "exact_reach_button": float(agent == "vi"),
        }
        for env in spec.envs
        for agent in ("ppo", "reinforce", "vi", "mcts")
        for _ in range(3)
    ]
    fig = discoverability(spec, pd.DataFrame(rows)).figure
    renderer = _drawn(fig)
    page = fig.bbox
    ax = fig.axes[0]
    # the y label is centred on the axes: a label longer than the axes are tall reaches past them and, with a
    # long caption below, past the top of the page
    assert ax.yaxis.label.get_window_extent(renderer).height <= ax.get_window_extent(renderer).height
    for label in (ax.yaxis.label, ax.xaxis.label):
        box = label.get_window_extent(renderer)
        assert box.y0 >= page.y0 - 0.5 and box.y1 <= page.y1 + 0.5, label.get_text()
        assert box.x0 >= page.x0 - 0.5 and box.x1 <= page.x1 + 0.5, label.get_text()


# ------------------------------------------------------------------------------ POWER: setting and cells


@pytest.fixture(scope="module")
def four_rooms():
    env = rlcredit.make("rlcredit/FourRooms-v0")
    return env.unwrapped.layout, env.unwrapped.layout.to_mdp()


def test_power_figures_of_two_discounts_say_which(four_rooms):
    layout, m = four_rooms
    plots = {}
    for gamma in (0.9, 0.99):
        res = power(m.replace(gamma=gamma, horizon=None), num_samples=32, seed=0)
        plots[gamma] = power_heatmap(layout, res.power, res.stderr, gamma=gamma, num_samples=32)
    assert plots[0.9].title != plots[0.99].title and plots[0.9].caption != plots[0.99].caption
    for gamma, plot in plots.items():
        assert f"gamma {gamma:g}, 32 reward samples" in plot.title
        assert f"gamma {gamma:g}, 32 reward samples" in plot.caption
        best = int(np.nanargmax(np.where(layout.live, plot.data.power, np.nan)))
        assert f"peaks at {cell_name(int(layout.cell[best]), layout.shape[1])}" in plot.caption


def test_cell_name_is_the_map_files_row_and_column():
    """FourRooms' map file: its goal 'G' is on text line 11, character 11 (0-based, border included)."""
    layout = rlcredit.make("rlcredit/FourRooms-v0").unwrapped.layout
    goal = int(np.flatnonzero(layout.kind == layout.kinds.index("goal"))[0])
    assert cell_name(goal, layout.shape[1]) == "row 11, column 11 (0-based, wall border included)"


def test_policy_field_caption_names_the_cell_with_the_largest_change(run_dir, kit):
    layout = kit.layout_of()
    plot = policy_field(run_dir)
    d = plot.data
    tv = 0.5 * np.abs(d.after - d.before).sum(axis=1)
    live = np.flatnonzero(layout.live)
    top = int(live[np.argmax(tv[live])])
    assert f"largest change at {cell_name(int(layout.cell[top]), layout.shape[1])}" in plot.caption


# ------------------------------------------------------------------------------ plan --power's table


def _parse(table: str, H: int, W: int) -> np.ndarray:
    lines = table.splitlines()
    assert len(lines) == H + 1 and len({len(line) for line in lines}) == 1  # a header and aligned rows
    header = lines[0].split()
    assert header == [str(c) for c in range(W)]
    out = np.full((H, W), np.nan)
    for r, line in enumerate(lines[1:]):
        cols = line.split()
        assert cols[0] == str(r) and len(cols) == W + 1
        out[r] = [np.nan if t == "#" else float(t) for t in cols[1:]]
    return out


@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_power_table_is_aligned_and_resolves_the_cells(four_rooms, gamma):
    layout, m = four_rooms
    H, W = layout.shape
    res = power(m.replace(gamma=gamma, horizon=None), num_samples=64, seed=0)
    table = power_table(layout, res.power)
    printed = _parse(table, H, W)
    truth = layout.per_cell(res.power).reshape(H, W)
    wall = layout.wall.reshape(H, W)
    assert np.isnan(printed[wall]).all()
    digits = len(re.search(r"\d\.(\d+)", table).group(1))
    np.testing.assert_allclose(printed[~wall], truth[~wall], atol=0.5 * 10.0**-digits + 1e-12)
    plain = (~layout.wall & (layout.kind < 0)).reshape(H, W)
    # enough digits that cells differing by more than a tenth of the spread never print the same
    spread = truth[plain].max() - truth[plain].min()
    assert 10.0**-digits <= spread / 10
    assert len(np.unique(printed[plain])) > 10


def test_plan_power_writes_a_fresh_directory_and_never_overwrites(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["plan", "--power", "--env", "rlcredit/FourRooms-v0", "--samples", "16"]
    assert main(argv) == 0
    assert main(argv) == 0
    made = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(made) == 2 and all(
        re.fullmatch(r"power-FourRooms-v0-\d{8}-\d{6}-[0-9a-f]{4}", n) for n in made
    )
    out = tmp_path / "runs" / made[0]
    before = (out / "power.png").read_bytes()
    capsys.readouterr()
    assert main([*argv, "--gamma", "0.9", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(out / "power.png") in err and "never overwrites" in err
    assert (out / "power.png").read_bytes() == before


def test_credit_vs_exact_key_covers_no_panel(tmp_path, kit):
    # seven configurations, as the credit-anatomy experiment has: the key must sit beside the error panels
    runs = [
        kit.write_train_run(tmp_path / f"ppo-gae_lambda{lam}-s0", config={"gae_lambda": lam})
        for lam in (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0)
    ]
    fig = credit_vs_exact(runs).figure
    renderer = _drawn(fig)
    legends = [leg for ax in fig.get_axes() for leg in ([ax.get_legend()] if ax.get_legend() else [])]
    assert legends, "the figure has a key"
    panels = [ax for ax in fig.get_axes() if ax.get_visible() and ax.axison]
    for leg in legends:
        box = leg.get_window_extent(renderer)
        for ax in panels:
            assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()
    labels = [t.get_text() for leg in legends for t in leg.get_texts()]
    assert len(labels) <= 7 + 2  # one entry per configuration, one per target
