"""Bridges to other RL libraries, so their runs write rlcredit run directories.

- :class:`rlcredit.integrations.sb3.CreditCallback`: Stable-Baselines3 PPO/A2C (needs ``stable-baselines3``,
  imported only when the callback is first used).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CreditCallback"]


def __getattr__(name: str) -> Any:
    if name == "CreditCallback":
        # stable-baselines3 is an optional dependency: imported when the callback is asked for
        from rlcredit.integrations.sb3 import CreditCallback

        return CreditCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
