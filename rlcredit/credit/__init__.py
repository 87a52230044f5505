"""Credit: the per-step credit records, exact credit from the gridworld's model, and shaping.

- :mod:`rlcredit.credit.records`: the credit record schema and :class:`CreditRecorder`;
- :mod:`rlcredit.credit.exact`: :class:`ExactCredit` (exact ``Q_t``/``A_t`` of the collecting policy, time
  limited, the trainer's gamma, and the stationary bootstrap-at-truncation ``A^pi`` a time-blind critic
  targets), the exact policy gradient, event reach probabilities;
- :mod:`rlcredit.credit.shaping`: :class:`ShapingRecorder` (per-state policy change of each update and the
  update's exact scalars for ``metrics.csv``).

Reading credit files (``read_credit``, the plots) needs neither numba (the compiled exact solvers) nor torch
(the exact policy gradient): the names of ``exact`` and ``shaping`` load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rlcredit.credit.records import (
    CREDIT_SCHEMA,
    SCHEMA_VERSION,
    Column,
    CreditRecorder,
    credit_in_return_units,
    read_credit,
    read_credit_file,
)

if TYPE_CHECKING:
    from rlcredit.credit.exact import (
        ExactCredit,
        ExactGradient,
        PolicyLike,
        PolicyValues,
        cosine,
        event_reach_probability,
        exact_policy_gradient,
        gradient_weights,
        policy_values,
        time_occupancy,
    )
    from rlcredit.credit.shaping import ShapingRecorder, policy_change, shaping_frame, shaping_table

_LAZY = {
    **dict.fromkeys(
        (
            "ExactCredit",
            "ExactGradient",
            "PolicyLike",
            "PolicyValues",
            "cosine",
            "event_reach_probability",
            "exact_policy_gradient",
            "gradient_weights",
            "policy_values",
            "time_occupancy",
        ),
        "rlcredit.credit.exact",
    ),
    **dict.fromkeys(
        ("ShapingRecorder", "policy_change", "shaping_frame", "shaping_table"), "rlcredit.credit.shaping"
    ),
}
"""Public names whose module is imported when the name is first asked for."""

__all__ = [
    "CREDIT_SCHEMA",
    "SCHEMA_VERSION",
    "Column",
    "CreditRecorder",
    "ExactCredit",
    "ExactGradient",
    "PolicyLike",
    "PolicyValues",
    "ShapingRecorder",
    "cosine",
    "credit_in_return_units",
    "event_reach_probability",
    "exact_policy_gradient",
    "gradient_weights",
    "policy_change",
    "policy_values",
    "read_credit",
    "read_credit_file",
    "shaping_frame",
    "shaping_table",
    "time_occupancy",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
