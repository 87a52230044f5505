"""Missing, unfinished or damaged pieces and files: ``report`` and ``plot`` say so instead of drawing less."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import rlcredit
from rlcredit.cli import main
from rlcredit.experiments.runner import run_experiment
from rlcredit.experiments.spec import load_spec

QUESTION = "Does the report notice a missing piece?"


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory, write_spec: Callable[..., Path]) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    spec = write_spec(tmp / "tiny.toml", QUESTION, seeds=3, eval={"episodes": 2})
    result = run_experiment(load_spec(spec), out=tmp / "exp", workers=1, wandb="disabled", log=None)
    assert result.ok
    return result.exp_dir


def test_complete_experiment_reports_without_warnings(
    experiment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(experiment)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_missing_and_garbled_pieces_fail_the_report_unless_partial(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(experiment, exp)
    (exp / "vi-s1" / "eval.json").unlink()
    (exp / "vi-s2" / "eval.json").write_text('{"piece": "vi-s2", "agent"')
    assert main(["report", str(exp)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"rlcredit: warning: {exp / 'vi-s1'}: piece vi-s1 has not finished (no eval.json)"
    assert err[1].startswith(f"rlcredit: warning: {exp / 'vi-s2' / 'eval.json'}: unreadable (")
    assert err[2].startswith(f"rlcredit: error: {exp}: 2 pieces missing, unfinished or unreadable")
    assert len(err) == 3

    assert main(["report", str(exp), "--partial"]) == 0
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 2  # the same two warnings, then the report
    table = json.loads((exp / "contrast.json").read_text()) if (exp / "contrast.json").exists() else None
    if table is not None:
        assert "vi-s1" not in json.dumps(table)


def test_flipped_byte_in_a_credit_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    rlcredit.train(
        "ppo",
        env="rlcredit/ButtonRoomBridge0-v0",
        steps=128,
        out_dir=run,
        wandb="disabled",
        config={"num_envs": 4, "num_steps": 16, "num_minibatches": 2},
        progress=False,
    )
    import pyarrow.parquet as pq

    credit = run / "credit" / "update_000002.parquet"
    meta = pq.ParquetFile(credit).metadata.row_group(0)
    chunk = next(
        meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == "applied_weight"
    )
    data = bytearray(credit.read_bytes())
    # One bit inside the data page of the plotted `applied_weight` column: its page checksum no longer matches.
    data[chunk.data_page_offset + chunk.total_compressed_size - 4] ^= 0x01
    credit.write_bytes(bytes(data))
    code = main(["plot", str(run)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"rlcredit: error: {credit}: damaged Parquet file"), err[0]


def test_plot_of_an_experiment_warns_about_a_missing_piece(
    experiment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(experiment, exp)
    shutil.rmtree(exp / "vi-s0")
    assert main(["plot", str(exp), "--no-runs"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rlcredit: warning: {exp / 'vi-s0'}: piece vi-s0 is missing"]


def test_plot_of_an_experiment_redraws_the_specs_own_figures(
    tmp_path: Path, write_spec: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path / "tiny.toml", QUESTION, figures=["discoverability:button"])
    result = run_experiment(load_spec(spec), out=tmp_path / "exp", workers=1, wandb="disabled", log=None)
    figure = result.exp_dir / "plots" / "discoverability_button.png"
    assert figure.is_file()
    figure.unlink()
    assert main(["plot", str(result.exp_dir), "--no-runs"]) == 0
    assert figure.is_file()
    assert "discoverability:button" in capsys.readouterr().out
