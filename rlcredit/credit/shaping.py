"""Shaping: how one update changed the policy at every state of the gridworld, visited or not.

A policy-gradient update only credits the steps it sampled, but a function approximator moves
``pi(.|s)`` everywhere. For every logged update, ``RUN_DIR/shaping/update_000012.parquet`` holds one row
per state of the layout (walls and unvisited states included)::

    update, layout_seed, state, row, col, wall, terminal, visits,
    pi_before_0..A-1, pi_after_0..A-1, tv, kl

``visits`` counts the batch's steps in the state, ``tv = 0.5 * sum_a |pi_after - pi_before|`` and
``kl = KL(pi_before || pi_after)``. ``layout_seed`` names the layout (-1 for fixed maps).

The same hook returns the update's exact scalars for ``metrics.csv`` (see :meth:`ShapingRecorder.__call__`):
``exact/J``, ``exact/J_after``, ``exact/reach_<kind>``, ``exact/intended``, ``exact/performance``,
``exact/reward_minus_intended``, ``exact/grad_cos``,
``shaping/mean_tv`` and ``shaping/unvisited_tv``.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rlcredit.credit.exact import ExactCredit, PolicyLike, PolicyValues, cosine
from rlcredit.credit.records import DeferredFiles
from rlcredit.gridworld.core import Layout

if TYPE_CHECKING:
    import torch

__all__ = ["ShapingRecorder", "policy_change", "shaping_frame", "shaping_table"]

_FILE = re.compile(r"update_(\d+)\.parquet")


def policy_change(pi_before: np.ndarray, pi_after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total variation and KL divergence between two policies, state by state.

    Parameters
    ----------
    pi_before, pi_after : ndarray (S, A)

    Returns
    -------
    tv : ndarray (S,) float64
        ``0.5 * sum_a |pi_after(a|s) - pi_before(a|s)|``, in [0, 1].
    kl : ndarray (S,) float64
        ``KL(pi_before || pi_after) = sum_a pi_before log(pi_before / pi_after)`` (terms with
        ``pi_before = 0`` are 0; ``inf`` where ``pi_after = 0 < pi_before``).
    """
    p = np.asarray(pi_before, dtype=np.float64)
    q = np.asarray(pi_after, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2:
        raise ValueError(f"pi_before and pi_after must both have shape (S, A); got {p.shape} and {q.shape}")
    tv = 0.5 * np.abs(q - p).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return tv, terms.sum(axis=1)


def shaping_frame(
    update: int,
    pi_before: np.ndarray,
    pi_after: np.ndarray,
    visits: np.ndarray,
    *,
    layout: Layout | None = None,
    terminal: np.ndarray | None = None,
    layout_seed: int = -1,
) -> pd.DataFrame:
    """The shaping rows of one update as a DataFrame (:func:`shaping_table`, converted)."""
    return shaping_table(
        update, pi_before, pi_after, visits, layout=layout, terminal=terminal, layout_seed=layout_seed
    ).to_pandas()


def shaping_table(
    update: int,
    pi_before: np.ndarray,
    pi_after: np.ndarray,
    visits: np.ndarray,
    *,
    layout: Layout | None = None,
    terminal: np.ndarray | None = None,
    layout_seed: int = -1,
) -> pa.Table:
    """The shaping rows of one update: one per state, in state order.

    Parameters
    ----------
    update : int
    pi_before, pi_after : ndarray (S, A)
        The policy on every state before and after the update.
    visits : int ndarray (S,)
        Steps of the update's batch in each state.
    layout : Layout, optional
        Gives ``row``, ``col``, ``wall`` and ``terminal``; without it ``row = col = -1``, ``wall`` is False
        and ``terminal`` comes from ``terminal`` (default all False).
    terminal : bool ndarray (S,), optional
        Terminal states, when there is no layout.
    layout_seed : int
        -1 for fixed maps.

    Returns
    -------
    pyarrow Table with columns ``update, layout_seed, state, row, col, wall, terminal, visits,
    pi_before_0..A-1, pi_after_0..A-1, tv, kl`` (int32/int64/int16/bool/float32).
    """
    p = np.asarray(pi_before, dtype=np.float64)
    q = np.asarray(pi_after, dtype=np.float64)
    tv, kl = policy_change(p, q)
    S, A = p.shape
    visits = np.asarray(visits).reshape(-1)
    if visits.shape != (S,):
        raise ValueError(f"visits must have shape (S,) = ({S},); got {visits.shape}")
    states = np.arange(S)
    if layout is not None:
        if layout.num_states != S:
            raise ValueError(f"the layout has {layout.num_states} states but the policy tables have {S}")
        row, col = layout.coords(states)
        wall, term = layout.wall[layout.cell], layout.terminal
    else:
        row = col = np.full(S, -1)
        wall = np.zeros(S, dtype=bool)
        term = np.zeros(S, dtype=bool) if terminal is None else np.asarray(terminal, dtype=bool)
    data: dict[str, np.ndarray] = {
        "update": np.full(S, update, dtype=np.int32),
        "layout_seed": np.full(S, layout_seed, dtype=np.int64),
        "state": states.astype(np.int32),
        "row": row.astype(np.int16),
        "col": col.astype(np.int16),
        "wall": wall.astype(bool),
        "terminal": term.astype(bool),
        "visits": visits.astype(np.int32),
    }
    for a in range(A):
        data[f"pi_before_{a}"] = p[:, a].astype(np.float32)
    for a in range(A):
        data[f"pi_after_{a}"] = q[:, a].astype(np.float32)
    data["tv"] = tv.astype(np.float32)
    data["kl"] = kl.astype(np.float32)
    return pa.table(data)


def _batch_array(batch: Mapping[str, Any] | pd.DataFrame, *names: str) -> np.ndarray | None:
    for name in names:
        if name in batch:
            v = batch[name]
            return np.asarray(v.detach().cpu() if hasattr(v, "detach") else v).reshape(-1)
    return None


def _nanmean(values: list[float]) -> float:
    """Mean of the non-NaN values (NaN if none); plain Python, as the lists hold one value per layout."""
    kept = [v for v in values if v == v]
    return sum(kept) / len(kept) if kept else float("nan")


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


class ShapingRecorder:
    """The ``on_update`` hook: per-state policy change and the update's exact scalars.

    Parameters
    ----------
    exact : ExactCredit
        The exact model (the same object the trainer uses as ``exact_fn``, so values are solved once).
    directory : path-like, optional
        Where ``update_000012.parquet`` files go (usually ``RunDir.shaping_dir``); None writes nothing.
    max_layouts : int
        Procedural maps: the exact scalars average over at most this many of the batch's layouts (the
        most visited); the parquet file describes the most visited one.
    fsync : bool
        Flush every file to disk as it is written; False leaves that to :meth:`sync`
        (:class:`~rlcredit.credit.records.DeferredFiles`). Writes are atomic either way.

    Examples
    --------
    >>> exact = ExactCredit(venv, gamma=0.99)                               # doctest: +SKIP
    >>> shaping = ShapingRecorder(exact, run.shaping_dir)                   # doctest: +SKIP
    >>> shaping.record_gradient(k, policy.actor, grad, policy.actor.parameters())   # at theta_k  # doctest: +SKIP
    >>> row.update(shaping(k, pi_before, pi_after, {"states": states}))    # after the update  # doctest: +SKIP
    """

    def __init__(
        self,
        exact: ExactCredit,
        directory: str | os.PathLike[str] | None = None,
        *,
        max_layouts: int = 8,
        fsync: bool = True,
    ) -> None:
        if max_layouts < 1:
            raise ValueError(f"max_layouts must be >= 1, got {max_layouts}")
        self.exact = exact
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.max_layouts = max_layouts
        self._grad_cos: dict[int, float] = {}
        self._files = DeferredFiles(fsync=fsync)

    def path(self, update: int) -> Path | None:
        """The shaping file of an update (None without a directory)."""
        return None if self.directory is None else self.directory / f"update_{update:06d}.parquet"

    def discard_after(self, update: int) -> None:
        """Delete files of updates after ``update`` (a resumed run rewrites them)."""
        if self.directory is None:
            return
        for p in self.directory.glob("update_*.parquet"):
            m = _FILE.fullmatch(p.name)
            if m and int(m[1]) > update:
                p.unlink()
                self._files.forget(p)

    def sync(self) -> None:
        """Make every shaping file written so far durable (a no-op with ``fsync=True``)."""
        self._files.sync()

    # -- exact policy gradient ------------------------------------------------------------------------------
    def record_gradient(
        self,
        update: int,
        logits_fn: Callable[[torch.Tensor], torch.Tensor],
        sampled_grad: Any,
        params: Iterable[torch.Tensor],
        *,
        layout_seeds: Iterable[int] | np.ndarray | None = None,
    ) -> float:
        """Cosine between the update's sampled policy gradient and the exact one; call at ``theta_k``.

        Call it while the policy still has the parameters that collected the rollout (before the first
        optimizer step). The value is returned and reported as ``exact/grad_cos`` by the next
        :meth:`__call__` for this update.

        Parameters
        ----------
        update : int
        logits_fn : callable
            ``(S, *obs_shape)`` tensor -> ``(S, A)`` logits, e.g. ``policy.actor``.
        sampled_grad : tensor or array (P,)
            The trainer's policy-gradient estimate as an *ascent* direction of the return (minus the
            gradient of the policy loss, no entropy term), flattened in the order of ``params``
            (``torch.nn.utils.parameters_to_vector``).
        params : iterable of tensors
            The parameters ``sampled_grad`` is over (e.g. ``policy.actor.parameters()``).
        layout_seeds : ints, optional
            Procedural maps: the batch's layout seeds (one per step, or distinct); the exact gradient is
            averaged over at most ``max_layouts`` of the most frequent ones.

        Returns
        -------
        float
            NaN without a model or when either gradient is zero.
        """
        if not self.exact.has_model:
            return float("nan")
        params = list(params)
        grads = [
            self.exact.policy_gradient(update, logits_fn, params, seed).grad
            for seed in self._layouts(layout_seeds)
        ]
        exact = sum(grads[1:], grads[0]) / len(grads)
        cos = cosine(sampled_grad, exact)
        self._grad_cos[update] = cos
        return cos

    # -- the hook -------------------------------------------------------------------------------------------
    def __call__(
        self,
        update: int,
        pi_before_all_states: PolicyLike | None,
        pi_after_all_states: PolicyLike,
        batch: Mapping[str, Any] | pd.DataFrame,
        *,
        write: bool = True,
    ) -> dict[str, float]:
        """Write the update's shaping file and return its exact and shaping scalars.

        Parameters
        ----------
        update : int
        pi_before_all_states : PolicyLike or None
            ``pi_k`` (the policy that collected the batch) on every state: an ``(S, A)`` table or a function
            of observations evaluated *now* (so it must still be ``pi_k``). None uses the tables the
            ``exact_fn`` call of this update saw (needed for grid observations of procedural maps).
        pi_after_all_states : PolicyLike
            ``pi_{k+1}``, after the update.
        batch : mapping or DataFrame
            ``states`` (or ``state``): (N,) state index of each step of the batch (-1 ignored);
            ``layout_seeds`` (or ``layout_seed``): (N,) layout seeds, required for procedural maps.
        write : bool
            Write ``shaping/update_<update>.parquet`` (when the recorder has a directory).

        Returns
        -------
        dict
            ``exact/J`` and ``exact/J_after`` (exact expected discounted return from the initial
            distribution under ``pi_k`` and ``pi_{k+1}``, time-limited, trainer's gamma),
            ``exact/reach_<kind>`` for every kind of :attr:`ExactCredit.reach_kinds` and ``exact/intended``
            (probability under ``pi_k`` that the event happens in an episode), ``exact/performance`` and
            ``exact/reward_minus_intended`` (:meth:`ExactCredit.intended` of ``pi_k``: the expected episode
            sum of the intended performance the map declares, and the expected return minus it; undiscounted),
            ``exact/grad_cos`` (when
            :meth:`record_gradient` ran for this update), ``shaping/mean_tv`` and ``shaping/unvisited_tv``
            (mean total variation over the non-wall, non-terminal states the batch visited / never
            visited; NaN when there are none). Procedural maps average the exact scalars over the batch's
            (most visited) layouts. Empty for an env without a model.
        """
        if not self.exact.has_model:
            self._grad_cos.pop(update, None)
            return {}
        states = _batch_array(batch, "states", "state")
        if states is None:
            raise KeyError("batch needs 'states': the state index of each step of the update's batch")
        states = states.astype(np.int64)
        seeds = _batch_array(batch, "layout_seeds", "layout_seed")
        if self.exact.procedural and seeds is None:
            self.exact.layout(-1)  # raises the explanatory error
        layouts = self._layouts(seeds)
        out: dict[str, list[float]] = {}
        for i, seed in enumerate(layouts):
            before = self._before(update, pi_before_all_states, seed)
            after = self.exact.policy_table(pi_after_all_states, seed)
            m = self.exact.mdp(seed)
            layout = self.exact.layout(seed)
            out.setdefault("exact/J", []).append(before.J)
            out.setdefault("exact/J_after", []).append(self.exact.evaluate(after, seed, boot=False).J)
            perf, gap = self.exact.intended(before, seed)
            out.setdefault("exact/performance", []).append(perf)
            out.setdefault("exact/reward_minus_intended", []).append(gap)
            for event, h in before.reach.items():
                name = "exact/intended" if event == "intended" else f"exact/reach_{event}"
                out.setdefault(name, []).append(float(m.initial @ h))
            mine = states if seeds is None or not self.exact.procedural else states[seeds == seed]
            mine = mine[(mine >= 0) & (mine < m.num_states)]
            visits = np.bincount(mine, minlength=m.num_states)
            tv, _ = policy_change(before.pi, after)
            acts = ~m.terminal if layout is None else layout.live
            out.setdefault("shaping/mean_tv", []).append(_mean(tv[acts & (visits > 0)]))
            out.setdefault("shaping/unvisited_tv", []).append(_mean(tv[acts & (visits == 0)]))
            if i == 0 and write and self.directory is not None:
                table = shaping_table(
                    update, before.pi, after, visits, layout=layout, terminal=m.terminal, layout_seed=seed
                )
                self._files.write(self.directory / f"update_{update:06d}.parquet", _small_parquet(table))
        metrics = {k: _nanmean(v) for k, v in out.items()}
        if update in self._grad_cos:
            metrics["exact/grad_cos"] = self._grad_cos.pop(update)
        return metrics

    # -- helpers --------------------------------------------------------------------------------------------
    def _layouts(self, seeds: Iterable[int] | np.ndarray | None) -> list[int]:
        """Layout seeds to measure: [-1] for fixed maps, else the most frequent of ``seeds``."""
        if not self.exact.procedural:
            return [-1]
        arr = np.asarray(list(seeds) if seeds is not None and not isinstance(seeds, np.ndarray) else seeds)
        arr = arr.astype(np.int64).reshape(-1) if arr.size else np.zeros(0, np.int64)
        arr = arr[arr >= 0]
        if arr.size == 0:
            self.exact.layout(-1)  # raises the explanatory error
        uniq, counts = np.unique(arr, return_counts=True)
        order = np.lexsort((uniq, -counts))  # most frequent first, ties by seed
        return [int(s) for s in uniq[order][: self.max_layouts]]

    def _before(self, update: int, pi: PolicyLike | None, seed: int) -> PolicyValues:
        if pi is not None:
            return self.exact.values(update, pi, seed)
        hit = self.exact.cached(update, seed)
        if hit is None:
            raise ValueError(
                f"pi_before_all_states=None needs exact_fn to have been called for update {update} on "
                f"layout {seed}; pass the policy table instead"
            )
        return hit


def _small_parquet(table: pa.Table) -> bytes:
    """A table of a few hundred rows as parquet bytes: snappy, no dictionaries or statistics (at this size
    zstd's and the encoders' setup cost more time than they save space)."""

    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="snappy",
        use_dictionary=False,
        write_statistics=False,
        write_page_checksum=True,
    )
    return sink.getvalue()
