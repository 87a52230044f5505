"""The vocabulary of run directories: which trainers and planners write them."""

TRAINER_ALGOS = ("ppo", "reinforce")
"""``algo`` of a training run (``rlcredit train``, ``rlcredit.train``)."""

PLANNER_ALGOS = ("vi", "bi", "mcts")
"""``algo`` of a planner run: value iteration, backward induction, MCTS."""

PLANNER_CHOICES = PLANNER_ALGOS
