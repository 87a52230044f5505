"""Exact dynamic programming on a :class:`~rlcredit.mdp.TabularMDP`: planners and policy evaluation.

Planners (they maximize reward with the model):

- :func:`value_iteration` — infinite-horizon discounted optimum ``V*``, ``Q*`` and a greedy policy.
- :func:`backward_induction` — finite-horizon optimum with a time-indexed greedy policy.

Evaluation of a given policy ``pi`` (action probabilities, ``(S, A)`` or time-indexed ``(H, S, A)``):

- :func:`policy_evaluation` — ``V^pi``; :func:`policy_q` — ``Q^pi``.

Conventions shared with :mod:`rlcredit.planning.occupancy`:

- Terminal states have value 0 and their ``Q`` rows are 0; the reward for entering one is in ``R`` of
  the ``(s, a)`` that enters it.
- ``horizon=None`` means the model's own ``m.horizon`` (the episode time limit); if that is ``None``
  too, the horizon is infinite. Pass ``horizon=math.inf`` to ask for the infinite horizon on a model
  that has a time limit. A finite horizon ``H`` gives time-indexed results: index ``t`` means
  ``H - t`` actions are left.
- Greedy ties go to the lowest action index; ``Q`` values within a small tolerance of the best
  (``1e-12`` times the largest ``|V|``) count as ties.

Everything is vectorized over states; the only Python loops run over time steps, iterations or actions.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from rlcredit.mdp import TabularMDP
from rlcredit.planning.kernels import bellman_q, greedy_actions, max_over_actions

__all__ = [
    "FiniteHorizonResult",
    "PlanResult",
    "backward_induction",
    "policy_evaluation",
    "policy_q",
    "value_iteration",
]


@dataclass(frozen=True, eq=False)
class PlanResult:
    """Infinite-horizon optimum found by :func:`value_iteration`.

    Attributes
    ----------
    V : ndarray (S,) float64
        Optimal state values (0 at terminal states).
    Q : ndarray (S, A) float64
        Optimal action values, ``R + gamma * P V`` (rows of terminal states are 0).
    policy : ndarray (S, A) float64
        Greedy one-hot policy; ties go to the lowest action index.
    iterations : int
        Bellman backups performed before the stopping rule held.
    residual : float
        Final Bellman residual ``max_s |V_k(s) - V_{k-1}(s)|``.
    """

    V: np.ndarray
    Q: np.ndarray
    policy: np.ndarray
    iterations: int = 0
    residual: float = 0.0


@dataclass(frozen=True, eq=False)
class FiniteHorizonResult:
    """Finite-horizon optimum found by :func:`backward_induction`.

    Attributes
    ----------
    V : ndarray (H+1, S) float64
        ``V[t]`` is the optimal value with ``H - t`` actions left; ``V[H] = 0``.
    actions : ndarray (H, S) int8
        Greedy action at time ``t`` in state ``s`` (lowest index among ties; int16 if ``A > 127``).
    num_actions : int
        ``A``, the size of the last axis of ``policy``.
    Q : ndarray (H, S, A) float64 or None
        ``Q[t] = R + gamma * P V[t+1]``; only kept when asked for (``return_q=True``).
    """

    V: np.ndarray
    actions: np.ndarray
    num_actions: int
    Q: np.ndarray | None = None

    @property
    def horizon(self) -> int:
        """The number of decision steps ``H``."""
        return int(self.actions.shape[0])

    @property
    def policy(self) -> np.ndarray:
        """The greedy policy as one-hot action probabilities, ndarray (H, S, A) float64 (built on access)."""
        return _one_hot(self.actions, self.num_actions)


def value_iteration(m: TabularMDP, *, tol: float = 1e-10, max_iter: int = 100_000) -> PlanResult:
    """Optimal infinite-horizon values by repeated Bellman optimality backups from ``V = 0``.

    Stops when the Bellman residual ``max_s |V_k(s) - V_{k-1}(s)|`` is at most ``tol`` (then
    ``|V - V*| <= tol * gamma / (1 - gamma)``). With ``gamma = 1`` this only converges when every policy
    reaches a terminal state with probability 1, which is checked first.

    Parameters
    ----------
    m : TabularMDP
    tol : float
        Stopping threshold on the Bellman residual.
    max_iter : int
        Backups allowed; a ``RuntimeWarning`` is issued if they run out first.

    Returns
    -------
    PlanResult
        ``V (S,)``, ``Q (S, A)``, greedy one-hot ``policy (S, A)``. Actions whose ``Q`` is within the
        convergence error of the best (at least ``1e-12 * max|V|``) count as tied; ties go to the lowest
        action index.

    Raises
    ------
    ValueError
        If ``gamma = 1`` and some policy can avoid terminal states forever (the message names the
        states); use :func:`backward_induction` with a horizon instead.
    """
    if m.gamma == 1.0:
        trapped = improper_states(m)
        if trapped.size:
            raise ValueError(
                "value_iteration with gamma=1 needs every policy to reach a terminal state with "
                f"probability 1, but some policy can stay forever among the non-terminal states "
                f"{format_states(trapped)}; use backward_induction(m, horizon=H) or gamma < 1 instead"
            )
    term = np.flatnonzero(m.terminal)
    V = np.zeros(m.num_states)
    residual = math.inf
    iterations = 0
    while residual > tol and iterations < max_iter:
        V_new = max_over_actions(bellman_q(m, V, term))
        residual = float(np.max(np.abs(V_new - V)))
        V = V_new
        iterations += 1
    if residual > tol:
        warnings.warn(
            f"value_iteration stopped after max_iter={max_iter} backups with Bellman residual "
            f"{residual:.3g} > tol={tol:.3g}",
            RuntimeWarning,
            stacklevel=2,
        )
    Q = bellman_q(m, V, term)
    V = max_over_actions(Q)
    error_bound = residual * m.gamma / (1.0 - m.gamma) if m.gamma < 1.0 else residual
    actions = greedy_actions(Q, V, extra_tol=2.0 * error_bound)
    return PlanResult(
        V=V, Q=Q, policy=_one_hot(actions, m.num_actions), iterations=iterations, residual=residual
    )


def backward_induction(
    m: TabularMDP, horizon: int | None = None, *, return_q: bool = False
) -> FiniteHorizonResult:
    """Optimal finite-horizon values and a time-indexed greedy policy, by backward recursion.

    ``V[H] = 0`` and, for ``t = H-1, ..., 0``: ``Q[t] = R + gamma * P V[t+1]`` (0 at terminal states),
    ``V[t] = max_a Q[t]``. Memory is ``O(H * S)`` (float64 values, int8 actions) plus the model; the
    ``(H, S, A)`` action values are kept only with ``return_q=True``.

    Parameters
    ----------
    m : TabularMDP
    horizon : int, optional
        Number of decision steps ``H``; defaults to ``m.horizon``.
    return_q : bool
        Keep ``Q`` of shape (H, S, A).

    Returns
    -------
    FiniteHorizonResult
        ``V (H+1, S)``, ``actions (H, S)`` int8, ``policy (H, S, A)`` one-hot, ``Q (H, S, A)`` or None.
        Ties go to the lowest action index.
    """
    H = resolve_horizon(m, horizon)
    if H is None:
        raise ValueError(
            "backward_induction needs a finite horizon: pass horizon=H or build the TabularMDP with "
            "horizon=; for the infinite-horizon optimum use value_iteration"
        )
    S, A = m.num_states, m.num_actions
    term = np.flatnonzero(m.terminal)
    V = np.zeros((H + 1, S))
    actions = np.empty((H, S), dtype=np.int8 if A <= 127 else np.int16)
    Q_all = np.empty((H, S, A)) if return_q else None
    for t in range(H - 1, -1, -1):
        Q = bellman_q(m, V[t + 1], term)
        V[t] = max_over_actions(Q)
        actions[t] = greedy_actions(Q, V[t])
        if Q_all is not None:
            Q_all[t] = Q
    return FiniteHorizonResult(V=V, actions=actions, num_actions=A, Q=Q_all)


def policy_evaluation(m: TabularMDP, pi: np.ndarray, *, horizon: int | float | None = None) -> np.ndarray:
    """Exact state values of a policy.

    Infinite horizon: solves ``(I - gamma P_pi) V = r_pi`` (sparse when the model is sparse) with the
    rows of terminal states fixed to ``V = 0``. Finite horizon ``H``: ``V[H] = 0`` and
    ``V[t] = sum_a pi_t(s, a) (R + gamma P V[t+1])(s, a)``.

    Parameters
    ----------
    m : TabularMDP
    pi : ndarray (S, A), or (H, S, A) time-indexed (finite horizon only)
        Action probabilities; ``pi[t]`` is used at time ``t``.
    horizon : int, math.inf or None
        ``None`` uses ``m.horizon`` (infinite if that is None); ``math.inf`` forces infinite.

    Returns
    -------
    ndarray (S,) for the infinite horizon, (H+1, S) for a finite one (``V[t]``: ``H - t`` steps left).

    Raises
    ------
    ValueError
        For an infinite horizon with ``gamma = 1`` when the policy never terminates from some state.
    """
    H = resolve_horizon(m, horizon)
    if H is None:
        return _evaluate_infinite(m, stationary_policy(m, pi))
    V, _ = _evaluate_finite(m, policy_schedule(m, pi, H), H, keep_q=False)
    return V


def policy_q(m: TabularMDP, pi: np.ndarray, *, horizon: int | float | None = None) -> np.ndarray:
    """Exact action values of a policy, ``Q = R + gamma * P V^pi`` (rows of terminal states are 0).

    Parameters
    ----------
    m, pi, horizon
        As for :func:`policy_evaluation`.

    Returns
    -------
    ndarray (S, A) for the infinite horizon; (H, S, A) for a finite one, where ``Q[t]`` uses ``V[t+1]``.
    """
    H = resolve_horizon(m, horizon)
    if H is None:
        V = _evaluate_infinite(m, stationary_policy(m, pi))
        return bellman_q(m, V, np.flatnonzero(m.terminal))
    _, Q = _evaluate_finite(m, policy_schedule(m, pi, H), H, keep_q=True)
    assert Q is not None  # keep_q=True
    return Q


def improper_states(m: TabularMDP) -> np.ndarray:
    """Non-terminal states from which some policy can avoid every terminal state forever.

    The greatest set ``X`` of non-terminal states such that every state in ``X`` has an action whose
    next state is in ``X`` with probability 1 (a greatest fixed point, found by shrinking ``X``).

    Returns
    -------
    ndarray of int, sorted state indices (empty when every policy terminates with probability 1).
    """
    S, A = m.num_states, m.num_actions
    inside = ~m.terminal
    while True:
        leak = np.asarray(m.P2 @ (~inside).astype(np.float64)).reshape(S, A)
        keep = inside & (leak <= 0.0).any(axis=1)
        if np.array_equal(keep, inside):
            return np.flatnonzero(inside)
        inside = keep


def resolve_horizon(m: TabularMDP, horizon: int | float | None) -> int | None:
    """The horizon to use: ``None`` means ``m.horizon``; ``math.inf`` (or no time limit) means infinite."""
    if horizon is None:
        return m.horizon
    if isinstance(horizon, numbers.Real) and not isinstance(horizon, bool):
        if horizon == math.inf:
            return None
        if float(horizon).is_integer() and horizon >= 0:
            return int(horizon)
    raise ValueError(f"horizon must be a non-negative int, math.inf or None; got {horizon!r}")


def policy_schedule(m: TabularMDP, pi: np.ndarray, horizon: int) -> Callable[[int], np.ndarray]:
    """Validate a stationary (S, A) or time-indexed (H, S, A) policy; return ``t -> pi_t`` of shape (S, A)."""
    pi = m.check_policy(pi, time_indexed=True)
    if pi.ndim == 2:
        return lambda t: pi
    if pi.shape[0] != horizon:
        raise ValueError(f"time-indexed pi has {pi.shape[0]} steps but the horizon is {horizon}")
    return lambda t: pi[t]


def reachable(
    graph: np.ndarray | sp.spmatrix, sources: np.ndarray, *, through: np.ndarray, reverse: bool = False
) -> np.ndarray:
    """States connected to ``sources`` by edges with positive weight, leaving only ``through`` states.

    Parameters
    ----------
    graph : (S, S) array or sparse matrix
        ``graph[s, s'] > 0`` is an edge ``s -> s'``.
    sources : bool (S,)
        Start set (always included in the result).
    through : bool (S,)
        Only edges ``s -> s'`` with ``s`` in ``through`` are used (in either direction).
    reverse : bool
        Follow edges backwards: the result is the set of states that can reach ``sources``.

    Returns
    -------
    bool ndarray (S,)
    """
    S = sources.shape[0]
    g = sp.coo_matrix(graph)
    keep = (g.data > 0) & through[g.row]
    src, dst = g.row[keep], g.col[keep]
    if reverse:
        src, dst = dst, src
    starts = np.flatnonzero(sources)
    rows = np.concatenate([src, np.full(starts.size, S)])
    cols = np.concatenate([dst, starts])
    adj = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(S + 1, S + 1))
    order = csgraph.breadth_first_order(adj, S, directed=True, return_predecessors=False)
    mask = np.zeros(S + 1, dtype=bool)
    mask[order] = True
    return mask[:S]


def solve(A: np.ndarray | sp.spmatrix, b: np.ndarray) -> np.ndarray:
    """Solve ``A x = b`` with LAPACK (dense ``A``) or SuperLU (sparse ``A``)."""
    if sp.issparse(A):
        return np.asarray(spla.spsolve(sp.csc_matrix(A), b))
    return np.linalg.solve(A, b)


def identity_like(P: np.ndarray | sp.spmatrix) -> np.ndarray | sp.spmatrix:
    """The identity matrix of P's size, sparse if P is."""
    n = P.shape[0]
    return sp.identity(n, format="csr") if sp.issparse(P) else np.eye(n)


def format_states(states: np.ndarray, limit: int = 10) -> str:
    """State indices for an error message: ``[0, 1, 2]``, or the first ``limit`` and the count."""
    shown = ", ".join(str(int(s)) for s in states[:limit])
    more = f", ... ({states.size} states)" if states.size > limit else ""
    return f"[{shown}{more}]"


def _one_hot(actions: np.ndarray, num_actions: int) -> np.ndarray:
    return (actions[..., None] == np.arange(num_actions)).astype(np.float64)


def stationary_policy(m: TabularMDP, pi: np.ndarray) -> np.ndarray:
    """Validate a stationary policy (S, A) for an infinite-horizon computation."""
    pi = m.check_policy(pi, time_indexed=True)
    if pi.ndim == 3:
        raise ValueError("a time-indexed pi of shape (H, S, A) needs a finite horizon")
    return pi


def _evaluate_infinite(m: TabularMDP, pi: np.ndarray) -> np.ndarray:
    P_pi = m.policy_matrix(pi)
    r_pi = np.where(m.terminal, 0.0, np.sum(pi * m.R, axis=1))
    if m.gamma == 1.0:
        nonterminal = ~m.terminal
        ends = reachable(P_pi, m.terminal, through=nonterminal, reverse=True)
        stuck = np.flatnonzero(~ends)
        if stuck.size:
            raise ValueError(
                "policy_evaluation with gamma=1 and no horizon needs the policy to reach a terminal state, "
                f"but from states {format_states(stuck)} it never does; pass horizon=H or use gamma < 1"
            )
    return solve(identity_like(P_pi) - m.gamma * P_pi, r_pi)


def _evaluate_finite(
    m: TabularMDP, pi_at: Callable[[int], np.ndarray], H: int, *, keep_q: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    term = np.flatnonzero(m.terminal)
    V = np.zeros((H + 1, m.num_states))
    Q_all = np.empty((H, m.num_states, m.num_actions)) if keep_q else None
    for t in range(H - 1, -1, -1):
        Q = bellman_q(m, V[t + 1], term)
        V[t] = np.sum(pi_at(t) * Q, axis=1)
        if Q_all is not None:
            Q_all[t] = Q
    return V, Q_all
