"""Search on an exact tabular model: UCT/PUCT (the bounded planner) and a Bellman search that converges.

Two searches share :func:`mcts` (``search="uct"``, the default, or ``search="bellman"``):

- **UCT / PUCT** (random or value rollouts, or a prior): the classic bounded planner. It is consistent only
  asymptotically: with sparse, delayed rewards the branch behind a modest near reward can stay starved for
  millions of simulations.
- **Bellman search** (:func:`bellman_search`): trial-based heuristic search over the ``(depth, state)`` DAG
  with transpositions merged, exact expected (Bellman) backups over every outcome of an action, and
  admissible upper bounds at unexpanded nodes, with nodes labelled *solved* once their value is exact
  (as in AO* / labelled RTDP: Bonet & Geffner 2003). Each trial follows the action with the best upper bound
  and samples an outcome among the unsolved ones; when the root is solved its action is optimal (ties
  aside), and the result says so. A budget of trials bounds the work; the reachable DAG bounds what
  convergence can need (at most ``(depth + 1) * S`` nodes).

MCTS is a planner: it explicitly maximizes reward by simulating the model, in contrast with a policy-gradient
trainer, which only strengthens what happened to precede reward. The search runs on the transitions of a
:class:`~rlcredit.mdp.TabularMDP` held as CSR arrays, in a numba-compiled loop over flat preallocated arrays.

Tree layout
-----------
Every node of the tree is a *decision node*: an environment state reached by a particular path. The
statistics of each action live on the node's edges, ``edge_visits[n, a]`` and ``edge_value_sum[n, a]``
(the sum of the discounted returns that followed taking ``a`` at ``n``).

Stochastic transitions use *sampled outcomes with chance-node semantics*: taking ``a`` at node ``n`` samples
a next state ``s' ~ P(.|s, a)`` from the model, and ``(n, a)`` keeps one child node per next state sampled so
far (a linked list: ``first_child[n, a]``, then ``next_sibling``). The edge's mean return therefore averages over
outcomes in proportion to how often the model produced them, which is all UCT needs to converge to
``Q*(s, a) = R(s, a) + γ Σ P(s'|s, a) V*(s')``; enumerating every outcome with its probability is not
needed, and sampling keeps the memory proportional to the number of simulations (each simulation adds at
most one node) rather than to the branching factor. The reward of an edge is the model's expected reward
``R[s, a]``, so outcomes differ only through the value of the state they lead to.

Each simulation descends the tree (UCT or PUCT selection), adds the first new node it reaches, evaluates that
node (random rollout, value function, or 0), and backs the discounted return up the path. Terminal states end
a simulation with value 0, and so does reaching ``max_depth`` steps from the root (the model's ``horizon``
caps it when set: the episode is over then).

References: Kocsis & Szepesvári, "Bandit based Monte-Carlo Planning", ECML 2006 (UCT); Silver et al.,
"Mastering the game of Go without human knowledge", Nature 2017 (PUCT); Schrittwieser et al. 2020
(MuZero: Q-values normalized by the minimum and maximum seen in the tree, used here so that ``c_uct`` and
``c_puct`` do not depend on the scale of the reward).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numba import njit

__all__ = ["BellmanDAG", "MCTSResult", "MCTSTree", "SearchModel", "bellman_search", "mcts"]

SEARCHES = ("uct", "bellman")
"""Search variants :func:`mcts` accepts (``search=``)."""

_ROLLOUT_MODES = {"random": 0, "value": 1, None: 2}
_NO_CAP = 2**62


@dataclass(frozen=True, eq=False)
class SearchModel:
    """A tabular model compiled for search: transitions as CSR arrays with cumulative probabilities.

    Build it once with :meth:`from_model` and pass it to :func:`mcts` in place of the model to avoid
    recompiling at every call (the :class:`~rlcredit.planning.planner.MCTSPlanner` does this).

    Attributes
    ----------
    indptr : ndarray (S*A + 1,) int64
        Row ``s*A + a`` of the transition matrix spans ``indices[indptr[s*A+a]:indptr[s*A+a+1]]``.
    indices : ndarray (nnz,) int64
        Next states with nonzero probability.
    cumprob : ndarray (nnz,) float64
        Cumulative probabilities within each row (the last entry of a row is ~1).
    R : ndarray (S, A) float64
        Expected reward of taking ``a`` in ``s``.
    terminal : ndarray (S,) bool
        Terminal states (value 0, the episode is over).
    gamma : float
        The model's discount.
    horizon : int or None
        The model's episode time limit, if any.
    """

    indptr: np.ndarray
    indices: np.ndarray
    cumprob: np.ndarray
    R: np.ndarray
    terminal: np.ndarray
    gamma: float
    horizon: int | None

    @property
    def num_states(self) -> int:
        return int(self.R.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.R.shape[1])

    @classmethod
    def from_model(cls, model: Any) -> SearchModel:
        """Compile a :class:`~rlcredit.mdp.TabularMDP` or a gridworld env (anything with ``.unwrapped.to_mdp()``)."""
        if isinstance(model, SearchModel):
            return model
        m = _as_mdp(model)
        P2 = sp.csr_matrix(m.P2, dtype=np.float64)
        P2.eliminate_zeros()
        P2.sort_indices()
        indptr = P2.indptr.astype(np.int64)
        cumprob = _row_cumsum(indptr, P2.data.astype(np.float64))
        horizon = getattr(m, "horizon", None)
        return cls(
            indptr=indptr,
            indices=P2.indices.astype(np.int64),
            cumprob=cumprob,
            R=np.ascontiguousarray(m.R, dtype=np.float64),
            terminal=np.ascontiguousarray(m.terminal, dtype=np.bool_),
            gamma=float(m.gamma),
            horizon=None if horizon is None else int(horizon),
        )


@dataclass(frozen=True, eq=False)
class MCTSTree:
    """The whole search tree, as flat arrays indexed by node (node 0 is the root).

    Attributes
    ----------
    state : ndarray (N,) int64
        Model state of each node.
    parent : ndarray (N,) int64
        Parent node (-1 for the root).
    action : ndarray (N,) int64
        Action taken at the parent to reach the node (-1 for the root).
    depth : ndarray (N,) int64
        Steps from the root.
    visits : ndarray (N,) int64
        Simulations that passed through (or ended at) the node.
    value_sum : ndarray (N,) float64
        Sum of the discounted returns from the node over those simulations.
    edge_visits : ndarray (N, A) int64
        Times each action was taken at the node.
    edge_value_sum : ndarray (N, A) float64
        Sum of the discounted returns that followed taking each action at the node.
    first_child : ndarray (N, A) int64
        First child node of ``(node, action)`` (-1 if none); the others follow through ``next_sibling``,
        one child per next state sampled so far.
    next_sibling : ndarray (N,) int64
        Next child of the same ``(parent, action)`` (-1 at the end of the list).
    """

    state: np.ndarray
    parent: np.ndarray
    action: np.ndarray
    depth: np.ndarray
    visits: np.ndarray
    value_sum: np.ndarray
    edge_visits: np.ndarray
    edge_value_sum: np.ndarray
    first_child: np.ndarray
    next_sibling: np.ndarray

    @property
    def num_nodes(self) -> int:
        return int(self.state.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.edge_visits.shape[1])

    @property
    def root_state(self) -> int:
        return int(self.state[0])

    def q(self, node: int = 0) -> np.ndarray:
        """Mean return of each action at ``node``, shape (A,); NaN for actions never taken."""
        n = self.edge_visits[node]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.edge_value_sum[node] / np.maximum(n, 1), np.nan)

    def children(self, node: int, action: int) -> dict[int, int]:
        """The children of ``(node, action)`` as ``{next_state: child_node}``."""
        out: dict[int, int] = {}
        child = int(self.first_child[node, action])
        while child >= 0:
            out[int(self.state[child])] = child
            child = int(self.next_sibling[child])
        return out

    def subtree(self, action: int, next_state: int) -> MCTSTree | None:
        """The subtree below the root after taking ``action`` and arriving in ``next_state``, re-rooted.

        Pass it as ``tree=`` to the next :func:`mcts` call (from ``next_state``) to reuse its statistics.
        Returns None when that outcome was never sampled in the search.
        """
        child = self.children(0, action).get(int(next_state), -1)
        if child < 0:
            return None
        keep = _descendants(self.parent, child)
        new_index = np.cumsum(keep) - 1
        remap = np.append(new_index, -1)  # remap[-1] == -1 keeps "no node" as -1

        def nodes(a: np.ndarray) -> np.ndarray:
            return remap[a[keep]]

        parent = nodes(self.parent)
        parent[0] = -1
        action_arr = self.action[keep].copy()
        action_arr[0] = -1
        next_sibling = nodes(self.next_sibling)
        next_sibling[0] = -1
        return MCTSTree(
            state=self.state[keep].copy(),
            parent=parent,
            action=action_arr,
            depth=self.depth[keep] - self.depth[child],
            visits=self.visits[keep].copy(),
            value_sum=self.value_sum[keep].copy(),
            edge_visits=self.edge_visits[keep].copy(),
            edge_value_sum=self.edge_value_sum[keep].copy(),
            first_child=nodes(self.first_child),
            next_sibling=next_sibling,
        )


@dataclass(frozen=True, eq=False)
class MCTSResult:
    """Outcome of one search from a root state.

    Attributes
    ----------
    action : int
        The most visited root action (ties: higher mean return, then lowest index).
    visits : ndarray (A,) int64
        Visit count of each root action.
    q : ndarray (A,) float64
        Mean discounted return of each root action (an estimate of ``Q*(root, a)``); NaN if never taken.
    tree : MCTSTree
        The whole search tree (reusable through :meth:`MCTSTree.subtree`).
    """

    action: int
    visits: np.ndarray
    q: np.ndarray
    tree: MCTSTree

    @property
    def policy(self) -> np.ndarray:
        """Root visit distribution, shape (A,)."""
        return self.visits / max(int(self.visits.sum()), 1)

    @property
    def value(self) -> float:
        """Mean discounted return from the root over all simulations."""
        return float(self.tree.value_sum[0] / max(int(self.tree.visits[0]), 1))


def mcts(
    model: Any,
    state: int,
    *,
    num_simulations: int = 1000,
    seed: int = 0,
    c_uct: float = math.sqrt(2.0),
    rollout: Literal["random", "value"] | None = "random",
    rollout_depth: int = 50,
    max_depth: int | None = None,
    gamma: float | None = None,
    prior: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    c_puct: float = 1.25,
    value_fn: np.ndarray | Callable[[int], float] | None = None,
    tree: MCTSTree | None = None,
    search: Literal["uct", "bellman"] = "uct",
) -> MCTSResult:
    """Search the model from ``state`` and return the root action statistics and the tree.

    ``search="bellman"`` runs :func:`bellman_search` instead of UCT (``num_simulations`` trials, ``seed``,
    ``max_depth``, ``gamma`` and ``value_fn`` apply; a ``value_fn`` is then taken as an *upper bound* on
    the optimal value; the UCT-only options ``c_uct``, ``rollout``, ``rollout_depth``, ``prior``, ``c_puct``
    and ``tree`` must keep their defaults).

    Parameters
    ----------
    model : TabularMDP, gridworld env or SearchModel
        The model to simulate (an env is converted with ``env.unwrapped.to_mdp()``).
    state : int
        Root state index (not terminal).
    num_simulations : int
        Simulations to run (each adds at most one node to the tree).
    seed : int
        Seed of the search's random numbers; the result is a deterministic function of the arguments.
    c_uct : float
        UCT exploration constant: ``Q̂(n, a) + c_uct * sqrt(ln N(n) / N(n, a))``, with ``Q̂`` the mean return
        normalized to [0, 1] by the minimum and maximum mean return in the tree. Untried actions go first, in
        random order. Used when ``prior`` is None.
    rollout : "random", "value" or None
        How a newly added node is evaluated: the discounted return of up to ``rollout_depth`` uniformly random
        actions (bootstrapped with ``value_fn`` at the cut when ``value_fn`` is given), ``value_fn`` of its
        state, or 0.
    rollout_depth : int
        Steps of a random rollout.
    max_depth : int or None
        Steps from the root after which a simulation ends (tree and rollout together), value 0 there.
        Defaults to the model's horizon when it has one (and is capped by it), else unlimited.
    gamma : float or None
        Discount; defaults to the model's.
    prior : ndarray (S, A), callable or None
        Action prior for PUCT (AlphaZero): ``Q̂(n, a) + c_puct * p(s, a) * sqrt(N(n)) / (1 + N(n, a))``, with
        the parent's mean return standing in for the value of an untried action. A callable receives all state
        indices, shape (S,), and returns probabilities, shape (S, A) (e.g. a trained policy's action
        probabilities: planning on top of a learned policy). Rows are normalized to sum to 1.
    c_puct : float
        PUCT exploration constant.
    value_fn : ndarray (S,), callable or None
        State value estimate (e.g. exact ``V`` or a value network), as an array or as
        ``value_fn(state) -> float`` (called once per state).
    tree : MCTSTree or None
        A tree to continue (e.g. ``previous.tree.subtree(action, state)``); it must be rooted at ``state``.
    search : "uct" or "bellman"
        The search variant (module docstring).

    Returns
    -------
    MCTSResult
        For ``search="bellman"``: ``visits`` are the trials through each root action, ``q`` the root's
        Bellman action values (exact where solved, upper bounds elsewhere) and ``tree`` a :class:`BellmanDAG`.

    Raises
    ------
    ValueError
        For an invalid state, a terminal state, ``num_simulations <= 0``, a prior of the wrong shape, or a
        tree rooted elsewhere.
    """
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}; got {search!r}")
    if search == "bellman":
        uct_only = {
            "c_uct": c_uct != math.sqrt(2.0),
            "rollout": rollout != "random",
            "rollout_depth": rollout_depth != 50,
            "prior": prior is not None,
            "c_puct": c_puct != 1.25,
            "tree": tree is not None,
        }
        given = [k for k, v in uct_only.items() if v]
        if given:
            raise ValueError(f"search='bellman' does not use {', '.join(given)} (UCT options)")
        return bellman_search(
            model, state, num_trials=num_simulations, seed=seed, max_depth=max_depth, gamma=gamma,
            upper_bound=value_fn,
        )  # fmt: skip
    sm = SearchModel.from_model(model)
    S, A = sm.num_states, sm.num_actions
    state = _check_state(state, S)
    if sm.terminal[state]:
        raise ValueError(f"state {state} is terminal: there is nothing to plan from it")
    if num_simulations <= 0:
        raise ValueError(f"num_simulations must be positive, got {num_simulations}")
    if rollout not in _ROLLOUT_MODES:
        raise ValueError(f"rollout must be 'random', 'value' or None, got {rollout!r}")
    if rollout_depth < 0:
        raise ValueError(f"rollout_depth must be >= 0, got {rollout_depth}")
    if rollout == "value" and value_fn is None:
        raise ValueError("rollout='value' needs a value_fn (an (S,) array or a callable state -> float)")
    gamma = sm.gamma if gamma is None else float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    depth_cap = _NO_CAP if max_depth is None else int(max_depth)
    if depth_cap <= 0:
        raise ValueError(f"max_depth must be positive, got {max_depth}")
    if sm.horizon is not None:
        depth_cap = min(depth_cap, sm.horizon)
    values = _values_array(value_fn, S)
    prior_arr = _prior_array(prior, S, A)
    if tree is not None:
        if tree.num_actions != A:
            raise ValueError(f"tree has {tree.num_actions} actions but the model has {A}")
        if tree.root_state != state:
            raise ValueError(f"tree is rooted at state {tree.root_state}, not at state {state}")

    old = 0 if tree is None else tree.num_nodes
    capacity = old + num_simulations + 1
    t = _allocate(capacity, A)
    if tree is None:
        t["state"][0] = state
        num_nodes = 1
    else:
        for name, arr in t.items():
            arr[:old] = getattr(tree, name)
        num_nodes = old
    path_len = int(min(depth_cap, int(t["depth"][:num_nodes].max()) + num_simulations)) + 1

    num_nodes = _search(
        sm.indptr,
        sm.indices,
        sm.cumprob,
        sm.R,
        sm.terminal,
        values,
        value_fn is not None,
        prior_arr,
        prior is not None,
        gamma,
        float(c_uct),
        float(c_puct),
        _ROLLOUT_MODES[rollout],
        int(rollout_depth),
        depth_cap,
        int(num_simulations),
        int(seed) % (2**32),
        path_len,
        num_nodes,
        t["state"],
        t["parent"],
        t["action"],
        t["depth"],
        t["visits"],
        t["value_sum"],
        t["edge_visits"],
        t["edge_value_sum"],
        t["first_child"],
        t["next_sibling"],
    )
    result_tree = MCTSTree(**{name: arr[:num_nodes].copy() for name, arr in t.items()})
    visits = result_tree.edge_visits[0].copy()
    q = result_tree.q(0)
    order = np.lexsort((-np.nan_to_num(q, nan=-np.inf), -visits))  # most visits, then higher q, then index
    return MCTSResult(action=int(order[0]), visits=visits, q=q, tree=result_tree)


def _as_mdp(model: Any) -> Any:
    if hasattr(model, "P2") and hasattr(model, "R"):
        return model
    unwrapped = getattr(model, "unwrapped", None)
    if unwrapped is not None and hasattr(unwrapped, "to_mdp"):
        return unwrapped.to_mdp()
    raise ValueError(
        f"model must be a TabularMDP or an env with .unwrapped.to_mdp(), got {type(model).__name__}"
    )


def _check_state(state: Any, num_states: int) -> int:
    if isinstance(state, bool) or not isinstance(state, int | np.integer):
        raise ValueError(f"state must be an integer state index, got {state!r}")
    state = int(state)
    if not 0 <= state < num_states:
        raise ValueError(f"state {state} out of range for a model with {num_states} states")
    return state


def _values_array(value_fn: np.ndarray | Callable[[int], float] | None, S: int) -> np.ndarray:
    if value_fn is None:
        return np.zeros(S)
    if callable(value_fn):
        values = np.array([float(value_fn(s)) for s in range(S)])
    else:
        values = np.asarray(value_fn, dtype=np.float64)
        if values.shape != (S,):
            raise ValueError(f"value_fn array has shape {values.shape} but the model has {S} states")
    if not np.all(np.isfinite(values)):
        raise ValueError("value_fn returned a non-finite value")
    return np.ascontiguousarray(values)


def _prior_array(prior: np.ndarray | Callable[[np.ndarray], np.ndarray] | None, S: int, A: int) -> np.ndarray:
    if prior is None:
        return np.full((S, A), 1.0 / A)
    p = prior(np.arange(S)) if callable(prior) else prior
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != A:
        got = p.shape[1] if p.ndim == 2 else f"shape {p.shape} instead of (S, A)"
        raise ValueError(f"prior has {got} actions per state but the model has {A}")
    if p.shape[0] != S:
        raise ValueError(f"prior has {p.shape[0]} states but the model has {S}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("prior must be finite and non-negative")
    total = p.sum(axis=1, keepdims=True)
    return np.ascontiguousarray(np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / A))


def _allocate(capacity: int, A: int) -> dict[str, np.ndarray]:
    return {
        "state": np.zeros(capacity, np.int64),
        "parent": np.full(capacity, -1, np.int64),
        "action": np.full(capacity, -1, np.int64),
        "depth": np.zeros(capacity, np.int64),
        "visits": np.zeros(capacity, np.int64),
        "value_sum": np.zeros(capacity, np.float64),
        "edge_visits": np.zeros((capacity, A), np.int64),
        "edge_value_sum": np.zeros((capacity, A), np.float64),
        "first_child": np.full((capacity, A), -1, np.int64),
        "next_sibling": np.full(capacity, -1, np.int64),
    }


@njit(cache=True)
def _row_cumsum(indptr: np.ndarray, data: np.ndarray) -> np.ndarray:
    out = np.empty_like(data)
    for row in range(indptr.shape[0] - 1):
        total = 0.0
        for k in range(indptr[row], indptr[row + 1]):
            total += data[k]
            out[k] = total
    return out


@njit(cache=True)
def _descendants(parent: np.ndarray, root: int) -> np.ndarray:
    # Nodes are created after their parent, so one forward pass marks every descendant.
    keep = np.zeros(parent.shape[0], np.bool_)
    keep[root] = True
    for i in range(root + 1, parent.shape[0]):
        p = parent[i]
        if p >= 0 and keep[p]:
            keep[i] = True
    return keep


@njit(cache=True)
def _sample_next(indptr: np.ndarray, indices: np.ndarray, cumprob: np.ndarray, row: int, s: int) -> int:
    start = indptr[row]
    end = indptr[row + 1]
    if end == start:
        return s  # a row without outcomes (only possible for states the search never leaves from)
    u = np.random.random() * cumprob[end - 1]
    for k in range(start, end - 1):
        if u < cumprob[k]:
            return indices[k]
    return indices[end - 1]


@njit(cache=True)
def _leaf_value(
    s: int,
    depth: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    cumprob: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    values: np.ndarray,
    bootstrap: bool,
    gamma: float,
    mode: int,
    rollout_depth: int,
    max_depth: int,
) -> float:
    if terminal[s] or depth >= max_depth:
        return 0.0
    if mode == 1:
        return values[s]
    if mode == 2:
        return 0.0
    A = R.shape[1]
    g = 0.0
    discount = 1.0
    k = 0
    while k < rollout_depth and depth < max_depth and not terminal[s]:
        a = np.random.randint(0, A)
        g += discount * R[s, a]
        s = _sample_next(indptr, indices, cumprob, s * A + a, s)
        discount *= gamma
        k += 1
        depth += 1
    if bootstrap and depth < max_depth and not terminal[s]:
        g += discount * values[s]
    return g


@njit(cache=True)
def _select(
    n: int,
    s: int,
    edge_visits: np.ndarray,
    edge_value_sum: np.ndarray,
    node_visits: int,
    node_mean: float,
    prior: np.ndarray,
    use_prior: bool,
    c_uct: float,
    c_puct: float,
    qmin: float,
    qmax: float,
) -> int:
    A = edge_visits.shape[1]
    span = qmax - qmin
    best = -np.inf
    best_a = 0
    ties = 0
    if not use_prior:
        # UCT: untried actions first, uniformly at random among them.
        for a in range(A):
            if edge_visits[n, a] == 0:
                ties += 1
                if np.random.random() * ties < 1.0:
                    best_a = a
        if ties > 0:
            return best_a
        log_n = math.log(node_visits)
    sqrt_n = math.sqrt(max(node_visits, 1))
    for a in range(A):
        na = edge_visits[n, a]
        q = edge_value_sum[n, a] / na if na > 0 else node_mean
        qn = (q - qmin) / span if span > 0.0 else 0.5
        if use_prior:
            score = qn + c_puct * prior[s, a] * sqrt_n / (1.0 + na)
        else:
            score = qn + c_uct * math.sqrt(log_n / na)
        if score > best:
            best = score
            best_a = a
            ties = 1
        elif score == best:
            ties += 1
            if np.random.random() * ties < 1.0:
                best_a = a
    return best_a


@njit(cache=True)
def _search(
    indptr: np.ndarray,
    indices: np.ndarray,
    cumprob: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    values: np.ndarray,
    bootstrap: bool,
    prior: np.ndarray,
    use_prior: bool,
    gamma: float,
    c_uct: float,
    c_puct: float,
    mode: int,
    rollout_depth: int,
    max_depth: int,
    num_simulations: int,
    seed: int,
    path_len: int,
    num_nodes: int,
    node_state: np.ndarray,
    node_parent: np.ndarray,
    node_action: np.ndarray,
    node_depth: np.ndarray,
    node_visits: np.ndarray,
    node_value_sum: np.ndarray,
    edge_visits: np.ndarray,
    edge_value_sum: np.ndarray,
    first_child: np.ndarray,
    next_sibling: np.ndarray,
) -> int:
    # numba keeps its own generator state (per thread), seeded here: numpy's global state is untouched.
    np.random.seed(seed)
    A = R.shape[1]
    path_node = np.empty(path_len, np.int64)
    path_action = np.empty(path_len, np.int64)
    path_reward = np.empty(path_len, np.float64)

    # Min-max of the mean returns in the tree, for scale-free exploration constants.
    qmin = np.inf
    qmax = -np.inf
    for i in range(num_nodes):
        for a in range(A):
            if edge_visits[i, a] > 0:
                q = edge_value_sum[i, a] / edge_visits[i, a]
                qmin = min(qmin, q)
                qmax = max(qmax, q)

    for _ in range(num_simulations):
        n = 0
        depth = 0
        k = 0
        leaf = 0.0
        while True:
            s = node_state[n]
            if terminal[s] or depth >= max_depth:
                node_visits[n] += 1  # an end of episode reached inside the tree: value 0
                break
            mean = node_value_sum[n] / node_visits[n] if node_visits[n] > 0 else 0.0
            a = _select(
                n, s, edge_visits, edge_value_sum, node_visits[n], mean, prior, use_prior, c_uct, c_puct,
                qmin, qmax,
            )  # fmt: skip
            s2 = _sample_next(indptr, indices, cumprob, s * A + a, s)
            path_node[k] = n
            path_action[k] = a
            path_reward[k] = R[s, a]
            k += 1
            depth += 1
            child = first_child[n, a]
            while child >= 0 and node_state[child] != s2:
                child = next_sibling[child]
            if child < 0:
                child = num_nodes
                num_nodes += 1
                node_state[child] = s2
                node_parent[child] = n
                node_action[child] = a
                node_depth[child] = depth
                next_sibling[child] = first_child[n, a]
                first_child[n, a] = child
                leaf = _leaf_value(
                    s2, depth, indptr, indices, cumprob, R, terminal, values, bootstrap, gamma, mode,
                    rollout_depth, max_depth,
                )  # fmt: skip
                node_visits[child] += 1
                node_value_sum[child] += leaf
                break
            n = child
        g = leaf
        for i in range(k - 1, -1, -1):
            g = path_reward[i] + gamma * g
            n = path_node[i]
            a = path_action[i]
            node_visits[n] += 1
            node_value_sum[n] += g
            edge_visits[n, a] += 1
            edge_value_sum[n, a] += g
            q = edge_value_sum[n, a] / edge_visits[n, a]
            qmin = min(qmin, q)
            qmax = max(qmax, q)
    return num_nodes


# --------------------------------------------------------------------------------------- Bellman search


@dataclass(frozen=True, eq=False)
class BellmanDAG:
    """The ``(depth, state)`` DAG a :func:`bellman_search` built (depth 0 is the root's time).

    Attributes
    ----------
    root_state : int
    value : ndarray (D + 1, S) float64
        Bellman value of each expanded node: exact where ``solved``, an upper bound elsewhere; NaN where
        never expanded. ``D`` is the depth cap (steps left at the root); row ``D`` is the end (value 0).
    solved : ndarray (D + 1, S) bool
        Nodes whose value is exact.
    expanded : ndarray (D + 1, S) bool
        Nodes whose action values were computed.
    trials : int
        Trials run.
    """

    root_state: int
    value: np.ndarray
    solved: np.ndarray
    expanded: np.ndarray
    trials: int

    @property
    def num_nodes(self) -> int:
        """Expanded nodes."""
        return int(self.expanded.sum())

    @property
    def converged(self) -> bool:
        """Whether the root is solved: its action is optimal (up to ties)."""
        return bool(self.solved[0, self.root_state])

    def subtree(self, action: int, next_state: int) -> None:
        """No reuse: a Bellman search starts afresh from each state (it returns None, as for an outcome
        UCT never sampled)."""
        return None


def bellman_search(
    model: Any,
    state: int,
    *,
    num_trials: int = 10_000,
    seed: int = 0,
    max_depth: int | None = None,
    gamma: float | None = None,
    upper_bound: np.ndarray | Callable[[int], float] | None = None,
) -> MCTSResult:
    """Trial-based Bellman search over the ``(depth, state)`` DAG from ``state``; converges to the optimum.

    Every node ``(d, s)`` (``d`` steps after the root, so ``D - d`` steps left) is expanded once: its action
    values ``Q(d, s, a) = R(s, a) + gamma * sum_s' P(s'|s, a) U(d + 1, s')`` use the values ``U`` of the
    children, or an admissible upper bound where a child is not expanded yet. ``U(d, s) = max_a Q``. A
    trial descends from the root by the action with the largest ``Q`` (lowest index among ties) and an
    outcome sampled in proportion to ``P`` among the children not yet solved, until it reaches the end of
    the horizon, a terminal state or a solved node; then it backs the Bellman values up its path. A node
    is solved when every outcome of its greedy action is solved: its value is then exact (upper bounds of
    the other actions are below it). The search stops when the root is solved or the trials run out.

    Parameters
    ----------
    model : TabularMDP, gridworld env or SearchModel
    state : int
        Root state (not terminal).
    num_trials : int
        Budget of trials (each expands at most one path of nodes).
    seed : int
        Seed of the outcome sampling (the result is a deterministic function of the arguments).
    max_depth : int or None
        Steps left at the root; default (and cap) the model's horizon. Required when the model has none.
    gamma : float or None
        Discount; default the model's.
    upper_bound : ndarray (S,), callable or None
        An upper bound on the optimal value of each state for any number of steps left (e.g. value
        iteration's ``V*`` of an optimistic model). Default: ``max(0, max R) * sum_{k < steps left} gamma^k``,
        always admissible and loose (the search then expands most of the reachable DAG).

    Returns
    -------
    MCTSResult
        ``action`` greedy at the root, ``q`` the root's action values, ``visits`` the trials through each
        root action, ``tree`` the :class:`BellmanDAG` (``tree.converged`` says whether the root was solved).
    """
    sm = SearchModel.from_model(model)
    S, A = sm.num_states, sm.num_actions
    state = _check_state(state, S)
    if sm.terminal[state]:
        raise ValueError(f"state {state} is terminal: there is nothing to plan from it")
    if num_trials <= 0:
        raise ValueError(f"num_trials must be positive, got {num_trials}")
    gamma = sm.gamma if gamma is None else float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    D = sm.horizon if max_depth is None else int(max_depth)
    if D is None:
        raise ValueError("bellman search needs a finite depth: the model has no horizon, pass max_depth")
    if sm.horizon is not None:
        D = min(D, sm.horizon)
    if D <= 0:
        raise ValueError(f"max_depth must be positive, got {max_depth}")
    live = ~sm.terminal
    r_max = max(float(sm.R[live].max()) if live.any() else 0.0, 0.0)
    steps_weight = np.cumsum(np.concatenate([[0.0], gamma ** np.arange(D)]))  # sum_{k<n} gamma^k, n=0..D
    if upper_bound is None:
        bound = np.zeros(S)
        scale = r_max
    else:
        bound = _values_array(upper_bound, S)
        scale = -1.0
    probs = np.diff(np.concatenate([[0.0], sm.cumprob]))
    starts = sm.indptr[:-1]
    probs[starts[sm.indptr[1:] > starts]] = sm.cumprob[starts[sm.indptr[1:] > starts]]
    value = np.full((D + 1, S), np.nan)
    solved = np.zeros((D + 1, S), np.bool_)
    expanded = np.zeros((D + 1, S), np.bool_)
    q_root = np.zeros(A)
    visits = np.zeros(A, np.int64)
    trials = _bellman_trials(
        sm.indptr, sm.indices, probs, sm.R, sm.terminal, gamma, D, bound, scale, steps_weight,
        state, int(num_trials), int(seed) % (2**32), value, solved, expanded, q_root, visits,
    )  # fmt: skip
    dag = BellmanDAG(root_state=state, value=value, solved=solved, expanded=expanded, trials=int(trials))
    return MCTSResult(action=int(np.argmax(q_root)), visits=visits, q=q_root.copy(), tree=dag)  # type: ignore[arg-type]


@njit(cache=True)
def _bellman_trials(
    indptr: np.ndarray,
    indices: np.ndarray,
    probs: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    gamma: float,
    D: int,
    bound: np.ndarray,
    scale: float,
    steps_weight: np.ndarray,
    root: int,
    num_trials: int,
    seed: int,
    value: np.ndarray,
    solved: np.ndarray,
    expanded: np.ndarray,
    q_root: np.ndarray,
    visits: np.ndarray,
) -> int:  # pragma: no cover - compiled
    np.random.seed(seed)
    A = R.shape[1]
    path_d = np.empty(D + 1, np.int64)
    path_s = np.empty(D + 1, np.int64)
    q = np.empty(A)
    trials = 0
    while trials < num_trials and not solved[0, root]:
        trials += 1
        d = 0
        s = root
        k = 0
        first = -1
        while True:
            path_d[k] = d
            path_s[k] = s
            k += 1
            if not expanded[d, s]:
                _bellman_backup(d, s, indptr, indices, probs, R, terminal, gamma, D, bound, scale,
                                steps_weight, value, solved, expanded, q)  # fmt: skip
            if solved[d, s]:
                break
            a = _greedy(d, s, indptr, indices, probs, R, terminal, gamma, D, bound, scale, steps_weight,
                        value, q)  # fmt: skip
            if d == 0:
                first = a
            # an outcome among the unsolved children, in proportion to its probability
            row = s * A + a
            total = 0.0
            for j in range(indptr[row], indptr[row + 1]):
                s2 = indices[j]
                if not _is_solved(d + 1, s2, terminal, D, solved):
                    total += probs[j]
            if total <= 0.0:
                break  # every outcome solved: the backup below labels this node
            u = np.random.random() * total
            nxt = -1
            for j in range(indptr[row], indptr[row + 1]):
                s2 = indices[j]
                if not _is_solved(d + 1, s2, terminal, D, solved):
                    nxt = s2
                    u -= probs[j]
                    if u < 0.0:
                        break
            d += 1
            s = nxt
        if first >= 0:
            visits[first] += 1
        for i in range(k - 1, -1, -1):
            _bellman_backup(path_d[i], path_s[i], indptr, indices, probs, R, terminal, gamma, D, bound, scale,
                            steps_weight, value, solved, expanded, q)  # fmt: skip
    _greedy(0, root, indptr, indices, probs, R, terminal, gamma, D, bound, scale, steps_weight, value, q)
    q_root[:] = q
    return trials


@njit(cache=True)
def _is_solved(d: int, s: int, terminal: np.ndarray, D: int, solved: np.ndarray) -> bool:  # pragma: no cover
    return d >= D or terminal[s] or solved[d, s]


@njit(cache=True)
def _child_value(
    d: int,
    s: int,
    terminal: np.ndarray,
    D: int,
    bound: np.ndarray,
    scale: float,
    steps_weight: np.ndarray,
    value: np.ndarray,
) -> float:  # pragma: no cover - compiled
    if d >= D or terminal[s]:
        return 0.0
    v = value[d, s]
    if v == v:  # expanded (not NaN)
        return v
    return scale * steps_weight[D - d] if scale >= 0.0 else bound[s]


@njit(cache=True)
def _greedy(
    d: int,
    s: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    probs: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    gamma: float,
    D: int,
    bound: np.ndarray,
    scale: float,
    steps_weight: np.ndarray,
    value: np.ndarray,
    q: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Fill ``q`` with the Bellman action values of node (d, s); return the best action (lowest on ties)."""
    A = R.shape[1]
    best = 0
    for a in range(A):
        row = s * A + a
        acc = 0.0
        for j in range(indptr[row], indptr[row + 1]):
            acc += probs[j] * _child_value(d + 1, indices[j], terminal, D, bound, scale, steps_weight, value)
        q[a] = R[s, a] + gamma * acc
        if q[a] > q[best]:
            best = a
    return best


@njit(cache=True)
def _bellman_backup(
    d: int,
    s: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    probs: np.ndarray,
    R: np.ndarray,
    terminal: np.ndarray,
    gamma: float,
    D: int,
    bound: np.ndarray,
    scale: float,
    steps_weight: np.ndarray,
    value: np.ndarray,
    solved: np.ndarray,
    expanded: np.ndarray,
    q: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Expand or update node (d, s): its value and whether it is solved."""
    if solved[d, s]:
        return
    expanded[d, s] = True
    if terminal[s] or d >= D:
        value[d, s] = 0.0
        solved[d, s] = True
        return
    A = R.shape[1]
    a = _greedy(d, s, indptr, indices, probs, R, terminal, gamma, D, bound, scale, steps_weight, value, q)
    value[d, s] = q[a]
    row = s * A + a
    done = True
    for j in range(indptr[row], indptr[row + 1]):
        if not _is_solved(d + 1, indices[j], terminal, D, solved):
            done = False
            break
    solved[d, s] = done
