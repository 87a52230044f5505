"""The optimal return is solved once per distinct layout in a process, and never confused between layouts."""

from __future__ import annotations

import numpy as np

from rlcredit.experiments import evaluate
from rlcredit.gridworld.registry import make
from rlcredit.planning import backward_induction


def _layout(**kwargs):
    env = make("rlcredit/ButtonRoomBridge0-v0", **kwargs)
    env.reset(seed=0)
    layout = env.unwrapped.layout
    env.close()
    return layout


def _solved(layout) -> float:
    m = layout.to_mdp(gamma=1.0)
    return float(backward_induction(m).V[0] @ m.initial)


def test_each_distinct_layout_is_solved_once_and_gets_its_own_value(monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "_OPTIMAL", {})
    solves = []
    bi = evaluate.backward_induction
    monkeypatch.setattr(evaluate, "backward_induction", lambda m: (solves.append(m), bi(m))[1])
    variants = [{}, {"step_cost": 0.5}, {"time_limit": 1}, {"slip": 0.2}]
    for kwargs in variants:
        a, b = _layout(**kwargs), _layout(**kwargs)  # equal layouts, distinct objects
        assert a is not b
        assert evaluate.optimal_return(a) == evaluate.optimal_return(b) == _solved(a)
    assert len(solves) == len(variants)
    values = [evaluate.optimal_return(_layout(**kw)) for kw in variants]
    assert len(set(values)) == len(values), values  # each setting changes the optimum: no stale hit
    assert np.isfinite(values).all()


def test_the_cache_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(evaluate, "_OPTIMAL", {})
    monkeypatch.setattr(evaluate, "_OPTIMAL_MAX", 2)
    first = _layout(step_cost=0.1)
    for c in (0.1, 0.2, 0.3):
        evaluate.optimal_return(_layout(step_cost=c))
    assert len(evaluate._OPTIMAL) == 2
    assert evaluate.optimal_return(first) == _solved(first)  # evicted, solved again, still right
