"""rlcredit: a lab for studying what policy-gradient training does with reward.

Importing the package registers the built-in gridworlds with gymnasium (``rlcredit/<Name>-v0``).
``rlcredit.train(...)`` is :func:`rlcredit.trainers.loop.train`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlcredit.gridworld import make, make_vec, register_all

if TYPE_CHECKING:
    from rlcredit.trainers.loop import train

__version__ = "0.1.0"

register_all()

__all__ = ["__version__", "make", "make_vec", "train"]


def __getattr__(name: str) -> Any:
    if name == "train":
        # torch comes with the trainer: imported on first use so that `import rlcredit` (env registration,
        # `rlcredit --help`, `rlcredit envs`) stays light.
        from rlcredit.trainers.loop import train

        return train
    raise AttributeError(f"module 'rlcredit' has no attribute {name!r}")
