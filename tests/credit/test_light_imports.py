"""Reading, tabling and plotting credit files and experiment directories loads neither torch nor numba; the
packages' lazily loaded names are the objects of their modules."""

import json
import subprocess
import sys

import pytest


def _heavy_loaded(module: str) -> list[str]:
    code = (
        f"import json, sys\nimport {module}\n"
        "print(json.dumps(sorted(m for m in ('torch', 'numba') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "module",
    [
        "rlcredit.credit",
        "rlcredit.credit.records",
        "rlcredit.plots",
        "rlcredit.experiments",
        "rlcredit.experiments.contrast",
        "rlcredit.experiments.report",
        "rlcredit.cli.plot",
    ],
)
def test_reading_modules_load_no_torch_or_numba(module):
    assert _heavy_loaded(module) == []


def test_lazy_names_are_their_modules_objects():
    import rlcredit.credit as credit
    import rlcredit.credit.exact
    import rlcredit.credit.shaping
    import rlcredit.experiments as experiments
    import rlcredit.experiments.pieces
    import rlcredit.experiments.runner

    assert credit.ExactCredit is rlcredit.credit.exact.ExactCredit
    assert credit.shaping_table is rlcredit.credit.shaping.shaping_table
    assert experiments.run_experiment is rlcredit.experiments.runner.run_experiment
    assert experiments.PieceResult is rlcredit.experiments.pieces.PieceResult
    for package in (credit, experiments):
        assert all(hasattr(package, name) for name in package.__all__)
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            _ = package.nope
