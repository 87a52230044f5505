"""Checkpoints that disagree with themselves or ask for absurd networks: one line naming the file, exit 2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import rlcredit
from rlcredit.cli import main
from rlcredit.tracking import CheckpointError
from rlcredit.trainers.load import load_policy


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    rlcredit.train(
        "ppo",
        env="rlcredit/ButtonRoomBridge0-v0",
        steps=64,
        out_dir=out,
        wandb="disabled",
        config={"num_envs": 4, "num_steps": 16, "num_minibatches": 2},
        progress=False,
    )
    return out


def _rehashed(run: Path, tmp_path: Path, edit) -> tuple[Path, Path]:
    """A copy of ``run`` whose newest checkpoint record is edited with a matching hash (a deliberate edit)."""
    import shutil

    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    (js,) = sorted((dst / "checkpoints").glob("ckpt_*.json"))[-1:]
    record = json.loads(js.read_text())
    edit(record["state"]["policy_spec"])
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    record["record_sha256"] = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()
    ).hexdigest()
    js.write_text(json.dumps(record))
    return dst, js


def test_weights_that_do_not_fit_the_spec(run: Path, tmp_path: Path) -> None:
    dst, js = _rehashed(run, tmp_path, lambda spec: spec.update(hidden=[32, 32]))
    with pytest.raises(
        CheckpointError, match=rf"^corrupt checkpoint {js}: weights do not fit its policy_spec \("
    ):
        load_policy(dst)


def test_a_prior_asking_for_a_4_tb_network_is_refused_before_allocating(
    run: Path, tmp_path: Path, capsys
) -> None:
    dst, js = _rehashed(run, tmp_path, lambda spec: spec.update(hidden=[1_000_000, 1_000_000]))
    code = main(
        [
            "plan",
            "--planner",
            "mcts",
            "--prior",
            str(dst),
            "--env",
            "rlcredit/ButtonRoomBridge0-v0",
            "--wandb",
            "disabled",
        ]
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"rlcredit: error: corrupt checkpoint {js}: state 'policy_spec.hidden'"), err[0]
