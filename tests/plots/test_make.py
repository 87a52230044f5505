"""Every figure comes from the directory alone; bad paths give one clear line."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from rlcredit.cli import main
from rlcredit.plots import plot_experiment, plot_path, plot_run
from rlcredit.plots.data import labels_for, open_run
from rlcredit.tracking import RunDir

RUN_FIGURES = [
    "env_map",
    "learning_curves",
    "reach",
    "policy_field",
    "shaping_map",
    "credit_map",
    "credit_vs_exact",
]


def test_plot_run_makes_every_figure_from_files(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)  # a finished run, re-plotted wherever it is
    paths = plot_run(copy)
    expected = {f"{n}.{ext}" for n in RUN_FIGURES for ext in ("png", "svg")} | {"episode.gif"}
    assert {p.name for p in paths} == expected
    plots = copy / "plots"
    assert all((plots / name).stat().st_size > 500 for name in expected)
    captions = json.loads((plots / "captions.json").read_text())
    assert set(captions) == {f"{n}.png" for n in RUN_FIGURES} | {"episode.gif"}
    assert all(c.strip().endswith(".") for c in captions.values())
    assert (plots / "reach.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (plots / "reach.svg").read_bytes()[:500]


def test_plot_run_skips_what_does_not_apply(kit, tmp_path):
    run = RunDir.create(tmp_path / "fresh")
    run.write_config({"run": {"kind": "train", "algo": "ppo", "env": kit.ENV, "seed": 0}})
    assert [p.name for p in plot_run(run.path)] == ["env_map.png", "env_map.svg"]
    plan = kit.write_plan_run(tmp_path / "bi")
    assert [p.name for p in plot_run(plan)] == ["env_map.png", "env_map.svg"]


def test_plot_experiment(kit, tmp_path):
    exp = tmp_path / "exp"
    for s in (0, 1):
        kit.write_train_run(exp / f"ppo-s{s}", seed=s, returns=(0.0, 0.5 + s, 1.0))
    kit.write_train_run(exp / "reinforce-s0", algo="reinforce", config={"baseline": "value"})
    kit.write_plan_run(exp / "bi-s0")
    pd.DataFrame(
        {
            "agent": ["ppo", "bi"],
            "env": [kit.ENV] * 2,
            "metric": ["return"] * 2,
            "mean": [1.0, 10.0],
            "ci_low": [0.5, 10.0],
            "ci_high": [1.5, 10.0],
        }
    ).to_csv(exp / "contrast.csv", index=False)
    paths = plot_experiment(exp, per_run=False)
    names = {p.name for p in paths}
    for stem in ("learning_curves", "reach", "credit_vs_exact", "contrast"):
        assert {f"{stem}.png", f"{stem}.svg"} <= names
    assert {"episode_ppo.gif", "episode_reinforce.gif"} <= names
    assert all(p.parent == exp / "plots" for p in paths)
    assert not (exp / "ppo-s0" / "plots" / "reach.png").exists()
    captions = json.loads((exp / "plots" / "captions.json").read_text())
    assert "contrast.png" in captions and "episode_ppo.gif" in captions


def test_plot_path_dispatches(kit, tmp_path):
    exp = tmp_path / "exp"
    run = kit.write_train_run(exp / "group" / "ppo-s0", credit=False, shaping=False)
    assert {p.parent for p in plot_path(exp, per_run=False)} == {exp / "plots"}
    assert {p.parent for p in plot_path(run, per_run=False)} == {run / "plots"}


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "run or experiment directory not found"),
    (lambda p: p, "not a run or experiment directory"),
    (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "not a run or experiment directory"),
])  # fmt: skip
def test_bad_paths_give_one_clear_line(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["plot", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        plot_path(path)


def test_open_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        open_run(tmp_path / "nope")
    with pytest.raises(ValueError, match=r"no config\.toml"):
        open_run(tmp_path)
    (tmp_path / "config.toml").write_text("[something]\nx = 1\n")
    with pytest.raises(ValueError, match=r"config\.toml has no 'algo'"):
        open_run(tmp_path)


def test_cli_plots_a_run(kit, tmp_path, capsys):
    run = kit.write_train_run(tmp_path / "ppo-s0", credit=False, shaping=False)
    assert main(["plot", str(run)]) == 0
    assert "wrote 6 files to" in capsys.readouterr().out
    assert (run / "plots" / "reach.png").is_file()


def test_top_level_config_and_experiment_labels(kit, tmp_path):
    """``rlcredit.train`` keeps algo/env/seed at the top level and the config under the algo's name."""
    a, b = RunDir.create(tmp_path / "a"), RunDir.create(tmp_path / "b")
    for rd, lam in ((a, 0.5), (b, 0.9)):
        rd.write_config({"algo": "ppo", "env": kit.ENV, "seed": 1, "steps": 10, "ppo": {"gae_lambda": lam}})
    runs = [open_run(a.path), open_run(b.path)]
    assert (runs[0].algo, runs[0].env, runs[0].seed) == ("ppo", kit.ENV, 1)
    assert labels_for(runs) == {a.path: "ppo λ=0.5", b.path: "ppo λ=0.9"}
    for rd, agent in ((a, "ppo[gae_lambda=0.5]"), (b, "ppo[gae_lambda=0.9]")):
        (rd.path / "eval.json").write_text(json.dumps({"agent": agent}))
    assert labels_for(runs) == {a.path: "ppo[gae_lambda=0.5]", b.path: "ppo[gae_lambda=0.9]"}


def test_runs_on_other_envs_get_the_curves_only(tmp_path):
    run = RunDir.create(tmp_path / "cartpole")
    run.write_config({"algo": "ppo", "env": "CartPole-v1", "env_kind": "id", "seed": 0, "ppo": {}})
    from rlcredit.tracking import MetricsWriter

    m = MetricsWriter(run.metrics_path)
    for u in (1, 2):
        m.log({"update": u, "global_step": 100 * u, "charts/episodic_return": 10.0 * u})
    assert open_run(run.path).layout is None
    assert [p.name for p in plot_run(run.path)] == ["learning_curves.png", "learning_curves.svg"]
