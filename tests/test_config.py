"""Config loading: strict keys and types, overrides, help rows, exact error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from rlcredit.config import (
    ConfigError,
    FieldHelp,
    apply_overrides,
    dataclass_help,
    load_dataclass,
    parse_value,
    read_toml,
    to_dict,
)


@dataclass(frozen=True)
class PPO:
    """PPO settings."""

    lr: float = field(default=2.5e-4, metadata={"doc": "Adam learning rate."})
    anneal_lr: bool = field(default=True, metadata={"doc": "Decay lr linearly to 0."})
    epochs: int = 4
    hidden: tuple[int, ...] = (64, 64)


@dataclass(frozen=True)
class Train:
    env: str = field(metadata={"doc": "Gymnasium id or map file."})
    obs: Literal["index", "coords", "grid"] = field(default="grid", metadata={"doc": "Observation kind."})
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    clip_vloss: float | None = None
    out: Path | None = None
    pair: tuple[int, str] = (1, "a")
    ppo: PPO = field(default_factory=PPO)

    def __post_init__(self) -> None:
        if self.seeds and min(self.seeds) < 0:
            raise ValueError("seeds must be non-negative")


def test_read_toml_syntax_errors_name_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('a = 1\n[t]\nx = 1\n[t]\ny = "ok"\n')
    with pytest.raises(ConfigError) as e:
        read_toml(bad)
    assert str(e.value) == f"{bad}: line 4, column 3: Cannot declare ('t',) twice"
    bad.write_text("a = 1\nb = [1,\n")
    with pytest.raises(ConfigError) as e:
        read_toml(bad)
    assert str(e.value) == f"{bad}: line 3, column 1: Invalid value (at end of file)"
    assert isinstance(e.value, ValueError)
    good = tmp_path / "good.toml"
    good.write_text('env = "x"\n[ppo]\nlr = 1e-3\n')
    assert read_toml(good) == {"env": "x", "ppo": {"lr": 1e-3}}
    with pytest.raises(FileNotFoundError):
        read_toml(tmp_path / "missing.toml")


def test_load_nested_with_coercions() -> None:
    cfg = load_dataclass(
        Train,
        {
            "env": "rlcredit/ButtonRoom-v0",
            "obs": "index",
            "seeds": [3, 4],
            "clip_vloss": 1,
            "out": "runs/x",
            "pair": [2, "b"],
            "ppo": {"lr": 1, "hidden": [32]},
        },
        source="spec.toml",
    )
    assert cfg == Train(
        env="rlcredit/ButtonRoom-v0",
        obs="index",
        seeds=[3, 4],
        clip_vloss=1.0,
        out=Path("runs/x"),
        pair=(2, "b"),
        ppo=PPO(lr=1.0, hidden=(32,)),
    )
    assert type(cfg.ppo.lr) is float and type(cfg.clip_vloss) is float
    assert isinstance(cfg.ppo.hidden, tuple)
    defaults = load_dataclass(Train, {"env": "e"})
    assert defaults.ppo == PPO() and defaults.clip_vloss is None and defaults.seeds == [0, 1]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"env": "e", "lr2": 1},
            "unknown key 'lr2' in spec.toml (known: clip_vloss, env, obs, out, pair, ppo, seeds)",
        ),
        (
            {"env": "e", "ppo": {"lr2": 1}},
            "unknown key 'ppo.lr2' in spec.toml (known: anneal_lr, epochs, hidden, lr)",
        ),
        ({"env": "e", "ppo": {"lr": "abc"}}, "spec.toml: key 'ppo.lr' expects float, got str 'abc'"),
        ({"env": "e", "ppo": {"lr": True}}, "spec.toml: key 'ppo.lr' expects float, got bool True"),
        ({"env": "e", "ppo": {"epochs": True}}, "spec.toml: key 'ppo.epochs' expects int, got bool True"),
        ({"env": "e", "ppo": {"epochs": 4.0}}, "spec.toml: key 'ppo.epochs' expects int, got float 4.0"),
        ({"env": "e", "ppo": {"anneal_lr": 1}}, "spec.toml: key 'ppo.anneal_lr' expects bool, got int 1"),
        (
            {"env": "e", "ppo": {"hidden": [64, "x"]}},
            "spec.toml: key 'ppo.hidden[1]' expects int, got str 'x'",
        ),
        ({"env": "e", "ppo": 3}, "spec.toml: key 'ppo' expects a table, got int 3"),
        ({"env": 5}, "spec.toml: key 'env' expects str, got int 5"),
        (
            {"env": "e", "obs": "pixels"},
            "spec.toml: key 'obs' must be one of 'index', 'coords', 'grid'; got 'pixels'",
        ),
        ({"env": "e", "clip_vloss": "x"}, "spec.toml: key 'clip_vloss' expects float | None, got str 'x'"),
        (
            {"env": "e", "pair": [1, 2, 3]},
            "spec.toml: key 'pair' expects tuple[int, str], got list [1, 2, 3]",
        ),
        ({"env": "e", "seeds": 3}, "spec.toml: key 'seeds' expects list[int], got int 3"),
        ({"obs": "grid"}, "spec.toml: missing required key 'env'"),
        ({"env": "e", "seeds": [-1]}, "spec.toml: seeds must be non-negative"),
    ],
)
def test_load_errors_are_exact(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_dataclass(Train, data, source="spec.toml")
    assert str(e.value) == message


def test_parse_value_and_apply_overrides() -> None:
    assert parse_value("3e-4") == 3e-4
    assert parse_value("false") is False
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value('"007"') == "007"
    assert parse_value("007") == "007"  # not a TOML integer: kept as text
    assert parse_value("rlcredit/ButtonRoom-v0") == "rlcredit/ButtonRoom-v0"
    data = {"env": "e", "ppo": {"lr": 1e-3}}
    out = apply_overrides(data, ["ppo.lr=3e-4", "ppo.anneal_lr=false", " obs = index ", "new.deep.key=2"])
    assert out == {
        "env": "e",
        "obs": "index",
        "ppo": {"lr": 3e-4, "anneal_lr": False},
        "new": {"deep": {"key": 2}},
    }
    assert data == {"env": "e", "ppo": {"lr": 1e-3}}  # input untouched
    cfg = load_dataclass(Train, apply_overrides({"env": "e"}, ["ppo.lr=3e-4", "ppo.anneal_lr=false"]))
    assert cfg.ppo == PPO(lr=3e-4, anneal_lr=False)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr", "override 'lr' must look like KEY=VALUE (e.g. ppo.lr=3e-4)"),
        ("=3", "override '=3' must look like KEY=VALUE (e.g. ppo.lr=3e-4)"),
        ("ppo..lr=3", "override 'ppo..lr=3' has an empty key segment"),
        ("env.x=1", "override 'env.x=1': 'env' is a str, not a table"),
    ],
)
def test_override_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        apply_overrides({"env": "e"}, [override])
    assert str(e.value) == message


def test_dataclass_help_rows() -> None:
    rows = dataclass_help(Train)
    assert rows[0] == FieldHelp("env", "str", "(required)", "Gymnasium id or map file.")
    assert rows[1] == FieldHelp("obs", "'index' | 'coords' | 'grid'", '"grid"', "Observation kind.")
    assert rows[2] == FieldHelp("seeds", "list[int]", "[0, 1]", "")
    assert rows[3] == FieldHelp("clip_vloss", "float | None", "None", "")
    assert rows[4] == FieldHelp("out", "Path | None", "None", "")
    assert rows[5] == FieldHelp("pair", "tuple[int, str]", '[1, "a"]', "")
    assert rows[6:] == [
        FieldHelp("ppo.lr", "float", "0.00025", "Adam learning rate."),
        FieldHelp("ppo.anneal_lr", "bool", "true", "Decay lr linearly to 0."),
        FieldHelp("ppo.epochs", "int", "4", ""),
        FieldHelp("ppo.hidden", "tuple[int, ...]", "[64, 64]", ""),
    ]
    # every default is shown as the TOML literal an override would take
    parsed = {r.name: parse_value(r.default) for r in rows if r.default not in ("(required)", "None")}
    assert parsed == {
        "obs": "grid",
        "seeds": [0, 1],
        "pair": [1, "a"],
        "ppo.lr": 2.5e-4,
        "ppo.anneal_lr": True,
        "ppo.epochs": 4,
        "ppo.hidden": [64, 64],
    }


def test_to_dict_round_trip() -> None:
    cfg = Train(env="e", out=Path("o"), ppo=PPO(hidden=(8,)))
    data = to_dict(cfg)
    assert data == {
        "env": "e",
        "obs": "grid",
        "seeds": [0, 1],
        "clip_vloss": None,
        "out": "o",
        "pair": [1, "a"],
        "ppo": {"lr": 2.5e-4, "anneal_lr": True, "epochs": 4, "hidden": [8]},
    }
    assert load_dataclass(Train, data) == cfg
