"""Run directories: what a training or planner run writes (:mod:`rlcredit.runs.schema`)."""
