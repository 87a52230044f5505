"""Stopping a run with SIGINT/SIGTERM and continuing it: the last update is checkpointed, the resumed run is
the uninterrupted one byte for byte (timing aside), and resuming keeps the run's wandb mode."""

import functools
import os
import signal

import pandas as pd
import pytest

from rlcredit.cli import main
from rlcredit.credit.records import read_credit
from rlcredit.runs.schema import read_config, read_summary
from rlcredit.trainers.loop import TRAINERS, TrainingInterrupted, train

CFG = {"num_envs": 16, "num_steps": 16, "num_minibatches": 2, "lr": 1e-2, "gamma": 0.9, "grad_samples": 16,
       "checkpoint_every": 1000}  # fmt: skip
STEPS = 16 * 16 * 10  # 10 updates; with checkpoint_every 1000 only the last one is checkpointed on its own


@pytest.fixture(autouse=True)
def interactive_signal_handlers():
    """The handlers an interactive `rlcredit` has: a library imported earlier in the same test process (Ray, wandb)
    may have replaced them, and the trainer only takes over a signal whose handler is the default."""
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for sig, handler in old.items():
        signal.signal(sig, handler)


def _signal_during(monkeypatch, update, sig=signal.SIGINT):
    """Deliver ``sig`` to this process in the middle of update ``update`` (after collecting, while learning)."""
    learn = TRAINERS["ppo"].learn

    def learn_and_signal(self, k, lr):
        if k == update:
            os.kill(os.getpid(), sig)
        return learn(self, k, lr)

    monkeypatch.setattr(TRAINERS["ppo"], "learn", learn_and_signal)


def _files(run_dir, update):
    return [
        (run_dir / "checkpoints" / f"ckpt_{update:06d}{ext}").read_bytes()
        for ext in (".safetensors", ".json")
    ]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_the_update_under_way_and_resume_equals_the_uninterrupted_run(
    tmp_path, corridor, monkeypatch, capsys, sig
):
    # What an interactive `rlcredit` has (another library in this test process may have replaced them).
    default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
    old = signal.signal(sig, default)
    try:
        _check_signal(tmp_path, corridor, monkeypatch, capsys, sig, default)
    finally:
        signal.signal(sig, old)


def _check_signal(tmp_path, corridor, monkeypatch, capsys, sig, default):
    env = functools.partial(corridor, slip=0.2)
    kw = {"env": env, "steps": STEPS, "config": CFG, "wandb": "disabled", "progress": False}
    whole = train("ppo", out_dir=tmp_path / "whole", **kw)
    with monkeypatch.context() as m, pytest.raises(TrainingInterrupted) as stopped:
        _signal_during(m, 6, sig)
        train("ppo", out_dir=tmp_path / "cut", **kw)
    cut = tmp_path / "cut"
    assert stopped.value.update == 6 and f"rlcredit train --resume {cut}" in str(stopped.value)
    assert sorted(p.name for p in (cut / "checkpoints").glob("*.json")) == ["ckpt_000006.json"]
    assert len(pd.read_csv(cut / "metrics.csv")) == 6
    assert read_summary(cut).status == "interrupted"
    assert signal.getsignal(sig) is default  # the handler is put back
    capsys.readouterr()

    train(resume=cut, env=env, progress=False)
    assert "resuming from update 6 (global step 1536)" in capsys.readouterr().err
    timing = ["charts/SPS"]
    pd.testing.assert_frame_equal(
        pd.read_csv(whole.dir / "metrics.csv").drop(columns=timing),
        pd.read_csv(cut / "metrics.csv").drop(columns=timing),
        check_exact=True,
    )
    pd.testing.assert_frame_equal(read_credit(whole.dir), read_credit(cut), check_exact=True)
    assert _files(whole.dir, 10) == _files(cut, 10)


def test_cli_train_interrupted_prints_the_resume_command_and_resume_keeps_wandb_disabled(
    tmp_path, monkeypatch, capsys
):
    out = tmp_path / "run"
    argv = ["train", "ppo", "--env", "rlcredit/DelayedCorridor-v0", "--steps", "1024", "--wandb", "disabled",
            "--out", str(out), "--no-progress", "--set", "num_envs=4", "--set", "num_steps=32"]  # fmt: skip
    with monkeypatch.context() as m:
        _signal_during(m, 3)
        assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"continue with: rlcredit train --resume {out}" in err and "checkpoint at update 3" in err
    assert read_config(out).wandb == "disabled"

    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "resuming from update 3" in capsys.readouterr().err
    assert read_summary(out).status == "completed"
    assert not (out / "wandb").exists()  # no offline wandb run was made


def test_resume_honours_a_different_mode_given_and_says_so(tmp_path, corridor, monkeypatch, capsys):
    with monkeypatch.context() as m, pytest.raises(TrainingInterrupted):
        _signal_during(m, 2)
        train(
            "ppo",
            env=corridor,
            steps=STEPS,
            config=CFG,
            out_dir=tmp_path / "r",
            wandb="disabled",
            progress=False,
        )
    config = tmp_path / "r" / "config.toml"
    config.write_text(
        config.read_text().replace('wandb = "disabled"', 'wandb = "offline"', 1)
    )  # as if started so
    assert read_config(tmp_path / "r").wandb == "offline"
    capsys.readouterr()
    train(resume=tmp_path / "r", env=corridor, wandb="disabled", progress=False)
    assert "wandb disabled as asked (the run was started with offline)" in capsys.readouterr().err
    assert not (tmp_path / "r" / "wandb").exists()


def test_an_experiment_keeps_its_wandb_mode(tmp_path):
    from rlcredit.experiments.pieces import prepare_experiment
    from rlcredit.experiments.spec import load_spec, specs_dir

    spec = load_spec(specs_dir() / "demo.toml")
    _, _, info = prepare_experiment(spec, tmp_path / "exp", wandb="disabled")
    assert info["wandb"] == "disabled"
    _, _, info = prepare_experiment(spec, tmp_path / "exp")  # `rlcredit run --resume EXP` gives no mode
    assert info["wandb"] == "disabled"
    _, _, info = prepare_experiment(
        spec, tmp_path / "exp", wandb="offline"
    )  # the runner honours it and says so
    assert info["wandb"] == "disabled"  # the record keeps the mode it was started with
    _, _, fresh = prepare_experiment(spec, tmp_path / "fresh")
    assert fresh["wandb"] == "offline"
