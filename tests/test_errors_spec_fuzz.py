"""Malformed experiment specs through the real ``rlcredit run`` entry point.

Every spec below is wrong in one way (syntax, encoding, a type, a range, a name, an unknown key, an
impossible combination). Each must give exit status 2, exactly one line on stderr that names the spec
file, no traceback, and nothing written (no experiment directory, no ``runs/``). Most go through
``main()`` in this process; a handful go through a real ``rlcredit`` subprocess.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from rlcredit.cli import main

# A valid, tiny spec: were a mutation to leave it valid, the run would finish in seconds (and fail the test).
BASE: dict[str, Any] = {
    "name": "fuzz",
    "question": "Does a malformed spec fail cleanly?",
    "seeds": 1,
    "metrics": ["return", "success"],
    "run_plots": "none",
    "envs": [{"id": "rlcredit/ButtonRoomBridge0-v0", "name": "B0"}],
    "trainers": {"ppo": {"steps": 64, "config": {"num_envs": 4, "num_steps": 16}}},
    "planners": {"vi": {"episodes": 1}},
    "eval": {"episodes": 1},
}

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path (``trainers.ppo.config.lr``; ``envs.0.id`` indexes lists)."""

    def mutate(data: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = data
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = data
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        del node[last]

    return mutate


def _test_variant(**kwargs: Any) -> Mutation:
    return _set(
        "envs.0.test",
        ["rlcredit/ButtonRoomBridge0-v0", {"id": "rlcredit/ButtonRoomBridge0-v0", "name": "T", **kwargs}],
    )


def _mutations() -> Iterator[tuple[str, Mutation]]:
    inf, nan = float("inf"), float("nan")
    # --- top level
    for value in ("", ".", "..", "a" * 101, "a/b", "has space", "ü", 7, ["x"]):
        yield f"name={value!r:.20}", _set("name", value)
    yield "question missing", _drop("question")
    yield "question int", _set("question", 3)
    yield "envs missing", _drop("envs")
    yield "envs empty", _set("envs", [])
    yield "envs int", _set("envs", 5)
    for value in ([], 0, -1, 1.5, "3", [1, 1], [-1], [True], [0.5], 10**9, list(range(100_001)), True):
        yield f"seeds={str(value)[:20]}", _set("seeds", value)
    yield "unknown top key", _set("seedz", 3)
    yield "unknown eval key", _set("eval.episodez", 3)
    yield "metrics unknown", _set("metrics", ["return", "happiness"])
    yield "metrics str", _set("metrics", "return")
    yield "figures unknown", _set("figures", ["fancy"])
    yield "figures power gamma 1", _set("figures", ["power:1.0"])
    yield "figures discoverability kind", _set("figures", ["discoverability:dragon"])
    yield "figures history without kind", _set("figures", ["history"])
    yield "figures history kind", _set("figures", ["history:dragon"])
    yield (
        "figures history procedural",
        lambda d: d.update(envs=[{"id": "rlcredit/CheeseMaze-v0"}], figures=["history:cheese"]),
    )
    yield "run_plots bad", _set("run_plots", "some")
    yield "eval.episodes 0", _set("eval.episodes", 0)
    yield "eval.episodes huge", _set("eval.episodes", 10**12)
    yield "eval.episodes float", _set("eval.episodes", 2.5)
    yield "eval.greedy str", _set("eval.greedy", "yes")
    yield "eval.regions bad", _set("eval.regions", {"corner": "top-middle-99"})
    yield "eval.regions int", _set("eval.regions", {"corner": 3})
    yield "description list", _set("description", ["a"])
    yield "no agents", lambda d: (d.pop("trainers"), d.pop("planners"))
    yield "agent named both", _set("planners.ppo", {"episodes": 1})
    yield "agent name bad", _set("trainers", {"p p": {"steps": 64}})
    yield "agent name dot", _set("planners", {"..": {"algo": "vi"}})
    # --- envs and test variants
    yield "env id unknown", _set("envs.0.id", "rlcredit/NoSuchRoom-v0")
    yield "env id empty", _set("envs.0.id", "")
    yield "env id int", _set("envs.0.id", 3)
    yield "env map missing", _set("envs.0.id", "missing_map.toml")
    yield "env name dotdot", _set("envs.0.name", "..")
    yield "env name long", _set("envs.0.name", "n" * 101)
    yield "env name slash", _set("envs.0.name", "a/b")
    yield "env obs bad", _set("envs.0.obs", "pixels")
    yield "env kwargs with trainers", _set("envs.0.kwargs", {"slip": 0.1})
    yield "env unknown key", _set("envs.0.colour", "red")
    yield "two envs same name", lambda d: d["envs"].append(dict(d["envs"][0]))
    yield "test id unknown", _set("envs.0.test", ["rlcredit/Nope-v0"])
    yield (
        "test names clash",
        _set("envs.0.test", ["rlcredit/ButtonRoomBridge0-v0", "rlcredit/ButtonRoomBridge0-v0"]),
    )
    yield "test kwargs unknown", _test_variant(kwargs={"colour": 1})
    for key, value in (
        ("time_limit", 0),
        ("time_limit", -5),
        ("time_limit", 10**9),
        ("time_limit", 2.5),
        ("slip", 1.5),
        ("slip", -0.1),
        ("slip", nan),
        ("slip", "x"),
        ("gamma", 1.5),
        ("gamma", 0.0),
        ("gamma", nan),
        ("step_cost", inf),
        ("step_cost", nan),
        ("step_cost", 1e308),
        ("layout_seed", -1),
        ("layout_seed", "a"),
        ("num_layouts", 0),
    ):
        yield f"test kwargs {key}={value!r}", _test_variant(kwargs={key: value})
    yield "test name bad", _test_variant(name="..")
    # --- trainers
    for value in (0, -1, "x", 1.5, 10**15, True):
        yield f"trainer steps={value!r}", _set("trainers.ppo.steps", value)
    yield "trainer steps missing", _drop("trainers.ppo.steps")
    yield "trainer algo unknown", _set("trainers.ppo.algo", "sac")
    yield "trainer table name unknown", _set("trainers", {"a2c": {"steps": 64}})
    yield "trainer unknown key", _set("trainers.ppo.stepz", 3)
    yield "trainer config str", _set("trainers.ppo.config", "lr=1")
    for key, value in (
        ("lr", -1e-3),
        ("lr", nan),
        ("lr", inf),
        ("adam_eps", 0.0),
        ("gae_lambda", 1.5),
        ("gae_lambda", -0.1),
        ("clip_coef", -0.2),
        ("max_grad_norm", -1.0),
        ("max_grad_norm", inf),
        ("target_kl", 0.0),
        ("hidden", [0]),
        ("hidden", [-4, 4]),
        ("hidden", "64"),
        ("ent_coef", nan),
        ("vf_coef", inf),
        ("obs", "pixels"),
        ("torch_threads", 4096),
        ("num_envs", 0),
        ("num_steps", 0),
        ("num_minibatches", 3),
        ("update_epochs", 0),
        ("gamma", 1.5),
        ("network", "transformer"),
        ("credit_every", 0),
        ("unknown_field", 1),
    ):
        yield f"ppo config {key}={value!r}", _set(f"trainers.ppo.config.{key}", value)
    yield (
        "reinforce baseline bad",
        _set("trainers.reinforce", {"steps": 64, "config": {"baseline": "median"}}),
    )
    yield (
        "obs contradicts env",
        lambda d: (_set("envs.0.obs", "coords")(d), _set("trainers.ppo.config.obs", "grid")(d)),
    )
    # --- planners
    for value in (0, -1, 10**12, "many", 1.5):
        yield (
            f"mcts num_simulations={value!r}",
            _set("planners.mcts", {"episodes": 1, "config": {"num_simulations": value}}),
        )
    yield "mcts unknown key", _set("planners.mcts", {"episodes": 1, "config": {"simulations": 5}})
    yield "planner episodes 0", _set("planners.vi.episodes", 0)
    yield "planner episodes huge", _set("planners.vi.episodes", 10**12)
    yield "planner eval_episodes 0", _set("planners.vi.eval_episodes", 0)
    yield "planner algo unknown", _set("planners.vi.algo", "astar")
    yield "planner config bad key", _set("planners.vi.config", {"horizon": "x"})
    # --- sweeps
    yield "sweep agent unknown", _set("sweep", {"sac.config.lr": [1e-3]})
    yield "sweep path bad", _set("sweep", {"ppo.lr": [1e-3]})
    yield "sweep empty", _set("sweep", {"ppo.config.lr": []})
    yield "sweep bad value", _set("sweep", {"ppo.config.lr": [1e-3, -1.0]})
    yield "sweep steps zero", _set("sweep", {"ppo.steps": [0]})
    yield "sweep not a list", _set("sweep", {"ppo.config.lr": 1e-3})


# Specs that are not valid TOML (or not text) at all.
RAW: dict[str, bytes] = {
    "syntax: unclosed string": b'name = "fuzz\nquestion = "q"\n',
    "syntax: missing value": b"name =\n",
    "syntax: duplicate key": b'name = "a"\nname = "b"\n',
    "syntax: bad table": b"[trainers.ppo\nsteps = 1\n",
    "not utf-8": b'name = "\xff\xfe"\nquestion = "q"\n',
    "binary junk": bytes(range(256)),
    "empty file": b"",
    "deep nesting": b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep inline tables": b"x = " + b"{a = " * 3000 + b"1" + b"}" * 3000 + b"\n",
}


def _cases() -> list[tuple[str, bytes]]:
    cases = []
    for name, mutate in _mutations():
        data = copy.deepcopy(BASE)
        mutate(data)
        cases.append((name, tomli_w.dumps(data).encode()))  # nan and inf are TOML too
    cases += list(RAW.items())
    return cases


CASES = _cases()


def test_there_are_at_least_100_malformed_specs() -> None:
    assert len(CASES) >= 100
    assert len({name for name, _ in CASES}) == len(CASES)


def _check(code: int, err: str, spec: Path, out: Path, workdir: Path) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert str(spec) in lines[0] or spec.name in lines[0], lines[0]
    assert not out.exists(), "an experiment directory was written"
    assert sorted(p.name for p in workdir.iterdir()) == [spec.name], "something was written beside the spec"


@pytest.mark.parametrize(("name", "text"), CASES, ids=[name for name, _ in CASES])
def test_malformed_spec_is_one_line_exit_2(
    name: str, text: bytes, tmp_path: Path, capsys, monkeypatch
) -> None:
    workdir = tmp_path / "w"
    workdir.mkdir()
    spec = workdir / "bad.toml"
    spec.write_bytes(text)
    out = tmp_path / "exp"
    monkeypatch.chdir(workdir)
    code = main(["run", str(spec), "--out", str(out), "--workers", "1", "--wandb", "disabled"])
    _check(code, capsys.readouterr().err, spec, out, workdir)


SUBPROCESS = ["name='..'", "seeds=[]", "ppo config adam_eps=0.0", "not utf-8", "deep nesting"]


@pytest.mark.parametrize("name", SUBPROCESS)
def test_malformed_spec_through_the_installed_command(name: str, tmp_path: Path) -> None:
    text = dict(CASES)[name]
    workdir = tmp_path / "w"
    workdir.mkdir()
    spec = workdir / "bad.toml"
    spec.write_bytes(text)
    out = tmp_path / "exp"
    env = {**os.environ, "WANDB_MODE": "disabled"}
    p = subprocess.run(
        [sys.executable, "-m", "rlcredit.cli", "run", str(spec), "--out", str(out), "--workers", "1"],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    _check(p.returncode, p.stderr, spec, out, workdir)
