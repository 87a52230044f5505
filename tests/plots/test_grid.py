"""Grid figures draw exactly the stored probabilities, changes and visits."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.quiver import Quiver

from rlcredit.plots.grid import (
    ARROW,
    arrow_components,
    env_map,
    policy_field,
    power_heatmap,
    shaping_map,
    triangle_vertices,
)


def _active(layout) -> np.ndarray:
    return np.flatnonzero(~layout.wall & ~layout.terminal)


def test_policy_field_arrows_are_the_stored_probabilities(run_dir, kit):
    layout = kit.layout_of()
    tables = kit.policy_tables(0, layout.num_states)
    plot = policy_field(run_dir)
    d = plot.data
    assert (d.before_update, d.after_update) == (1, 3)
    np.testing.assert_allclose(d.before, tables[1][0], atol=1e-7)  # pi_before of the first update
    np.testing.assert_allclose(d.after, tables[3][1], atol=1e-7)  # pi_after of the last update
    np.testing.assert_allclose(d.delta, tables[3][1] - tables[1][0], atol=1e-7)
    np.testing.assert_array_equal(d.states, _active(layout))

    quivers = [[c for c in ax.collections if isinstance(c, Quiver)] for ax in plot.figure.axes[:2]]
    for (q,), probs in zip(quivers, (d.before, d.after)):
        u, v = q.U.reshape(-1, 4), q.V.reshape(-1, 4)
        p = probs[d.states]
        # up: (0, -p), right: (+p, 0), down: (0, +p), left: (-p, 0), times ARROW, in cells (y points down)
        np.testing.assert_allclose(u, ARROW * p * [0, 1, 0, -1], atol=1e-6)
        np.testing.assert_allclose(v, ARROW * p * [-1, 0, 1, 0], atol=1e-6)
        r, c = layout.coords(d.states)
        np.testing.assert_array_equal(q.X.reshape(-1, 4)[:, 0], c)
        np.testing.assert_array_equal(q.Y.reshape(-1, 4)[:, 0], r)
    assert plot.figure._suptitle.get_text() and plot.caption.endswith(".")


def test_policy_field_of_a_chosen_update(run_dir, kit):
    tables = kit.policy_tables(0, kit.layout_of().num_states)
    d = policy_field(run_dir, update=2, before_update=2).data
    np.testing.assert_allclose(d.after, tables[2][1], atol=1e-7)
    np.testing.assert_allclose(d.before, tables[2][0], atol=1e-7)


def test_arrow_components():
    u, v = arrow_components(np.array([[0.1, 0.2, 0.3, 0.4]]))
    np.testing.assert_allclose(u, [[0, 0.2 * ARROW, 0, -0.4 * ARROW]])
    np.testing.assert_allclose(v, [[-0.1 * ARROW, 0, 0.3 * ARROW, 0]])


def test_triangles_point_the_way_of_their_action(kit):
    layout = kit.layout_of()
    tri = triangle_vertices(layout, np.array([22]))[0]  # cell (row 2, col 4): centre x=4, y=2
    centroids = tri.mean(axis=1)
    np.testing.assert_allclose(centroids - [4, 2], [[0, -1 / 3], [1 / 3, 0], [0, 1 / 3], [-1 / 3, 0]])


def test_shaping_map_total_variation_and_visited_states(run_dir, kit):
    layout = kit.layout_of()
    S = layout.num_states
    before, after = kit.policy_tables(0, S)[3]
    plot = shaping_map(run_dir, update=3)
    d = plot.data
    tv = 0.5 * np.abs(after - before).sum(axis=1)
    tv[layout.wall | layout.terminal] = 0
    np.testing.assert_allclose(d.tv, tv, atol=1e-6)
    visits = kit.visits_of(3, S, _active(layout))
    np.testing.assert_array_equal(d.visits, visits)
    np.testing.assert_array_equal(d.visited, visits > 0)
    assert d.unvisited_share == pytest.approx(tv[visits == 0].sum() / tv.sum(), rel=1e-5)
    ux, mean_tv, _ = d.curve
    np.testing.assert_array_equal(ux, [1, 2, 3])
    np.testing.assert_allclose(mean_tv, [0.1, 0.2, 0.3])


def test_shaping_map_default_is_the_update_that_moved_unvisited_states_most(run_dir, kit):
    layout = kit.layout_of()
    S = layout.num_states
    active = _active(layout)
    moved = {}
    for u, (before, after) in kit.policy_tables(0, S).items():
        tv = 0.5 * np.abs(after - before).sum(axis=1)
        unvisited = np.setdiff1d(active, np.flatnonzero(kit.visits_of(u, S, active)))
        moved[u] = tv[unvisited].sum()
    assert shaping_map(run_dir).data.update == max(moved, key=moved.get)


def test_env_map_and_power_heatmap(run_dir, kit, tmp_path):
    plot = env_map(run_dir)
    assert "goal +1" in plot.caption and "button +10" in plot.caption
    layout = kit.layout_of()
    power = np.linspace(0, 1, layout.num_states)
    paths = power_heatmap(layout, power, np.full(layout.num_states, 0.01), tmp_path / "power", title="POWER")
    assert [p.name for p in paths] == ["power.png", "power.svg"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert (tmp_path / "captions.json").is_file()


def test_procedural_maps_are_drawn_on_the_logged_layout(kit, tmp_path):
    import rlcredit
    from rlcredit.credit.shaping import shaping_frame
    from rlcredit.plots.data import open_run

    env = "rlcredit/CheeseMaze-v0"
    run_dir = kit.write_train_run(tmp_path / "ppo-s0", env=env, credit=False, shaping=False)
    layout = rlcredit.make(env, layout_seed=7).unwrapped.layout
    S = layout.num_states
    pi = np.full((S, 4), 0.25)
    frame = shaping_frame(4, pi, pi, np.zeros(S, dtype=int), layout=layout, layout_seed=7)
    frame.to_parquet(run_dir / "shaping" / "update_000004.parquet")
    run = open_run(run_dir)
    assert run.procedural
    d = policy_field(run).data
    np.testing.assert_array_equal(d.states, np.flatnonzero(~layout.wall & ~layout.terminal))
    other = rlcredit.make(env, layout_seed=8).unwrapped.layout
    assert not np.array_equal(other.wall, layout.wall)  # the layout really is chosen by the file's seed
