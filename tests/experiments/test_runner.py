"""End-to-end experiments on both backends: every file is produced, finished pieces are skipped, and a run
that fails or is killed midway is completed by running it again, with nothing lost or counted twice."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from rlcredit.cli import main
from rlcredit.config import read_toml
from rlcredit.experiments import pieces
from rlcredit.experiments.runner import run_experiment
from rlcredit.experiments.spec import load_spec

QUESTION = "Does a tiny PPO press the button that value iteration presses?"
PPO = {"ppo": {"steps": 1024, "config": {"num_envs": 8, "num_steps": 32, "checkpoint_every": 1}}}
TINY = {
    "metrics": ["return", "regret", "success", "reach_button", "exact_reach_button"],
    "figures": ["discoverability"],
    "run_plots": None,
    "envs": [{"id": "rlcredit/ButtonRoomBridge0-v0", "name": "Bridge0"}],
    "trainers": PPO,
    "planners": {"vi": {"episodes": 2}},
    "eval": {"episodes": 10},
}
"""PPO and value iteration on ButtonRoomBridge0 for two seeds, with per-run plots and the discoverability figure."""

RUN_FILES = ["config.toml", "metrics.csv", "summary.json", "eval.json"]
EXP_FILES = ["experiment.toml", "contrast.csv", "contrast.md", "evals.csv", "report.html"]


def spec_file(write_spec: Callable[..., Path], tmp_path: Path, fields: dict[str, Any] = TINY) -> Path:
    return write_spec(tmp_path / "tiny.toml", QUESTION, **fields)


FAST = {**TINY, "figures": None, "run_plots": "none"}
PLANNERS_ONLY = {**FAST, "trainers": None}


def check_experiment(
    exp: Path, pieces: tuple[str, ...] = ("ppo-s0", "vi-s0", "ppo-s1", "vi-s1"), *, figures: bool = True
) -> None:
    for name in EXP_FILES:
        assert (exp / name).is_file(), name
    for piece in pieces:
        for name in RUN_FILES:
            assert (exp / piece / name).is_file(), f"{piece}/{name}"
    if figures:
        assert (exp / "plots" / "discoverability_button.png").is_file()
        assert (exp / "ppo-s0" / "plots" / "env_map.png").is_file()  # run plots of the first seed
        assert not list((exp / "ppo-s1" / "plots").glob("*.png"))

    contrast = pd.read_csv(exp / "contrast.csv")
    assert set(contrast["agent"]) == {"ppo", "vi"} and set(contrast["metric"]) >= {"return", "reach_button"}
    vi = contrast[(contrast["agent"] == "vi") & (contrast["metric"] == "return")].iloc[0]
    assert vi["mean"] == 10.0 and vi["optimal"] == 10.0 and vi["n"] == 2  # value iteration presses the button
    evals = pd.read_csv(exp / "evals.csv")
    assert len(evals) == len(pieces)
    record = json.loads((exp / "ppo-s0" / "eval.json").read_text())
    assert record["steps"] == 1024 and set(record["envs"]) == {"Bridge0"}

    report = (exp / "report.html").read_text()
    assert "Does a tiny PPO press the button" in report and "<table>" in report
    assert "<th>button</th>" in report and "<th>exact P(button)</th>" in report
    if figures:
        captions = json.loads((exp / "plots" / "captions.json").read_text())
        assert "data:image/png;base64," in report
        assert captions["discoverability_button.png"][:40] in report.replace("&#x27;", "'")


@pytest.mark.slow
def test_local_process_pool_end_to_end_then_resume_skips(write_spec, tmp_path, capsys):
    exp, spec = tmp_path / "exp", spec_file(write_spec, tmp_path)
    assert main(["run", str(spec), "--out", str(exp), "--workers", "2", "--wandb", "offline"]) == 0
    out = capsys.readouterr().out
    assert "local, 2 worker processes" in out and f"report: {exp.resolve()}" in out
    check_experiment(exp)
    # every piece is its own wandb run (one group per experiment), plus the contrast table's run
    for piece in ("ppo-s0", "vi-s1"):
        assert list((exp / piece / "wandb").glob("offline-run-*"))
    assert list((exp / "wandb").glob("offline-run-*"))

    stamp = {p: (exp / p / "eval.json").stat().st_mtime_ns for p in ("ppo-s0", "vi-s1")}
    assert main(["run", str(spec), "--out", str(exp), "--wandb", "disabled"]) == 0
    out = capsys.readouterr().out
    assert "4 already finished, 0 to run" in out
    assert {p: (exp / p / "eval.json").stat().st_mtime_ns for p in stamp} == stamp


@pytest.mark.slow
def test_failed_piece_is_finished_by_resume(write_spec, tmp_path, monkeypatch, capsys):
    exp = tmp_path / "exp"
    original = pieces._evaluate_trained

    def flaky(piece):
        if piece.seed == 1:
            raise RuntimeError("disk full")
        return original(piece)

    monkeypatch.setattr(pieces, "_evaluate_trained", flaky)
    assert (
        main(
            [
                "run",
                str(spec_file(write_spec, tmp_path, FAST)),
                "--out",
                str(exp),
                "--workers",
                "1",
                "--wandb",
                "disabled",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out
    assert "ppo-s1  FAILED" in out and "RuntimeError: disk full" in out and f"--resume {exp.resolve()}" in out
    assert not (exp / "ppo-s1" / "eval.json").exists()
    assert (exp / "ppo-s1" / "summary.json").is_file()  # its training finished before evaluation failed
    assert "ppo-s1" in (exp / "report.html").read_text()  # the report lists it as unfinished
    trained = (exp / "ppo-s1" / "summary.json").stat().st_mtime_ns

    monkeypatch.setattr(pieces, "_evaluate_trained", original)
    assert main(["run", "--resume", str(exp), "--workers", "1", "--wandb", "disabled"]) == 0
    out = capsys.readouterr().out
    assert "3 already finished, 1 to run" in out and "ppo-s1" in out
    assert (exp / "ppo-s1" / "summary.json").stat().st_mtime_ns == trained  # not trained again
    check_experiment(exp, figures=False)


@pytest.mark.slow
def test_killed_experiment_resumes_from_checkpoint_with_nothing_lost(write_spec, tmp_path):
    long_ppo = {"ppo": {"steps": 32768, "config": {"num_envs": 8, "num_steps": 32, "checkpoint_every": 4}}}
    spec = spec_file(write_spec, tmp_path, {**FAST, "seeds": 1, "trainers": long_ppo})
    exp = tmp_path / "exp"
    cmd = [
        sys.executable,
        "-m",
        "rlcredit.cli",
        "run",
        str(spec),
        "--out",
        str(exp),
        "--workers",
        "1",
        "--wandb",
        "disabled",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpts = exp / "ppo-s0" / "checkpoints"
    try:
        deadline = time.monotonic() + 120
        while len(list(ckpts.glob("ckpt_*.json"))) < 2:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (exp / "ppo-s0" / "summary.json").exists()  # killed mid-training
    done_before = len(pd.read_csv(exp / "ppo-s0" / "metrics.csv"))
    assert 0 < done_before < 128

    result = run_experiment(load_spec(spec), out=exp, workers=1, wandb="disabled", log=None)
    assert result.ok and [r.status for r in result.results] == ["done", "done"]
    metrics = pd.read_csv(exp / "ppo-s0" / "metrics.csv")
    assert metrics["update"].tolist() == list(range(1, 129))  # every update exactly once
    assert metrics["global_step"].iloc[-1] == 32768
    assert (metrics["global_step"].diff().dropna() == 256).all()  # no step lost or counted twice
    assert json.loads((exp / "ppo-s0" / "summary.json").read_text())["status"] == "completed"

    assert (exp / "ppo-s0" / "eval.json").is_file() and (exp / "vi-s0" / "eval.json").is_file()


@pytest.fixture(scope="session")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_backend_end_to_end(write_spec, tmp_path, ray_session, capsys):
    exp, spec = tmp_path / "exp", spec_file(write_spec, tmp_path)
    assert main(["run", str(spec), "--out", str(exp), "--backend", "ray", "--wandb", "disabled"]) == 0
    assert "ray (running session, 2 CPUs)" in capsys.readouterr().out
    assert ray_session.is_initialized()  # a session the caller started is left running
    check_experiment(exp)


@pytest.mark.slow
def test_report_command_rebuilds_the_report(write_spec, tmp_path, capsys):
    exp = tmp_path / "exp"
    assert (
        main(
            [
                "run",
                str(spec_file(write_spec, tmp_path, PLANNERS_ONLY)),
                "--out",
                str(exp),
                "--workers",
                "1",
                "--wandb",
                "disabled",
            ]
        )
        == 0
    )
    (exp / "report.html").unlink()
    capsys.readouterr()
    assert main(["report", str(exp)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(exp / "report.html"))
    assert "value iteration presses" in (exp / "report.html").read_text()


def test_sweep_command_runs_the_grid(write_spec, tmp_path, capsys):
    exp = tmp_path / "exp"
    argv = [
        "sweep",
        str(spec_file(write_spec, tmp_path, PLANNERS_ONLY)),
        "--set",
        "vi.config.gamma=0.05,0.99",
        "--seeds",
        "1",
        "--out",
        str(exp),
        "--workers",
        "1",
        "--wandb",
        "disabled",
    ]
    assert main(argv) == 0
    contrast = pd.read_csv(exp / "contrast.csv")
    assert sorted(set(contrast["agent"])) == ["vi[gamma=0.05]", "vi[gamma=0.99]"]
    returns = contrast[contrast["metric"] == "return"].set_index("agent")["mean"]
    # with gamma 0.05 the +1 goal two steps away beats the +10 button three steps away: 0.05 > 10 * 0.05**2
    assert returns["vi[gamma=0.05]"] == 1.0 and returns["vi[gamma=0.99]"] == 10.0
    assert sorted(p.name for p in exp.iterdir() if p.is_dir() and p.name.startswith("vi")) == [
        "vi-gamma0.05-s0",
        "vi-gamma0.99-s0",
    ]


def test_same_out_needs_the_same_spec_and_more_seeds_extend_it(write_spec, tmp_path, capsys):
    exp = tmp_path / "exp"
    args = ["--out", str(exp), "--workers", "1", "--wandb", "disabled"]
    assert main(["run", str(spec_file(write_spec, tmp_path, PLANNERS_ONLY)), *args]) == 0
    changed = spec_file(write_spec, tmp_path, {**PLANNERS_ONLY, "planners": {"vi": {"episodes": 3}}})
    assert main(["run", str(changed), *args]) == 2
    assert "different spec (first difference: 'planners.vi.episodes')" in capsys.readouterr().err
    assert main(["run", str(spec_file(write_spec, tmp_path, PLANNERS_ONLY)), *args, "--seeds", "3"]) == 0
    assert "2 already finished, 1 to run" in capsys.readouterr().out
    assert (exp / "vi-s2" / "eval.json").is_file()
    assert read_toml(exp / "experiment.toml")["seeds"] == 3


def test_demo_command_prints_the_report_path_last(write_spec, tmp_path, monkeypatch, capsys):
    import rlcredit.cli.experiments

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    write_spec(shipped / "demo.toml", QUESTION, **PLANNERS_ONLY)
    monkeypatch.setattr(rlcredit.cli.experiments, "specs_dir", lambda: shipped)
    exp = tmp_path / "demo"
    assert main(["demo", "--out", str(exp), "--wandb", "disabled", "--workers", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str((exp / "report.html").resolve()) and (exp / "report.html").is_file()
    assert any(line.strip().startswith("vi") and "return +10.00" in line for line in lines)
