"""Mistyped names (an env id without its namespace, a spec) get one line that says what was meant."""

from rlcredit.cli import main


def test_a_gridworld_id_without_its_namespace_suggests_it(tmp_path, capsys):
    argv = ["train", "ppo", "--env", "ButtonRoom-v0", "--steps", "100", "--out", str(tmp_path / "r")]
    assert main([*argv, "--wandb", "disabled"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'rlcredit/ButtonRoom-v0'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_near_miss_suggests_the_closest_gridworld(tmp_path, capsys):
    assert (
        main(["train", "ppo", "--env", "ButonRoom-v0", "--steps", "100", "--out", str(tmp_path / "r")]) == 2
    )
    assert "did you mean 'rlcredit/ButtonRoom-v0'" in capsys.readouterr().err


def test_a_mistyped_spec_is_refused_before_the_slow_start(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no runs/ here: the suggestion is the shipped spec's name
    for argv in (
        ["run", "wirehaed"],
        ["run", "runs/wirehaed.toml"],
        ["sweep", "wirehaed", "--set", "a.b=1,2"],
    ):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert "starting" not in out
        assert err.startswith(f"rlcredit: error: spec file not found: {argv[1]} (did you mean wirehead?)")
        assert "shipped specs: " in err and "demo" in err


def test_a_mistyped_spec_in_the_clone_suggests_its_path(capsys, monkeypatch):
    from rlcredit.experiments.spec import specs_dir

    monkeypatch.chdir(specs_dir().parent)
    assert main(["run", "wirehaed"]) == 2
    assert "(did you mean runs/wirehead.toml?)" in capsys.readouterr().err
