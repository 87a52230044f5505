"""Without Stable-Baselines3 installed, importing the callback says what to install."""

import sys

import pytest


@pytest.mark.parametrize("statement", [
    "from rlcredit.integrations.sb3 import CreditCallback",
    "from rlcredit.integrations import CreditCallback",
])  # fmt: skip
def test_importing_the_callback_without_sb3_names_the_package_to_install(monkeypatch, statement):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # what an absent package looks like to import
    monkeypatch.delitem(sys.modules, "rlcredit.integrations.sb3", raising=False)
    with pytest.raises(ImportError, match=r"pip install stable-baselines3") as e:
        exec(statement, {})
    assert not isinstance(e.value, ModuleNotFoundError)
