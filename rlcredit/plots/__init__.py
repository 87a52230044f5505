"""Explanatory figures, built only from run-directory files (never live objects), so any run can be re-plotted.

>>> from rlcredit.plots import plot_run, plot_experiment
>>> plot_run("runs/ppo-ButtonRoom-...")        # doctest: +SKIP  -> RUN_DIR/plots/*.png|svg|gif + captions.json

Figure functions return a :class:`~rlcredit.plots.style.Plot` (figure, name, title, caption and the arrays
drawn, in ``.data``); ``plot.save(plots_dir)`` writes PNG + SVG and records the caption.
"""

from rlcredit.plots.animate import Episode, episode_animation, rollout
from rlcredit.plots.contrast import CONTRAST_COLUMNS, contrast_bars, read_contrast
from rlcredit.plots.credit import credit_map, credit_vs_exact
from rlcredit.plots.curves import learning_curves, reach_curves
from rlcredit.plots.data import Run, find_runs, labels_for, open_run
from rlcredit.plots.grid import env_map, policy_field, power_heatmap, shaping_map
from rlcredit.plots.make import plot_experiment, plot_path, plot_run
from rlcredit.plots.style import Plot

__all__ = [
    "CONTRAST_COLUMNS",
    "Episode",
    "Plot",
    "Run",
    "contrast_bars",
    "credit_map",
    "credit_vs_exact",
    "env_map",
    "episode_animation",
    "find_runs",
    "labels_for",
    "learning_curves",
    "open_run",
    "plot_experiment",
    "plot_path",
    "plot_run",
    "policy_field",
    "power_heatmap",
    "reach_curves",
    "read_contrast",
    "rollout",
    "shaping_map",
]
