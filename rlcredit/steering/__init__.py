"""Looking inside trained policies: activation capture, steering vectors, ablations, exact behaviour statistics.

After Turner, Mini et al. 2023, "Understanding and controlling a maze-solving policy network": a policy trained
with the cheese always near the top-right corner carries a *cheese vector* (its activations with the cheese
minus without); subtracting it at inference is meant to make the policy ignore the cheese. This package
records and edits activations at any named layer (:mod:`~rlcredit.steering.hooks`), computes steering vectors
(:mod:`~rlcredit.steering.vectors`), and measures where a policy goes in each maze exactly, from the maze's
model (:mod:`~rlcredit.steering.behaviour`). ``rlcredit steer`` runs the whole experiment
(:mod:`~rlcredit.steering.experiment`, :mod:`~rlcredit.steering.figures`).
"""

from rlcredit.steering.behaviour import (
    DecisionSquare,
    MazeBehaviour,
    decision_square,
    layout_with_object,
    layouts_of,
    maze_behaviour,
    planner_policy,
    policy_table,
    shortest_path,
    top_right_cell,
)
from rlcredit.steering.hooks import (
    ablate,
    action_probs,
    activations,
    get_module,
    intervene,
    layer_names,
    record,
    steer,
)
from rlcredit.steering.vectors import (
    cheese_vector,
    cheese_vectors,
    location_vector,
    mean_difference,
    without_kind,
)

__all__ = [
    "DecisionSquare",
    "MazeBehaviour",
    "ablate",
    "action_probs",
    "activations",
    "cheese_vector",
    "cheese_vectors",
    "decision_square",
    "get_module",
    "intervene",
    "layer_names",
    "layout_with_object",
    "layouts_of",
    "location_vector",
    "maze_behaviour",
    "mean_difference",
    "planner_policy",
    "policy_table",
    "record",
    "shortest_path",
    "steer",
    "top_right_cell",
    "without_kind",
]
