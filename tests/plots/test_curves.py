"""Curves draw the metrics columns as stored; seed bands and planner lines are the right numbers."""

from __future__ import annotations

import numpy as np
import pytest

from rlcredit.plots.curves import bootstrap_band, learning_curves, reach_curves, seed_band


def test_reach_curve_is_the_metrics_column(run_dir, kit):
    d = reach_curves(run_dir).data
    assert list(d.panels) == ["goal", "button", "intended"]
    g = d.panels["button"]["ppo"]
    np.testing.assert_array_equal(g.x[0], kit.STEPS)
    np.testing.assert_array_equal(g.y[0], [0.1, 0.05, 0.01])
    np.testing.assert_allclose(d.panels["goal"]["ppo"].y[0], [0.5, 0.6, 0.7])
    assert g.grid is None  # one seed: no band


def test_reach_curves_of_seeds_and_planners(kit, tmp_path):
    reach = {0: (0.1, 0.05, 0.01), 1: (0.2, 0.1, 0.0), 2: (0.3, 0.0, 0.0)}
    runs = [
        kit.write_train_run(tmp_path / f"ppo-s{s}", seed=s, reach_button=r, credit=False, shaping=False)
        for s, r in reach.items()
    ]
    runs.append(kit.write_plan_run(tmp_path / "bi"))
    for scale in ("logit", "log", "linear"):
        d = reach_curves(runs, kinds=["button"], scale=scale).data
    g = d.panels["button"]["ppo"]
    for s, y in zip(range(3), g.y):
        np.testing.assert_array_equal(y, reach[s])
    # the seeds share their steps, so the interpolated mean at the logged steps is the plain mean
    np.testing.assert_allclose(np.interp(kit.STEPS, g.grid, g.mean), np.mean(list(reach.values()), axis=0))
    np.testing.assert_allclose(np.interp(kit.STEPS, g.grid, g.low), np.min(list(reach.values()), axis=0))
    assert d.references["button"] == {"bi (planner, exact)": 1.0}


def test_a_planner_episode_rate_is_never_labelled_exact(kit, tmp_path):
    """MCTS has no exact reach figure, only the rate over its episodes: the line and the caption say so."""
    import json

    runs = [kit.write_train_run(tmp_path / "ppo", credit=False, shaping=False)]
    mcts = kit.write_plan_run(tmp_path / "mcts", algo="mcts")
    summary = json.loads((mcts / "summary.json").read_text())
    for key in [k for k in summary if k.startswith("exact/")]:
        del summary[key]
    summary["reach_rate/button"] = 0.5
    (mcts / "summary.json").write_text(json.dumps(summary))
    plot = reach_curves([*runs, mcts, kit.write_plan_run(tmp_path / "bi")], kinds=["button"])
    assert plot.data.references["button"] == {
        "mcts (planner, rate over its test episodes)": 0.5,
        "bi (planner, exact)": 1.0,
    }
    assert (
        "horizontal lines of mcts: the fraction of the planner's test episodes that reached it (a sample, not "
        "exact)" in plot.caption
    )
    assert "horizontal lines of bi: the planner's exact probability" in plot.caption


def _vi_with_exact_figures_only_in_eval(kit, path, exact_button: float):
    """A planner run as an experiment leaves it: ``summary.json`` has only episode rates, ``eval.json`` the
    exact reach probabilities of its policy on its own env."""
    import json

    vi = kit.write_plan_run(path, algo="vi")
    summary = json.loads((vi / "summary.json").read_text())
    for key in [k for k in summary if k.startswith("exact/")]:
        del summary[key]
    summary["reach_rate/button"] = 1.0  # a rate that differs from the exact figure below
    (vi / "summary.json").write_text(json.dumps(summary))
    evaluation = {
        "agent": "vi",
        "kind": "plan",
        "train_env": "E",
        "envs": {"E": {"reach_button": 1.0, "exact_reach_button": exact_button}},
    }
    (vi / "eval.json").write_text(json.dumps(evaluation))
    return vi


def test_a_planner_with_an_exact_figure_in_its_evaluation_is_drawn_and_described_as_exact(kit, tmp_path):
    """The demo's vi runs keep their exact reach probability in eval.json (the contrast table's
    'exact P(button)'): the reach figure must draw that number and call it exact, while MCTS stays a sample."""
    import json

    runs = [kit.write_train_run(tmp_path / "ppo", credit=False, shaping=False)]
    vi = _vi_with_exact_figures_only_in_eval(kit, tmp_path / "vi", exact_button=0.75)
    mcts = kit.write_plan_run(tmp_path / "mcts", algo="mcts")
    summary = json.loads((mcts / "summary.json").read_text())
    for key in [k for k in summary if k.startswith("exact/")]:
        del summary[key]
    summary["reach_rate/button"] = 0.5
    (mcts / "summary.json").write_text(json.dumps(summary))
    plot = reach_curves([*runs, vi, mcts], kinds=["button"])
    assert plot.data.references["button"] == {
        "vi (planner, exact)": 0.75,  # eval.json's exact figure, not the summary's episode rate 1.0
        "mcts (planner, rate over its test episodes)": 0.5,
    }
    assert "horizontal lines of vi: the planner's exact probability" in plot.caption
    assert "horizontal lines of mcts: the fraction of the planner's test episodes" in plot.caption
    assert "vi, " not in plot.caption and "(mcts, vi" not in plot.caption


def test_planner_names_at_one_height_never_overlap_and_the_legend_clears_the_title(kit, tmp_path):
    """Two planners that both always reach the button: their lines coincide, their names must not."""
    import json

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Annotation

    # three seeds: the long legend entry "ppo (mean of 3 seeds, range over 3 seeds)" reaches the title
    runs = [
        kit.write_train_run(tmp_path / f"ppo-s{s}", seed=s, credit=False, shaping=False) for s in range(3)
    ]
    planners = []
    for algo in ("vi", "mcts"):
        p = kit.write_plan_run(tmp_path / algo, algo=algo)
        summary = json.loads((p / "summary.json").read_text())
        summary["exact/reach_button"] = 1.0
        (p / "summary.json").write_text(json.dumps(summary))
        planners.append(p)
    plot = reach_curves([*runs, *planners], kinds=["goal", "button", "intended"])
    fig = plot.figure
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts if isinstance(t, Annotation)]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), f"planner names drawn over each other in {ax.get_title()!r}"
    title = fig.get_suptitle()
    title_box = next(t for t in fig.texts if t.get_text() == title).get_window_extent(renderer)
    # below the title's whole line, so no title (however long) can run into it
    assert fig.legends and fig.legends[0].get_window_extent(renderer).y1 < title_box.y0


def test_learning_curves_band_and_planner_line(kit, tmp_path):
    returns = {0: (0.0, 0.5, 1.0), 1: (1.0, 1.5, 2.0), 2: (2.0, 2.5, 3.0), 3: (0.0, 0.0, 0.0)}
    runs = [
        kit.write_train_run(tmp_path / f"ppo-s{s}", seed=s, returns=r, credit=False, shaping=False)
        for s, r in returns.items()
    ]
    runs.append(kit.write_plan_run(tmp_path / "bi"))
    plot = learning_curves(runs)
    g = plot.data.panels[kit.ENV]["ppo"]
    Y = np.array(list(returns.values()))
    np.testing.assert_allclose(np.interp(kit.STEPS, g.grid, g.mean), Y.mean(axis=0))
    assert np.all(g.low <= g.mean + 1e-12) and np.all(g.mean <= g.high + 1e-12)
    assert np.all(g.low >= Y.min(axis=0).min() - 1e-12) and np.all(g.high <= Y.max() + 1e-12)
    assert plot.data.references[kit.ENV] == {"bi": 10.0}
    minmax = learning_curves(runs, band="minmax").data.panels[kit.ENV]["ppo"]
    np.testing.assert_allclose(np.interp(kit.STEPS, minmax.grid, minmax.high), Y.max(axis=0))
    with pytest.raises(ValueError, match="band"):
        learning_curves(runs, band="sd")


def test_bootstrap_band_of_identical_seeds_has_no_width():
    mean, lo, hi = bootstrap_band(np.tile([1.0, 2.0, 3.0], (5, 1)))
    np.testing.assert_allclose([mean, lo, hi], [[1, 2, 3]] * 3)
    rng = np.random.default_rng(1)
    v = rng.normal(size=(200, 1))
    _, lo, hi = bootstrap_band(v)
    se = v.std() / np.sqrt(200)
    assert hi[0] - lo[0] == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_seed_band_grid_is_the_common_range():
    xs = [np.array([0.0, 10.0]), np.array([2.0, 8.0, 12.0])]
    grid, mean, _, _ = seed_band(xs, xs, points=7)
    np.testing.assert_array_equal(grid, [2.0, 8.0, 10.0])  # the logged steps inside the common range
    np.testing.assert_allclose(mean, grid)
    grid, _, _, _ = seed_band(xs, xs, points=2)
    np.testing.assert_array_equal(grid, [2.0, 10.0])


def test_curves_need_a_trainer(kit, tmp_path):
    with pytest.raises(ValueError, match="trainer"):
        reach_curves([kit.write_plan_run(tmp_path / "bi")])
