"""Malformed maps through the command line: one line naming the file (with line and column), exit status 2, no
traceback, nothing written. Hand-written cases for each validation rule, then a seeded fuzzer."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rlcredit.cli import main

GOOD = '''name = "Good"
description = "a valid map the fuzzer breaks"
gamma = 0.95
time_limit = 20
slip = 0.1
step_cost = -0.01
map = """
########
#S..B..#
#.#..K.#
#..D.T.#
#C...WG#
########
"""

[flags]
watched = { p = 0.5 }

[legend]
B = { kind = "box", cornered = -1.0 }
K = { kind = "key", name = "red" }
D = { kind = "door", name = "red" }
T = { kind = "tomato", reward_per_step = 0.01 }
C = { kind = "coin", reward = 0.5 }
W = { kind = "switch", flag = "watched" }
G = { kind = "goal", reward = 1.0, terminal = true, when = "watched" }

[[objects]]
kind = "box"
at = [4, 2]
cornered = -1.0
'''


def _run_cli(tmp_path: Path, text: str | bytes, capsys) -> tuple[int, str, str, set[str]]:
    p = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    before = set(os.listdir(tmp_path))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(["plan", "--env", str(p)])
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    return code, out, err, set(os.listdir(tmp_path)) - before


def _assert_one_line_error(result, path: Path, pattern: str | None = None) -> None:
    code, out, err, new = result
    assert code == 2, (code, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err, err
    assert out == "" and not new, (out, new)
    if pattern is not None:
        assert re.search(pattern, err), err


def test_the_fuzzers_base_map_is_valid(tmp_path, capsys):
    code, out, err, _ = _run_cli(tmp_path, GOOD, capsys)
    assert code == 0 and err == "" and "Good:" in out


CASES = [
    ("at = [4, 2]", "at = [0, 2]", r":28:1: box at \[0, 2\] is on a wall"),
    ("at = [4, 2]", "at = [1, 4]", r":28:1: box at \[1, 4\]: the map already has a box"),
    ("at = [4, 2]", "at = [9, 2]", r":28:1: box at \[9, 2\] is outside the 6x8 map"),
    (
        'flag = "watched"',
        'flag = "wached"',
        r":25:\d+: legend entry 'W': 'flag' names an unknown flag 'wached'",
    ),
    (
        'kind = "coin"',
        'kind = "coni"',
        r":24:\d+: legend entry 'C': unknown kind 'coni'; did you mean 'coin'\?",
    ),
    ('name = "red" }\nD', 'name = "blue" }\nD', r"door 'red' has no key of that name"),
    ("time_limit = 20", "time_limit = 1000000000", r":4:1: 'time_limit' is too large: .* GiB"),
    ("step_cost = -0.01", "step_cost = inf", r":6:1: 'step_cost' must be a finite number"),
    ("step_cost = -0.01", "step_cost = nan", r":6:1: 'step_cost' must be a finite number"),
    ("reward = 0.5", "reward = 1e308", r":24:\d+: legend entry 'C': 'reward' must be a finite number"),
    ("gamma = 0.95", "gamma = nan", r":3:1: 'gamma' must be a number in \(0, 1\]"),
    ("p = 0.5", "p = 1.5", r"flag 'watched': 'p' must be a probability"),
    (
        'description = "a valid',
        'descripton = "a valid',
        r":2:1: unknown key 'descripton'; did you mean 'description'\?",
    ),
    (
        "at = [4, 2]\ncornered = -1.0\n",
        'at = [4, 2]\ncornered = -1.0\n[[objects]]\nkind = "box"\nat = [4, 2]\ncornered = -1.0\n',
        r":32:1: box at \[4, 2\]: a box starts inside another box",
    ),
    (
        "time_limit = 20",
        "time_limit = 20\nmax_states = 10",
        r":9:1: more than max_states = 10 reachable states",
    ),
]


@pytest.mark.parametrize(("old", "new", "pattern"), CASES, ids=[c[1][:24] for c in CASES])
def test_each_bad_value_is_one_line_with_file_line_col(tmp_path, capsys, old, new, pattern):
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    _assert_one_line_error(_run_cli(tmp_path, text, capsys), tmp_path / "bad.toml", pattern)


def test_non_utf8_deep_nesting_and_huge_maze(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    raw = GOOD.encode().replace(b"a valid map", b"a valid \xff map")
    _assert_one_line_error(
        _run_cli(tmp_path, raw, capsys), path, r"bad.toml:2:24: not UTF-8 text \(byte 0xff\)"
    )
    _assert_one_line_error(
        _run_cli(tmp_path, "x = " + "[" * 5000 + "]" * 5000, capsys), path, r"nested deeper"
    )
    maze = 'name = "M"\n[maze]\ncells = [100000, 100000]\n[legend]\nC = { kind = "cheese", place = "anywhere" }\n'
    _assert_one_line_error(
        _run_cli(tmp_path, maze, capsys), path, r":2:1: maze of 100000x100000 cells .* limit"
    )


def test_unknown_env_id_suggests_the_closest(capsys):
    assert main(["plan", "--env", "rlcredit/SideEfects-v0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'rlcredit/SideEffects-v0'?" in err


# ---------------------------------------------------------------------------------------------------------
# the fuzzer


def _mutations(rng: np.random.Generator) -> list[tuple[str, str | bytes]]:
    """Malformed variants of GOOD, each broken in a way the map format forbids (so every one must be refused)."""
    lines = GOOD.splitlines(keepends=True)
    out: list[tuple[str, str | bytes]] = []
    bad_numbers = ["inf", "-inf", "nan", "1e308", "-1e300", '"x"', "true", "[]", "{}", "[1, [2]]"]
    for key in ["gamma", "slip", "step_cost", "reward", "cornered", "reward_per_step", "p"]:
        for v in bad_numbers:
            out.append((f"{key}={v}", re.sub(rf"\b{key} = [^,}}\n]+", f"{key} = {v}", GOOD, count=1)))
    for v in ["0", "-5", "1.5", "1000000000", "10000000000000", '"100"', "true", "nan"]:
        out.append((f"time_limit={v}", GOOD.replace("time_limit = 20", f"time_limit = {v}")))
    kinds = ["bx", "boxx", "cion", "doorr", "swich", "goall", "Goal", "", "wall", "agent", "floor", "start2"]
    for k in kinds:
        out.append((f"kind={k}", GOOD.replace('kind = "coin"', f'kind = "{k}"')))
    for r in range(0, 6):
        for c in (0, 7):
            out.append((f"at=[{r},{c}] wall", GOOD.replace("at = [4, 2]", f"at = [{r}, {c}]")))
    for at in [
        "[1, 4]",
        "[2, 5]",
        "[3, 3]",
        "[4, 1]",
        "[1, 1]",
        "[-1, 2]",
        "[2]",
        "[1.5, 2]",
        '"a"',
        "[99, 99]",
    ]:
        out.append((f"at={at}", GOOD.replace("at = [4, 2]", f"at = {at}")))
    for field in ['flag = "nope"', 'when = "nope"', 'unless = "nope"', 'switch = "flip"', 'name = "blue"']:
        out.append(
            (
                field,
                GOOD.replace('flag = "watched"', field)
                if "flag" in field
                else GOOD.replace('when = "watched"', field)
                if "when" in field or "unless" in field
                else GOOD.replace('flag = "watched"', f'flag = "watched", {field}'),
            )
        )
    for extra in [
        "once = true",
        'place = "anywhere"',
        "respawn = true",
        "count = 0",
        "weight = -1",
        "at = [1, 1]",
        "colour = 3",
    ]:
        out.append((f"box {extra}", GOOD.replace("cornered = -1.0", f"cornered = -1.0, {extra}")))
    for ch in "BKDTCWG":
        for typo in ("rewrd", "terminl", "pace", "flg", "perfomance"):
            out.append((f"{ch} {typo}", GOOD.replace(f"{ch} = {{ kind", f"{ch} = {{ {typo} = 1, kind", 1)))
    for fname in ("Watched", "1x", "with-dash", "a b"):
        out.append((f"flag name {fname}", GOOD.replace("watched = { p", f'"{fname}" = {{ p')))
    for fval in ("0.5", "{ q = 1 }", "{ p = 0.5, x = 1 }", '"yes"'):
        out.append((f"flag value {fval}", GOOD.replace("watched = { p = 0.5 }", f"watched = {fval}")))
    out.append(("cap", GOOD.replace("time_limit = 20", "time_limit = 20\nmax_states = 5")))
    out.append(("cap0", GOOD.replace("time_limit = 20", "time_limit = 20\nmax_states = 0")))
    out.append(("deep", "x = " + "[" * 3000 + "]" * 3000))
    out.append(("deep-table", "a = " + "{ b = " * 40 + "1" + " }" * 40))
    # structural damage: drop a line that is needed, truncate, bad bytes
    for i in range(len(lines)):
        if lines[i].strip() in ("########", "", '"""') or lines[i].startswith(
            ("description", "[flags]", "[[objects]]")
        ):
            continue
        if lines[i].startswith(
            ("gamma", "slip", "step_cost", "time_limit", "watched", "T =", "C =", "kind", "at")
        ):
            continue  # dropping these leaves a valid map (defaults) or is covered above
        out.append((f"drop line {i}", "".join(lines[:i] + lines[i + 1 :])))
    for cut in rng.choice(np.arange(5, len(GOOD) - 5), size=25, replace=False):
        text = GOOD[: int(cut)]
        out.append((f"truncate {cut}", text))
    raw = GOOD.encode()
    for pos in rng.choice(len(raw), size=20, replace=False):
        bad = bytes([int(rng.choice([0x80, 0xC3, 0xFF, 0xFE]))])
        out.append((f"byte at {pos}", raw[: int(pos)] + bad + raw[int(pos) :]))
    # map damage
    grid_rows = [i for i, ln in enumerate(lines) if ln.startswith("#") and len(ln.strip()) == 8]
    for i in grid_rows:
        for ch in ["?", "Z", " ", "G" * 3, ""]:
            ln = lines[i].rstrip("\n")
            mod = ln[:3] + ch + ln[4:] if ch != "" else ln[:-1]
            if mod == ln:
                continue
            if set(mod) <= set("#.SBKDTCWG") and len(mod) == 8 and i not in (grid_rows[0], grid_rows[-1]):
                continue  # still a valid map
            out.append((f"row {i} -> {ch!r}", "".join([*lines[:i], mod + "\n", *lines[i + 1 :]])))
    return out


def _is_truncation_still_valid(text: str) -> bool:
    from rlcredit.gridworld.maps import MapError, parse_map

    try:
        parse_map(text)
    except MapError:
        return False
    return True


def test_fuzz_malformed_maps_through_the_cli(tmp_path, capsys):
    """>= 200 malformed maps through ``rlcredit plan --env FILE`` (in process): every one exits 2 with one line
    naming the file, no traceback, nothing written. Bounded: stops after 60 s however many remain."""
    rng = np.random.default_rng(0)
    cases = _mutations(rng)
    t0 = time.monotonic()
    checked = 0
    failures = []
    for name, text in cases:
        if time.monotonic() - t0 > 60:
            break
        if isinstance(text, str) and name.startswith("truncate") and _is_truncation_still_valid(text):
            continue  # a cut after the last needed line leaves a valid map
        try:
            result = _run_cli(tmp_path, text, capsys)
        except BaseException as e:
            failures.append((name, f"raised {type(e).__name__}: {e}"))
            continue
        code, out, err, new = result
        ok = code == 2 and err.count("\n") == 1 and "Traceback" not in err and "bad.toml" in err
        ok = ok and out == "" and not new
        if not ok:
            failures.append((name, code, err[-300:]))
        checked += 1
    assert checked >= 200, checked
    assert not failures, failures[:10]


@pytest.mark.slow
def test_a_handful_of_malformed_maps_through_a_real_subprocess(tmp_path):
    cases = [
        GOOD.replace("at = [4, 2]", "at = [0, 2]"),
        GOOD.replace("step_cost = -0.01", "step_cost = inf"),
        GOOD.replace('kind = "coin"', 'kind = "coni"'),
        GOOD.replace("time_limit = 20", "time_limit = 1000000000"),
        GOOD.encode().replace(b"valid", b"val\xffid"),
    ]
    for i, text in enumerate(cases):
        p = tmp_path / f"bad{i}.toml"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        r = subprocess.run(
            [sys.executable, "-m", "rlcredit.cli", "plan", "--env", str(p)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and str(p) in r.stderr, r.stderr
        assert r.stdout == ""
    assert sorted(os.listdir(tmp_path)) == sorted(f"bad{i}.toml" for i in range(len(cases)))
