"""Planners and exact evaluations on a :class:`~rlcredit.mdp.TabularMDP`."""

from rlcredit.planning.dp import (
    FiniteHorizonResult,
    PlanResult,
    backward_induction,
    policy_evaluation,
    policy_q,
    value_iteration,
)
from rlcredit.planning.occupancy import occupancy, reach_probability

__all__ = [
    "FiniteHorizonResult",
    "PlanResult",
    "backward_induction",
    "occupancy",
    "policy_evaluation",
    "policy_q",
    "reach_probability",
    "value_iteration",
]
