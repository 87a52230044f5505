"""rlcredit: a lab for studying what policy-gradient training does with reward.

Importing the package registers the built-in gridworlds with gymnasium (``rlcredit/<Name>-v0``).
"""

from rlcredit.gridworld import make, make_vec, register_all

__version__ = "0.1.0"

register_all()

__all__ = ["__version__", "make", "make_vec", "train"]


def __getattr__(name: str):
    # ``rlcredit.train(...)`` without importing torch at ``import rlcredit``: the module is callable.
    if name == "train":
        import importlib

        return importlib.import_module("rlcredit.train")
    raise AttributeError(f"module 'rlcredit' has no attribute {name!r}")
