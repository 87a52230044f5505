"""Ray backend on a two-node cluster (``ray.cluster_utils.Cluster``): in place on a shared filesystem, and
shipped through the object store where a node cannot write the driver's experiment directory.

One Ray cluster serves every test here and is always shut down. The head has no CPUs, so every piece runs on
the extra node, as on a cluster whose driver sits on a head node that runs no tasks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

ray = pytest.importorskip("ray")

from rlcredit.experiments import backends  # noqa: E402
from rlcredit.experiments.backends import RayBackend, pack_run_dir, unpack_run_dir  # noqa: E402
from rlcredit.experiments.spec import expand_pieces, load_spec  # noqa: E402
from rlcredit.tracking import rundir  # noqa: E402

QUESTION = "Do pieces come back from another node?"


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    c.add_node(num_cpus=1)
    try:
        ray.init(address=c.address, log_to_driver=False)
        c.wait_for_nodes()
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def _pieces(write_spec: Callable[..., Path], tmp_path: Path) -> list:
    spec_file = write_spec(tmp_path / "tiny.toml", QUESTION, eval={"episodes": 2})
    return expand_pieces(load_spec(spec_file), tmp_path / "exp", wandb="disabled")


def _can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.mark.slow
def test_shared_filesystem_runs_pieces_in_place(
    cluster: object, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    pieces = _pieces(write_spec, tmp_path)
    calls: list[tuple[Any, ...]] = []
    unpack = backends.unpack_run_dir

    def counting_unpack(*a: Any, **k: Any) -> Any:
        calls.append(a)
        return unpack(*a, **k)

    backends.unpack_run_dir = counting_unpack
    try:
        results = RayBackend().run(pieces, lambda r: None)
    finally:
        backends.unpack_run_dir = unpack
    assert [r.status for r in results] == ["done", "done"], [r.error for r in results]
    assert calls == []  # the fast path: nothing shipped
    for p in pieces:
        assert (Path(p.run_dir) / "eval.json").is_file()
    assert not list((tmp_path / "exp").glob(".rlcredit-ray-*"))  # markers removed


@pytest.mark.slow
def test_pieces_ship_back_when_the_node_cannot_write_the_experiment_directory(
    cluster: object, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    pieces = _pieces(write_spec, tmp_path)
    exp = tmp_path / "exp"
    exp.mkdir()
    mounted = False
    write_markers, unpack = backends._write_markers, backends.unpack_run_dir

    def markers_then_read_only(ps, token):
        nonlocal mounted
        out = write_markers(ps, token)
        # From here until every piece is back, the experiment directory is read-only for every process:
        # the tasks on the other node see the marker but cannot write beside it.
        subprocess.run(["mount", "--bind", str(exp), str(exp)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(exp)], check=True)
        mounted = True
        return out

    shipped: list[tuple] = []

    def defer_unpack(*args, **kwargs):
        # Every piece finds the directory read-only: unpacking waits until all have come back.
        shipped.append((args, kwargs))

    ship: Literal["auto", "always", "never"] = "auto"
    if _can_mount():
        backends._write_markers = markers_then_read_only
    else:  # no way to make the directory read-only for the tasks alone: ship every piece instead
        ship = "always"
    backends.unpack_run_dir = defer_unpack
    try:
        results = RayBackend(ship=ship).run(pieces, lambda r: None)
    finally:
        backends._write_markers, backends.unpack_run_dir = write_markers, unpack
        if mounted:
            subprocess.run(["umount", str(exp)], check=False)
    assert [r.status for r in results] == ["done", "done"], [r.error for r in results]
    # Both came back through the object store; nothing was written in the experiment directory meanwhile.
    assert sorted(str(args[1]) for args, _ in shipped) == sorted(p.run_dir for p in pieces)
    assert not [p for p in exp.iterdir() if not p.name.startswith(".rlcredit-ray-")]
    for args, kwargs in shipped:
        unpack(*args, **kwargs)
    for p in pieces:
        run = Path(p.run_dir)
        record = json.loads((run / "eval.json").read_text())
        assert record["piece"] == p.name and record["episodes"] == 2
        assert (run / "config.toml").is_file() and (run / "metrics.csv").is_file()
        for f in run.rglob("*"):
            if f.is_file() and f.suffix in (".json", ".toml", ".csv"):
                assert "rlcredit-piece-" not in f.read_text(), (
                    f"{f} still names the node's temporary directory"
                )
    assert not [p for p in exp.iterdir() if p.name.endswith((".unpack", ".old"))], "staging directories left"


@pytest.mark.slow
def test_chunked_pieces_each_report_once_and_record_the_drivers_commit(
    cluster: object, write_spec: Callable[..., Path], tmp_path: Path
) -> None:
    spec_file = write_spec(tmp_path / "tiny.toml", QUESTION, seeds=3, eval={"episodes": 2})
    pieces = expand_pieces(load_spec(spec_file), tmp_path / "exp", wandb="disabled")
    seen: list[str] = []
    results = RayBackend(chunk=2).run(pieces, lambda r: seen.append(r.name))  # tasks of 2 and 1 pieces
    assert [r.status for r in results] == ["done"] * 3, [r.error for r in results]
    assert sorted(seen) == sorted(p.name for p in pieces)
    commit = rundir.git_state()["git_commit"]  # the driver's, whatever the node's working directory is
    for p in pieces:
        with open(Path(p.run_dir) / "config.toml", "rb") as f:
            assert tomllib.load(f)["_meta"]["git_commit"] == commit


def test_pack_and_unpack_replace_a_run_directory_whole(tmp_path: Path) -> None:
    src = tmp_path / "node" / "ppo-s0"
    (src / "credit").mkdir(parents=True)
    (src / "credit" / "update_000001.parquet").write_bytes(bytes(range(256)) * 10)
    (src / "summary.json").write_text(json.dumps({"last_checkpoint": f"{src}/checkpoints/ckpt_000001.json"}))
    (src / ".rlcredit.lock").write_text("123 host\n")
    dst = tmp_path / "driver" / "ppo-s0"
    dst.mkdir(parents=True)
    (dst / "stale.txt").write_text("from an earlier attempt")
    unpack_run_dir(pack_run_dir(src), dst, rename=(str(src), str(dst)))
    assert sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file()) == [
        "credit/update_000001.parquet",
        "summary.json",
    ]
    assert (dst / "credit" / "update_000001.parquet").read_bytes() == bytes(range(256)) * 10
    assert json.loads((dst / "summary.json").read_text()) == {
        "last_checkpoint": f"{dst}/checkpoints/ckpt_000001.json"
    }
    assert [p.name for p in dst.parent.iterdir()] == ["ppo-s0"]
