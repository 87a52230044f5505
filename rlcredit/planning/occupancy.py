"""Where a policy goes: expected state visits and the probability of ever reaching a set of states or events.

- :func:`occupancy`, :func:`reach_probability`: on any :class:`~rlcredit.mdp.TabularMDP`, by *state*;
- :func:`event_reach_probability`, :func:`layout_reach`: on a gridworld layout, by *event* (a move that
  enters a cell of some kind). This is the one reach computation of the lab's figures (trainers' exact
  credit, evaluations, ``rlcredit plan``): it counts moves, not visits, so a ``respawn`` cell (the cliff),
  which the agent never occupies because entering it sends it back to the start, is counted.

Horizons follow :mod:`rlcredit.planning.dp`: ``horizon=None`` uses ``m.horizon`` (infinite if that is
None), ``math.inf`` forces the infinite horizon, and ``pi`` may be time-indexed ``(H, S, A)`` for a
finite horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from rlcredit.mdp import TabularMDP
from rlcredit.planning.dp import (
    format_states,
    identity_like,
    policy_schedule,
    reachable,
    resolve_horizon,
    solve,
    stationary_policy,
)
from rlcredit.planning.kernels import GridTables

__all__ = ["event_reach_probability", "layout_reach", "occupancy", "reach_events", "reach_probability"]


def occupancy(
    m: TabularMDP,
    pi: np.ndarray,
    *,
    horizon: int | float | None = None,
    discounted: bool = False,
    initial: np.ndarray | None = None,
) -> np.ndarray:
    """Expected number of visits to each state in one episode, starting from ``m.initial``.

    A visit to a non-terminal state is a time step at which the policy acts there (times
    ``0..H-1``); a terminal state is counted once, on arrival (at any time ``0..H``), and then the
    episode is over. So the entries of non-terminal states sum to the expected episode length, and the
    entries of terminal states are the probabilities of ending there. With ``discounted=True`` a visit
    at time ``t`` counts ``gamma**t``.

    Parameters
    ----------
    m : TabularMDP
    pi : ndarray (S, A), or (H, S, A) time-indexed (finite horizon only)
    horizon : int, math.inf or None
        ``None`` uses ``m.horizon`` (infinite if that is None).
    discounted : bool
        Weight visits by ``m.gamma ** t``.
    initial : ndarray (S,), optional
        Start distribution to use instead of ``m.initial``.

    Returns
    -------
    ndarray (S,) float64

    Raises
    ------
    ValueError
        For an infinite horizon without discounting when the policy, from the start distribution,
        reaches states from which it never terminates (the expected visits are infinite).
    """
    d0 = m.initial if initial is None else _check_initial(m, initial)
    g = m.gamma if discounted else 1.0
    H = resolve_horizon(m, horizon)
    if H is not None:
        pi_at = policy_schedule(m, pi, H)
        occ = np.zeros(m.num_states)
        d = d0.copy()
        weight = 1.0
        for t in range(H):
            occ += weight * d
            d = m._push(d, pi_at(t))
            weight *= g
        occ += weight * np.where(m.terminal, d, 0.0)
        return occ

    P_pi = m.policy_matrix(stationary_policy(m, pi))
    if g < 1.0:
        return solve((identity_like(P_pi) - g * P_pi).T, d0)
    nonterminal = ~m.terminal
    live = reachable(P_pi, d0 > 0, through=nonterminal)
    ends = reachable(P_pi, m.terminal, through=nonterminal, reverse=True)
    stuck = np.flatnonzero(live & ~ends)
    if stuck.size:
        raise ValueError(
            "occupancy without discounting or horizon is infinite: from the start distribution the policy "
            f"reaches states {format_states(stuck)} and never terminates from them; pass horizon=H or "
            "discounted=True"
        )
    idx = np.flatnonzero(live)
    sub = _submatrix(P_pi, idx, idx)
    occ = np.zeros(m.num_states)
    occ[idx] = solve((identity_like(sub) - sub).T, d0[idx])
    return occ


def reach_probability(
    m: TabularMDP, pi: np.ndarray, targets: np.ndarray, *, horizon: int | float | None = None
) -> np.ndarray:
    """Probability, from each start state, of entering a target state within the horizon.

    A start state that is a target counts as reached (probability 1). The episode ends at terminal
    states, so a terminal state that is not a target is never left. With a horizon ``H`` the states at
    times ``0..H`` count (``H`` actions). Without one, this is the minimal non-negative solution of
    ``h = 1`` on targets, ``h = P_pi h`` elsewhere: states that cannot reach a target get 0 and the
    rest come from a sparse linear solve.

    Parameters
    ----------
    m : TabularMDP
    pi : ndarray (S, A), or (H, S, A) time-indexed (finite horizon only)
    targets : bool ndarray (S,) or sequence of int state indices
    horizon : int, math.inf or None
        ``None`` uses ``m.horizon`` (infinite if that is None).

    Returns
    -------
    ndarray (S,) float64 in [0, 1]
    """
    target = _target_mask(m, targets)
    through = ~target & ~m.terminal
    H = resolve_horizon(m, horizon)
    if H is not None:
        pi_at = policy_schedule(m, pi, H)
        h = target.astype(np.float64)
        for t in range(H - 1, -1, -1):
            onward = np.sum(pi_at(t) * m.expected_next(h), axis=1)
            h = np.where(through, onward, h)
        return h

    P_pi = m.policy_matrix(stationary_policy(m, pi))
    h = target.astype(np.float64)
    idx = np.flatnonzero(reachable(P_pi, target, through=through, reverse=True) & through)
    if idx.size:
        sub = _submatrix(P_pi, idx, idx)
        into_target = np.asarray(P_pi @ h)[idx]
        h[idx] = np.clip(solve(identity_like(sub) - sub, into_target), 0.0, 1.0)
    return h


def _submatrix(P: np.ndarray | sp.spmatrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | sp.spmatrix:
    if sp.issparse(P):
        return sp.csr_matrix(P)[rows][:, cols]
    return P[np.ix_(rows, cols)]


def _check_initial(m: TabularMDP, initial: np.ndarray) -> np.ndarray:
    return m.replace(initial=initial).initial


def _target_mask(m: TabularMDP, targets: np.ndarray) -> np.ndarray:
    S = m.num_states
    targets = np.asarray(targets)
    if targets.dtype == np.bool_:
        if targets.shape != (S,):
            raise ValueError(f"a bool targets mask must have shape (S,) = ({S},); got {targets.shape}")
        return targets.copy()
    if not np.issubdtype(targets.dtype, np.integer) and targets.size:
        raise ValueError(
            f"targets must be a bool mask of shape (S,) or integer state indices; got {targets.dtype}"
        )
    idx = targets.astype(np.int64).ravel()
    bad = (idx < 0) | (idx >= S)
    if bad.any():
        raise ValueError(f"target state {int(idx[bad][0])} is out of range for S = {S}")
    mask = np.zeros(S, dtype=bool)
    mask[idx] = True
    return mask


# ------------------------------------------------------------------------------------------ event reach


def reach_events(layout: Any, kinds: Sequence[str] | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """The named events of a gridworld layout, as move masks.

    Event ``kind`` flags every move ``(s, b)`` (from state ``s`` in the direction ``b`` actually taken) that
    enters a cell holding an object of that kind; ``"intended"`` (added when the map marks intended cells)
    flags an entering move that ends on an intended cell, as the envs' ``info["intended"]`` does.

    Parameters
    ----------
    layout : Layout
    kinds : sequence of str, optional
        Object kinds to track; default every kind of the layout.

    Returns
    -------
    names : tuple of str
    events : bool ndarray (S, 4, K)
    """
    names = list(layout.kinds if kinds is None else kinds)
    unknown = [k for k in names if k not in layout.kinds]
    if unknown:
        raise ValueError(
            f"no object kinds {unknown} in this layout (kinds: {', '.join(layout.kinds) or 'none'})"
        )
    masks = [layout.event == layout.kinds.index(k) for k in names]
    if np.asarray(layout.intended).any():
        names.append("intended")
        masks.append((layout.event >= 0) & layout.intended[layout.move])
    S = layout.num_states
    events = np.stack(masks, axis=2) if masks else np.zeros((S, 4, 0), dtype=bool)
    return tuple(names), events


def event_reach_probability(
    layout: Any, pi: np.ndarray, events: np.ndarray, *, horizon: int | None = None
) -> np.ndarray:
    """Probability, from each state at time 0, that a flagged move happens before the episode ends.

    ``events[s, b]`` flags the move from ``s`` in direction ``b`` (the direction actually taken, after a
    slip), e.g. ``layout.event == layout.kinds.index("button")`` for "the button is pressed". Counting moves
    rather than visits is what makes ``respawn`` cells (the cliff) count: the agent never stays on them.
    The recursion is ``h_H = 0`` and
    ``h_t(s) = sum_a pi_t(a|s) sum_b p(b|a) [events[s, b] + (1 - events[s, b]) h_{t+1}(move[s, b])]``,
    with ``h = 0`` on terminal and wall states (the episode is over). Several events (a trailing axis of
    ``events``) are solved in one backward pass.

    Parameters
    ----------
    layout : Layout
    pi : ndarray (S, 4), or (H, S, 4) time-indexed (``pi[t]`` acts at episode time ``t``)
    events : bool ndarray (S, 4) or (S, 4, K)
    horizon : int, optional
        Steps in an episode; default ``layout.time_limit``.

    Returns
    -------
    ndarray (S,) float64 in [0, 1], or (S, K) for (S, 4, K) events.
    """
    H = layout.time_limit if horizon is None else int(horizon)
    E = np.asarray(events, dtype=bool)
    if E.shape[:2] != layout.move.shape or E.ndim not in (2, 3):
        raise ValueError(
            f"events must have shape {layout.move.shape} or (*{layout.move.shape}, K); got {E.shape}"
        )
    tables = GridTables.of(layout, gamma=1.0, horizon=H, events=E if E.ndim == 3 else E[:, :, None])
    h = tables.reach(pi)
    return h if E.ndim == 3 else h[:, 0]


def layout_reach(
    layout: Any, pi: np.ndarray, *, horizon: int | None = None, kinds: Sequence[str] | None = None
) -> dict[str, float]:
    """Exact probability that an episode under ``pi`` enters each object kind (and ``"intended"``).

    From the layout's start distribution, within ``horizon`` steps (default its time limit), by
    :func:`event_reach_probability` over :func:`reach_events`.

    Parameters
    ----------
    layout : Layout
    pi : ndarray (S, 4), or (H, S, 4) time-indexed (e.g. backward induction's policy)
    horizon : int, optional
    kinds : sequence of str, optional
        Default every kind of the layout.

    Returns
    -------
    dict of event name to probability
    """
    names, events = reach_events(layout, kinds)
    if not names:
        return {}
    h = event_reach_probability(layout, pi, events, horizon=horizon)
    return {name: float(layout.initial @ h[:, k]) for k, name in enumerate(names)}
