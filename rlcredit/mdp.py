"""The exact tabular model that every planner and every exact measurement uses.

A :class:`TabularMDP` holds the transition probabilities ``P(s' | s, a)``, the expected reward ``R(s, a)``,
the discount, which states end the episode, the start distribution and an optional time limit. States and
actions are small integers ``0..S-1`` and ``0..A-1``.

Semantics shared by everything that consumes the model:

- a terminal state has value 0 and yields no further reward: the episode is over once it is entered;
- the reward for entering a terminal state belongs to the ``(s, a)`` that enters it, ``R[s, a]``;
- the rows of ``P`` for terminal states must still be distributions, but they are never used.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

__all__ = ["TabularMDP"]

_ROW_SUM_TOL = 1e-8
_POLICY_SUM_TOL = 1e-6


def _fmt(x: float) -> str:
    """A short, exact-enough rendering of a number for error messages."""
    return f"{float(x):.12g}"


class TabularMDP:
    """A finite Markov decision process with an explicit transition model.

    Parameters
    ----------
    P : ndarray of shape (S, A, S), or scipy.sparse matrix of shape (S*A, S)
        Transition probabilities. Dense: ``P[s, a, s']``. Sparse: row ``s*A + a`` is ``P(. | s, a)``.
        Every row must be non-negative and sum to 1 (within 1e-8).
    R : array of shape (S, A)
        Expected reward of taking action ``a`` in state ``s`` (including the reward for entering a
        terminal state). Must be finite.
    gamma : float
        Discount factor in (0, 1]. ``gamma = 1`` is allowed; planners that need ``gamma < 1`` say so.
    terminal : bool array of shape (S,), optional
        Which states end the episode. Default: none.
    initial : array of shape (S,), optional
        Start distribution. Default: uniform over the non-terminal states.
    horizon : int, optional
        Episode time limit (number of actions). Planners and evaluations use it when called with
        ``horizon=None``.
    performance : array of shape (S, A), optional
        Expected *intended performance* of taking ``a`` in ``s`` (what the designer wanted, hidden from
        trainers; AI Safety Gridworlds' hidden performance function). Default: equal to ``R``.

    Raises
    ------
    ValueError
        With one line naming the first problem found, e.g.
        ``"P rows must sum to 1: row (s=3, a=1) sums to 0.9"``.

    Attributes
    ----------
    num_states, num_actions : int
    gamma : float
    R : ndarray (S, A) float64, read-only
    terminal : ndarray (S,) bool, read-only
    initial : ndarray (S,) float64, read-only
    horizon : int or None
    performance : ndarray (S, A) float64, read-only (``R`` when not given)
    P2 : csr_matrix or ndarray of shape (S*A, S)
        The transition model with row ``s*A + a`` = ``P(. | s, a)``: a ``csr_matrix`` when ``P`` was
        given sparse, a read-only float64 ndarray when it was given dense.
    """

    def __init__(
        self,
        P: np.ndarray | sp.spmatrix | sp.sparray,
        R: np.ndarray,
        gamma: float = 0.99,
        terminal: np.ndarray | None = None,
        initial: np.ndarray | None = None,
        *,
        horizon: int | None = None,
        performance: np.ndarray | None = None,
    ) -> None:
        R = np.asarray(R, dtype=np.float64)
        if sp.issparse(P):
            if P.ndim != 2 or R.ndim != 2:
                raise ValueError(
                    f"sparse P must have shape (S*A, S) and R shape (S, A); got P {P.shape} and R {R.shape}"
                )
            num_states = P.shape[1]
            num_actions = R.shape[1]
            if R.shape != (num_states, num_actions) or P.shape[0] != num_states * num_actions:
                raise ValueError(
                    f"sparse P has shape {P.shape}, so S = {num_states}, and R must have shape (S, A) with "
                    f"S*A = {P.shape[0]} rows of P; got R {R.shape}"
                )
            P2 = sp.csr_matrix(P, dtype=np.float64, copy=True)
            P2.sum_duplicates()
            _check_sparse_P(P2, num_actions)
        else:
            P = np.asarray(P, dtype=np.float64)
            if P.ndim != 3 or P.shape[0] != P.shape[2]:
                raise ValueError(
                    "P must be a dense array of shape (S, A, S) or a scipy.sparse matrix of shape (S*A, S); "
                    f"got a dense array of shape {P.shape}"
                )
            num_states, num_actions = P.shape[0], P.shape[1]
            if R.shape != (num_states, num_actions):
                raise ValueError(f"R must have shape (S, A) = {(num_states, num_actions)}; got {R.shape}")
            P2 = np.array(P.reshape(num_states * num_actions, num_states), dtype=np.float64, order="C")
            _check_dense_P(P2, num_actions)
            P2.flags.writeable = False
        if num_states < 1 or num_actions < 1:
            raise ValueError(
                f"an MDP needs at least one state and one action; got S={num_states}, A={num_actions}"
            )

        self.P2: np.ndarray | sp.csr_matrix = P2
        self.num_states: int = int(num_states)
        self.num_actions: int = int(num_actions)
        self._set(
            R=R, gamma=gamma, terminal=terminal, initial=initial, horizon=horizon, performance=performance
        )

    def _set(
        self,
        *,
        R: np.ndarray,
        gamma: float,
        terminal: np.ndarray | None,
        initial: np.ndarray | None,
        horizon: int | None,
        performance: np.ndarray | None = None,
    ) -> None:
        S, A = self.num_states, self.num_actions
        R = np.array(R, dtype=np.float64)
        if R.shape != (S, A):
            raise ValueError(f"R must have shape (S, A) = {(S, A)}; got {R.shape}")
        bad = ~np.isfinite(R)
        if bad.any():
            s, a = np.argwhere(bad)[0]
            raise ValueError(f"R must be finite: R(s={s}, a={a}) = {R[s, a]}")

        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not 0.0 < float(gamma) <= 1.0:
            raise ValueError(f"gamma must be in (0, 1]; got {gamma!r}")

        if terminal is None:
            terminal = np.zeros(S, dtype=bool)
        else:
            terminal = np.array(terminal)
            if terminal.dtype != np.bool_:
                raise ValueError(
                    f"terminal must be a bool array of shape (S,) = ({S},); got dtype {terminal.dtype}"
                )
            if terminal.shape != (S,):
                raise ValueError(
                    f"terminal must be a bool array of shape (S,) = ({S},); got shape {terminal.shape}"
                )

        if initial is None:
            nonterminal = ~terminal
            if not nonterminal.any():
                raise ValueError(
                    "initial defaults to uniform over non-terminal states, but every state is terminal"
                )
            initial = nonterminal / nonterminal.sum()
        else:
            initial = np.array(initial, dtype=np.float64)
            if initial.shape != (S,):
                raise ValueError(f"initial must have shape (S,) = ({S},); got {initial.shape}")
            bad = ~np.isfinite(initial) | (initial < 0)
            if bad.any():
                s = int(np.flatnonzero(bad)[0])
                raise ValueError(f"initial must be a distribution: initial[{s}] = {initial[s]}")
            total = initial.sum()
            if abs(total - 1.0) > _ROW_SUM_TOL:
                raise ValueError(f"initial must sum to 1; it sums to {_fmt(total)}")

        if horizon is not None and (
            isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1
        ):
            raise ValueError(f"horizon must be a positive int or None; got {horizon!r}")

        if performance is None:
            performance = R
        else:
            performance = np.array(performance, dtype=np.float64)
            if performance.shape != (S, A):
                raise ValueError(f"performance must have shape (S, A) = {(S, A)}; got {performance.shape}")
            bad = ~np.isfinite(performance)
            if bad.any():
                s, a = np.argwhere(bad)[0]
                raise ValueError(
                    f"performance must be finite: performance(s={s}, a={a}) = {performance[s, a]}"
                )
        for arr in (R, terminal, initial, performance):
            arr.flags.writeable = False
        self.performance: np.ndarray = performance
        self.R: np.ndarray = R
        self.gamma: float = float(gamma)
        self.terminal: np.ndarray = terminal
        self.initial: np.ndarray = initial
        self.horizon: int | None = None if horizon is None else int(horizon)

    @property
    def is_sparse(self) -> bool:
        """Whether ``P2`` is a scipy.sparse matrix."""
        return sp.issparse(self.P2)

    def replace(self, **changes: object) -> TabularMDP:
        """A copy with some of ``R``, ``gamma``, ``terminal``, ``initial``, ``horizon``, ``performance`` replaced.

        The transition model is shared, not copied or re-validated, so this is cheap (e.g. for sampling
        many reward functions). Fields not named keep their current values, including ``initial``; a new ``R``
        without a new ``performance`` keeps the old performance only if it differed from the old ``R``.
        """
        known = ("R", "gamma", "terminal", "initial", "horizon", "performance")
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"replace() got unknown field {unknown[0]!r}; known fields: {', '.join(known)}")
        new = object.__new__(TabularMDP)
        new.P2 = self.P2
        new.num_states = self.num_states
        new.num_actions = self.num_actions
        kw = {name: changes.get(name, getattr(self, name)) for name in known}
        if "R" in changes and "performance" not in changes and self.performance is self.R:
            kw["performance"] = None  # performance tracked R: keep tracking it
        new._set(**kw)  # type: ignore[arg-type]  # validated by _set itself
        return new

    def expected_next(self, V: np.ndarray) -> np.ndarray:
        """Expected next-state value ``sum_s' P(s, a, s') V(s')``.

        Parameters
        ----------
        V : ndarray of shape (S,) or (S, K)

        Returns
        -------
        ndarray of shape (S, A) or (S, A, K)
        """
        V = np.asarray(V, dtype=np.float64)
        if V.shape[:1] != (self.num_states,) or V.ndim > 2:
            raise ValueError(f"V must have shape (S,) or (S, K) with S = {self.num_states}; got {V.shape}")
        out = np.asarray(self.P2 @ V)
        return out.reshape((self.num_states, self.num_actions, *V.shape[1:]))

    def push(self, d: np.ndarray, pi: np.ndarray) -> np.ndarray:
        """One step of the state distribution under a policy; terminal states pass nothing on.

        ``d'(s') = sum_{s not terminal, a} d(s) pi(s, a) P(s, a, s')``.

        Parameters
        ----------
        d : ndarray of shape (S,)
            Mass (probability or expected count) in each state.
        pi : ndarray of shape (S, A)
            Action probabilities in each state.

        Returns
        -------
        ndarray of shape (S,)
        """
        d = np.asarray(d, dtype=np.float64)
        if d.shape != (self.num_states,):
            raise ValueError(f"d must have shape (S,) = ({self.num_states},); got {d.shape}")
        return self._push(d, self.check_policy(pi))

    def _push(self, d: np.ndarray, pi: np.ndarray) -> np.ndarray:
        """``push`` without validation, for loops that checked their inputs once."""
        w = np.where(self.terminal, 0.0, d)[:, None] * pi
        return np.asarray(self.P2.T @ w.ravel())

    def policy_matrix(self, pi: np.ndarray) -> np.ndarray | sp.csr_matrix:
        """The state-to-state transition matrix under ``pi``, with the rows of terminal states zero.

        Parameters
        ----------
        pi : ndarray of shape (S, A)

        Returns
        -------
        csr_matrix (sparse model) or ndarray (dense model) of shape (S, S)
            ``P_pi[s, s'] = sum_a pi(s, a) P(s, a, s')`` for non-terminal ``s``, 0 for terminal ``s``.
        """
        S, A = self.num_states, self.num_actions
        w = np.where(self.terminal[:, None], 0.0, self.check_policy(pi))
        if self.is_sparse:
            W = sp.csr_matrix((w.ravel(), np.arange(S * A), np.arange(0, S * A + 1, A)), shape=(S, S * A))
            return sp.csr_matrix(W @ self.P2)
        return np.einsum("sa,sat->st", w, self.P2.reshape(S, A, S))

    def dense_P(self) -> np.ndarray:
        """The transition probabilities as a dense array of shape (S, A, S) (a new array)."""
        P2 = self.P2.toarray() if isinstance(self.P2, sp.csr_matrix) else np.array(self.P2)
        return P2.reshape(self.num_states, self.num_actions, self.num_states)

    def check_policy(self, pi: np.ndarray, *, time_indexed: bool = False) -> np.ndarray:
        """Validate action probabilities and return them as float64.

        Parameters
        ----------
        pi : ndarray of shape (S, A), or also (H, S, A) when ``time_indexed``
            Non-negative, each row summing to 1 within 1e-6.

        Returns
        -------
        ndarray of the same shape, float64
        """
        pi = np.asarray(pi, dtype=np.float64)
        S, A = self.num_states, self.num_actions
        ok_shape = pi.shape[-2:] == (S, A) and (pi.ndim == 2 or (time_indexed and pi.ndim == 3))
        if not ok_shape:
            want = "(H, S, A) or (S, A)" if time_indexed else "(S, A)"
            raise ValueError(f"pi must have shape {want} with S = {S}, A = {A}; got {pi.shape}")
        bad = ~np.isfinite(pi) | (pi < 0)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"pi must be non-negative and finite: pi{list(idx)} = {pi[idx]}")
        sums = pi.sum(axis=-1)
        bad = np.abs(sums - 1.0) > _POLICY_SUM_TOL
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f"s={idx[-1]}" if len(idx) == 1 else f"t={idx[0]}, s={idx[1]}"
            raise ValueError(f"pi rows must sum to 1: row ({where}) sums to {_fmt(sums[idx])}")
        return pi

    def __repr__(self) -> str:
        kind = "sparse" if self.is_sparse else "dense"
        return (
            f"TabularMDP(S={self.num_states}, A={self.num_actions}, gamma={self.gamma}, "
            f"terminal={int(self.terminal.sum())}, horizon={self.horizon}, P={kind})"
        )


def _check_sparse_P(P2: sp.csr_matrix, num_actions: int) -> None:
    data = P2.data
    bad = ~np.isfinite(data) | (data < 0)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(P2.indptr, k, side="right") - 1)
        col = int(P2.indices[k])
        _raise_bad_entry(row, col, data[k], num_actions)
    _check_row_sums(np.asarray(P2.sum(axis=1)).ravel(), num_actions)


def _check_dense_P(P2: np.ndarray, num_actions: int) -> None:
    bad = ~np.isfinite(P2) | (P2 < 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        _raise_bad_entry(row, col, P2[row, col], num_actions)
    _check_row_sums(P2.sum(axis=1), num_actions)


def _raise_bad_entry(row: int, col: int, value: float, num_actions: int) -> None:
    s, a = divmod(row, num_actions)
    what = "finite" if not np.isfinite(value) else "non-negative"
    raise ValueError(f"P must be {what}: P(s'={col} | s={s}, a={a}) = {_fmt(value)}")


def _check_row_sums(sums: np.ndarray, num_actions: int) -> None:
    bad = np.abs(sums - 1.0) > _ROW_SUM_TOL
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        s, a = divmod(row, num_actions)
        raise ValueError(f"P rows must sum to 1: row (s={s}, a={a}) sums to {_fmt(sums[row])}")
