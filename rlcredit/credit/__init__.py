"""Credit: the per-step credit records, exact credit from the gridworld's model, and shaping.

- :mod:`rlcredit.credit.records`: the credit record schema and :class:`CreditRecorder`;
- :mod:`rlcredit.credit.exact`: :class:`ExactCredit` (exact ``Q_t``/``A_t`` of the collecting policy, time
  limited, the trainer's gamma, and the stationary bootstrap-at-truncation ``A^pi`` a time-blind critic
  targets), the exact policy gradient, event reach probabilities;
- :mod:`rlcredit.credit.shaping`: :class:`ShapingRecorder` (per-state policy change of each update and the
  update's exact scalars for ``metrics.csv``).
"""

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
from rlcredit.credit.records import (
    CREDIT_SCHEMA,
    SCHEMA_VERSION,
    Column,
    CreditRecorder,
    credit_in_return_units,
    read_credit,
    read_credit_file,
)
from rlcredit.credit.shaping import ShapingRecorder, policy_change, shaping_frame, shaping_table

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
