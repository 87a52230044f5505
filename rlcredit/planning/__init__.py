"""Planners and exact evaluations on a :class:`~rlcredit.mdp.TabularMDP`.

- :mod:`~rlcredit.planning.dp`: value iteration, backward induction, policy evaluation;
- :mod:`~rlcredit.planning.occupancy`: state occupancy and reach probabilities;
- :mod:`~rlcredit.planning.kernels`: the compiled Bellman kernels the two above (and exact credit) share;
- :mod:`~rlcredit.planning.mcts`, :mod:`~rlcredit.planning.planner`, :mod:`~rlcredit.planning.power`: search,
  planners that act in envs, POWER. These three load on first use of one of their names, so the modules that
  need only the exact solvers (exact credit, shaping) do not load the search code with them.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from rlcredit.planning.dp import (
    FiniteHorizonResult,
    PlanResult,
    backward_induction,
    policy_evaluation,
    policy_q,
    value_iteration,
)
from rlcredit.planning.occupancy import occupancy, reach_probability

if TYPE_CHECKING:
    from rlcredit.planning.mcts import MCTSResult, MCTSTree, SearchModel, mcts
    from rlcredit.planning.planner import (
        BackwardInductionPlanner,
        MCTSPlanner,
        ObservedPolicy,
        Planner,
        ValueIterationPlanner,
        make_planner,
        policy_prior,
        run_planner_episodes,
    )
    from rlcredit.planning.power import PowerResult, power, uniform_rewards

_LAZY = {
    "MCTSResult": "mcts",
    "MCTSTree": "mcts",
    "SearchModel": "mcts",
    "mcts": "mcts",
    "BackwardInductionPlanner": "planner",
    "MCTSPlanner": "planner",
    "ObservedPolicy": "planner",
    "Planner": "planner",
    "ValueIterationPlanner": "planner",
    "make_planner": "planner",
    "policy_prior": "planner",
    "run_planner_episodes": "planner",
    "PowerResult": "power",
    "power": "power",
    "uniform_rewards": "power",
}

__all__ = [
    "BackwardInductionPlanner",
    "FiniteHorizonResult",
    "MCTSPlanner",
    "MCTSResult",
    "MCTSTree",
    "ObservedPolicy",
    "PlanResult",
    "Planner",
    "PowerResult",
    "SearchModel",
    "ValueIterationPlanner",
    "backward_induction",
    "make_planner",
    "mcts",
    "occupancy",
    "policy_evaluation",
    "policy_prior",
    "policy_q",
    "power",
    "reach_probability",
    "run_planner_episodes",
    "uniform_rewards",
    "value_iteration",
]


def __getattr__(name: str) -> Any:
    # PEP 562: the search planners and POWER load on first use (see the module docstring).
    if name in _LAZY:
        value = getattr(importlib.import_module(f"rlcredit.planning.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rlcredit.planning' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package, keeping the functions ``mcts`` and ``power`` bound under their names.

    The import system binds a loaded submodule as an attribute of its package, so loading
    ``rlcredit.planning.mcts`` (e.g. by ``from rlcredit.planning.mcts import MCTSTree``) would replace the
    function ``rlcredit.planning.mcts`` with the module of the same name.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
