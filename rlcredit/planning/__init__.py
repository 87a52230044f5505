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

# Search-based planners, the planner protocol for acting in envs, and POWER.
from rlcredit.planning.mcts import MCTSResult, MCTSTree, SearchModel, mcts
from rlcredit.planning.planner import (
    BackwardInductionPlanner,
    MCTSPlanner,
    Planner,
    ValueIterationPlanner,
    make_planner,
    policy_prior,
    run_planner_episodes,
)
from rlcredit.planning.power import PowerResult, power, uniform_rewards

__all__ += [
    "BackwardInductionPlanner",
    "MCTSPlanner",
    "MCTSResult",
    "MCTSTree",
    "Planner",
    "PowerResult",
    "SearchModel",
    "ValueIterationPlanner",
    "make_planner",
    "mcts",
    "policy_prior",
    "power",
    "run_planner_episodes",
    "uniform_rewards",
]
