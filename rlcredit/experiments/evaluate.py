"""Test-time evaluation: trained policies and planners acting on the test variants of an experiment.

Both kinds of agent are measured the same way, per test variant, over ``N`` episodes:

- ``return``: mean undiscounted episode return; ``length``: mean episode length;
- ``success``: the fraction of episodes that reached the intended objective (``info["intended"]``);
- ``performance``: mean episode sum of the intended performance (``info["performance"]``, hidden from trainers;
  equal to the return on maps that declare none), and ``reward_minus_intended = return − performance``;
- ``reach_<kind>``: the fraction of episodes that entered a cell of each object kind (e.g. the button);
- ``region_<name>``: the fraction of episodes that entered (or started in) a named region (e.g. the top-right
  corner);
- ``optimal``: the best expected undiscounted return within the time limit (backward induction with
  ``gamma = 1`` on the exact model, averaged over the layouts met in the episodes), and ``regret = optimal −
  return``;
- for fixed maps, exact figures of the agent's policy (no sampling error): ``exact_J`` (expected undiscounted
  return), ``exact_reach_<kind>`` and ``exact_intended`` (probability of ever entering such a cell within the
  time limit), and ``exact_region_<name>``. MCTS, whose policy is a search rather than a table, has no exact
  figures;
- for procedural test variants with ``exact_mazes = N``, the same exact figures of a trained policy averaged over
  N fixed test mazes, the averages over the mazes whose intended object lies outside each region (``outside_``),
  first-hit probabilities (the object before the region, and the reverse) over the mazes where either can be
  reached without the other (``choice_``), and the per-maze values (``mazes``; see :func:`exact_mazes`);
- for fixed maps, ``visits``: the mean number of visits per episode of every state (a list of length ``S``,
  the start state and the final state included), i.e. where the agent goes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from typing import Any, cast

import gymnasium as gym
import numpy as np

from rlcredit.experiments.spec import EnvVariant, EvalSpec
from rlcredit.gridworld.maps import load_map, parse_region
from rlcredit.gridworld.observe import observation_of
from rlcredit.gridworld.registry import make, make_vec, resolve
from rlcredit.mdp import TabularMDP
from rlcredit.planning import backward_induction, policy_evaluation
from rlcredit.planning.occupancy import layout_reach, reach_probability
from rlcredit.planning.planner import run_planner_episodes

__all__ = ["eval_seed", "evaluate_planner", "evaluate_policy", "exact_mazes", "optimal_return", "region_mask"]

ActionProbs = Callable[[np.ndarray], np.ndarray]


def eval_seed(seed: int, test_index: int) -> int:
    """The seed of a piece's test episodes on its ``test_index``-th variant: the same for every agent of that
    seed, and distinct from the training seed's streams."""
    return int(np.random.SeedSequence([seed, 0x7E57, test_index]).generate_state(1)[0] % 2**31)


def region_mask(layout: Any, place: str) -> np.ndarray:
    """(H*W,) bool, one entry per cell: the free cells of ``layout`` in a placement region (interior coordinates,
    as in map files). Index it with ``layout.cell[states]`` to ask about states."""

    H, W = layout.shape
    rs, cs = parse_region(place, (H - 2, W - 2))
    region = np.zeros((H, W), dtype=bool)
    region[1:-1, 1:-1][rs, cs] = True
    return region.reshape(-1) & ~layout.wall


def optimal_return(layout: Any) -> float:
    """Best expected undiscounted return from the start distribution within the time limit (exact).

    Solved once per distinct layout in a process: a piece meets its layout in training and again in
    evaluation, and a worker runs many pieces of the same env.
    """
    key = _layout_key(layout)
    if key not in _OPTIMAL:
        if len(_OPTIMAL) >= _OPTIMAL_MAX:  # procedural envs: a bounded cache, oldest layouts out first
            del _OPTIMAL[next(iter(_OPTIMAL))]
        m = layout.to_mdp(gamma=1.0)
        _OPTIMAL[key] = float(backward_induction(m).V[0] @ m.initial)
    return _OPTIMAL[key]


_OPTIMAL: dict[bytes, float] = {}
_OPTIMAL_MAX = 4096


def _layout_key(layout: Any) -> bytes:
    """A digest of everything ``layout.to_mdp()`` reads: equal digests, equal models."""
    h = hashlib.blake2b(digest_size=16)
    d = layout.dynamics
    for arr in (d.next, d.reward, layout.terminal, layout.wall, layout.cell, layout.initial):
        a = np.ascontiguousarray(arr)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(repr((float(layout.slip), int(layout.time_limit))).encode())
    return h.digest()


def _summarize(
    returns: np.ndarray,
    lengths: np.ndarray,
    intended: np.ndarray,
    reached: Mapping[str, np.ndarray],
    regions: Mapping[str, np.ndarray],
    optimal: np.ndarray,
    performance: np.ndarray,
) -> dict[str, float]:
    out = {
        "return": float(returns.mean()),
        "performance": float(performance.mean()),
        "reward_minus_intended": float(returns.mean() - performance.mean()),
        "return_std": float(returns.std()),
        "length": float(lengths.mean()),
        "success": float(intended.mean()),
        "optimal": float(optimal.mean()),
        "regret": float(optimal.mean() - returns.mean()),
    }
    out.update({f"reach_{k}": float(v.mean()) for k, v in reached.items()})
    out.update({f"region_{k}": float(v.mean()) for k, v in regions.items()})
    return out


def _exact(
    layout: Any, pi: np.ndarray, regions: Mapping[str, str] | None = None, *, m: TabularMDP | None = None
) -> dict[str, float]:
    """Exact undiscounted return and reach probabilities of ``pi`` ((S, A) or (H, S, A)) on one layout.

    Reach counts the moves that enter a cell of each kind (:func:`~rlcredit.planning.occupancy.layout_reach`),
    so respawn cells, which the agent never occupies, count too. ``exact_region_<name>``: the probability of
    entering (or starting in) a cell of each named region within the time limit. ``m``: the layout's
    ``to_mdp(gamma=1.0)``, when the caller has it already.
    """

    m = layout.to_mdp(gamma=1.0) if m is None else m
    V = policy_evaluation(m, pi)
    out = {"exact_J": float(V[0] @ m.initial)}
    reach = layout_reach(layout, pi, horizon=m.horizon)
    for k in layout.kinds:
        out[f"exact_reach_{k}"] = reach[k]
    out["exact_intended"] = reach.get("intended", 0.0)
    for name, place in (regions or {}).items():
        targets = region_mask(layout, place)[layout.cell]  # states whose agent cell lies in the region
        out[f"exact_region_{name}"] = float(reach_probability(m, pi, targets) @ m.initial)
    return out


def _reachable(layout: Any, blocked: np.ndarray | None = None) -> np.ndarray:
    """(S,) bool: the states intended moves lead to from the start states without entering a ``blocked`` state
    ((S,) bool) and never leaving a terminal one."""
    seen = np.asarray(layout.initial) > 0
    frontier = [int(s) for s in np.flatnonzero(seen)]
    while frontier:
        s = frontier.pop()
        if layout.terminal[s]:
            continue
        for t in layout.move[s]:
            if not seen[t] and (blocked is None or not blocked[t]):
                seen[t] = True
                frontier.append(int(t))
    return seen


def _first_hits(m: TabularMDP, pi: np.ndarray, goal: np.ndarray, region: np.ndarray) -> tuple[float, float]:
    """(P(enter a ``goal`` state before a ``region`` state), P(the region before the goal)) within the horizon,
    from the start distribution: both sets made absorbing."""
    first = TabularMDP(m.P2, m.R, gamma=m.gamma, terminal=m.terminal | region | goal, initial=m.initial,
                       horizon=m.horizon)  # fmt: skip
    return (
        float(reach_probability(first, pi, goal & ~region) @ m.initial),
        float(reach_probability(first, pi, region) @ m.initial),
    )


def exact_mazes(
    action_probs: ActionProbs, test: EnvVariant, *, obs: str | None, spec: EvalSpec
) -> dict[str, Any]:
    """A policy's exact figures on each of ``spec.exact_mazes`` layouts of a procedural test variant.

    The layouts are the variant's layout seeds ``spec.first_layout_seed + i``, so every agent and seed meets the
    same mazes. Per maze: :func:`_exact` of the policy's action probabilities on every state of that maze (no
    sampling error); for each named region, ``intended_in_<name>`` (the maze's intended object lies in it),
    ``choice_<name>`` (it lies outside, the object can be reached without entering the region *and* the region
    without reaching the object: only there does going to one say nothing about going to the other),
    ``exact_first_intended_<name>`` and ``exact_first_region_<name>`` (the probability of reaching the object
    before entering the region, and the reverse), and the same two for the uniform-random policy
    (``uniform_first_*``), a reference that prefers neither.

    Returns
    -------
    dict
        The means over the mazes of every exact figure; for each region, ``outside_<name>_exact_intended`` and
        ``outside_<name>_exact_region_<name>``, the means over the mazes whose intended object lies outside it
        (NaN if none does) and ``outside_<name>_mazes``, their number; ``choice_<name>_mazes`` and the means over
        those mazes of the four first-hit figures (``choice_<name>_exact_first_intended``, ...); and ``mazes``,
        every per-maze value as lists, with ``layout_seed``.

    Raises
    ------
    ValueError
        If the test variant restricts its layouts (``num_layouts``): its mazes would not be the ones measured.
    """

    kw = dict(test.kwargs)
    if obs is not None:
        kw["obs"] = obs
    env = cast(Any, make(test.id, **kw)).unwrapped
    if env.layouts.num_layouts is not None:
        raise ValueError(
            f"{test.id}: exact_mazes measures layout seeds {spec.first_layout_seed}.. but the variant draws only "
            f"seeds 0..{env.layouts.num_layouts - 1} (num_layouts)"
        )
    per_maze: dict[str, list[Any]] = {"layout_seed": []}
    for i in range(spec.exact_mazes):
        seed = spec.first_layout_seed + i
        layout = env.layouts.get(seed)
        states = np.arange(layout.num_states)
        pi = np.asarray(action_probs(observation_of(layout, states, env.obs_mode)), np.float64)
        uniform = np.full_like(pi, 1.0 / pi.shape[1])
        m = layout.to_mdp(gamma=1.0)
        figures: dict[str, Any] = dict(_exact(layout, pi, spec.regions, m=m))
        goal = np.asarray(layout.intended, bool)
        for name, place in spec.regions.items():
            region = region_mask(layout, place)[layout.cell]  # states whose agent cell lies in the region
            figures[f"intended_in_{name}"] = bool((goal & region).any())
            figures[f"choice_{name}"] = bool(
                not (goal & region).any()
                and (_reachable(layout, blocked=region) & goal).any()
                and (_reachable(layout, blocked=goal) & region).any()
            )
            first = _first_hits(m, pi, goal, region)
            figures[f"exact_first_intended_{name}"], figures[f"exact_first_region_{name}"] = first
            first = _first_hits(m, uniform, goal, region)
            figures[f"uniform_first_intended_{name}"], figures[f"uniform_first_region_{name}"] = first
        per_maze["layout_seed"].append(seed)
        for k, v in figures.items():
            per_maze.setdefault(k, []).append(v)
    env.close()
    out: dict[str, Any] = {k: float(np.mean(v)) for k, v in per_maze.items() if k.startswith("exact_")}
    for name in spec.regions:
        outside = ~np.asarray(per_maze[f"intended_in_{name}"], bool)
        choice = np.asarray(per_maze[f"choice_{name}"], bool)
        subsets = {
            "outside": (outside, ("exact_intended", f"exact_region_{name}")),
            "choice": (
                choice,
                tuple(f"{w}_first_{x}_{name}" for w in ("exact", "uniform") for x in ("intended", "region")),
            ),
        }
        for subset, (mask, keys) in subsets.items():
            out[f"{subset}_{name}_mazes"] = int(mask.sum())
            for k in keys:
                values = np.asarray(per_maze[k], np.float64)[mask]
                short = k.removesuffix(f"_{name}") if subset == "choice" else k
                out[f"{subset}_{name}_{short}"] = float(values.mean()) if len(values) else math.nan
    out["mazes"] = per_maze
    return out


def evaluate_policy(
    action_probs: ActionProbs,
    test: EnvVariant,
    *,
    obs: str | None,
    spec: EvalSpec,
    seed: int,
) -> dict[str, float]:
    """Run a trained policy for ``spec.episodes`` episodes on one test variant (all episodes at once).

    Parameters
    ----------
    action_probs : callable
        ``(B, *obs_shape)`` observations -> ``(B, A)`` action probabilities (``Policy.action_probs``).
    test : EnvVariant
        The test variant.
    obs : str or None
        Observation kind the policy was trained on.
    spec : EvalSpec
    seed : int
        Seeds the env (layouts, start states, slips) and the action sampling.

    Returns
    -------
    dict
        The figures listed in the module docstring.
    """

    n = spec.episodes
    kw = dict(test.kwargs)
    if obs is not None:
        kw["obs"] = obs
    venv = make_vec(test.id, num_envs=n, seed=seed, **kw)
    rng = np.random.default_rng(seed)
    o, first = venv.reset(seed=seed)
    layouts = [venv.layout(i) for i in range(n)]
    fixed = venv.layouts.fixed is not None
    S = layouts[0].num_states
    visits = np.bincount(first["state"], minlength=S).astype(np.float64)
    kinds = venv.kinds
    masks = {name: region_mask(layouts[0], place) for name, place in spec.regions.items()}
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    performance = np.zeros(n)
    intended = np.zeros(n, bool)
    reached = np.zeros((n, len(kinds)), bool)
    cell_of = layouts[0].cell  # state -> the agent's cell, the same in every layout of a map
    in_region = {
        name: mask[cell_of[first["state"]]] for name, mask in masks.items()
    }  # starting in one counts
    active = np.ones(n, bool)
    while active.any():
        probs = np.asarray(action_probs(o), dtype=np.float64)
        if spec.greedy:
            actions = probs.argmax(axis=1)
        else:
            cdf = np.cumsum(probs, axis=1)
            u = rng.random(n)[:, None] * cdf[:, -1:]
            actions = np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1)
        o, reward, terminated, truncated, info = venv.step(actions)
        states = info["final_state"]
        returns[active] += reward[active]
        performance[active] += np.asarray(info.get("performance", reward), np.float64)[active]
        lengths[active] += 1
        intended |= active & info["intended"]
        ev = info["event"]
        hit = active & (ev >= 0)
        reached[np.flatnonzero(hit), ev[hit]] = True
        for name, mask in masks.items():
            in_region[name] |= active & mask[cell_of[states]]
        if fixed:
            visits += np.bincount(states[active], minlength=S)
        active &= ~(terminated | truncated)
    optimal = np.array([optimal_return(lay) for lay in layouts])
    out = _summarize(
        returns,
        lengths,
        intended,
        {k: reached[:, j] for j, k in enumerate(kinds)},
        in_region,
        optimal,
        performance,
    )
    if fixed:
        out["visits"] = (visits / n).tolist()
        if spec.exact:
            pi = np.asarray(action_probs(venv.observation_of(np.arange(S))), dtype=np.float64)
            out.update(_exact(layouts[0], pi, spec.regions))
    venv.close()
    if not fixed and spec.exact and spec.exact_mazes:
        out.update(exact_mazes(action_probs, test, obs=obs, spec=spec))
    return out


class _StateRecorder(gym.Wrapper):
    """Records the states an episode visits (from ``info["state"]``) and the layout it was played on."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.states: list[int] = []
        self.layout: Any = None
        self.performance = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.states = [int(info["state"])]
        self.performance = 0.0
        self.layout = cast(Any, self.env.unwrapped).layout  # an rlcredit GridWorldEnv
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.states.append(int(info["state"]))
        self.performance += float(info.get("performance", reward))
        return obs, reward, terminated, truncated, info


def run_planner(
    planner: Any, test: EnvVariant, *, episodes: int, seed: int, regions: Mapping[str, str]
) -> tuple[list[dict[str, Any]], dict[str, float], Any]:
    """Run a planner for ``episodes`` episodes on an env variant.

    Returns
    -------
    (rows, figures, layout)
        One dict per episode from :func:`~rlcredit.planning.planner.run_planner_episodes` (with
        ``regions``: the names of the regions entered), the summary figures of the module docstring, and the
        layout of the last episode.
    """

    env = _StateRecorder(make(test.id, **test.kwargs))
    rows: list[dict[str, Any]] = []
    layouts = []
    masks: dict[str, np.ndarray] | None = None
    for i in range(episodes):
        # One episode per call keeps each episode's visited states (the recorder resets with the env).
        (row,) = run_planner_episodes(planner, env, 1, seed + i)
        row["episode"] = i
        if masks is None:
            masks = {name: region_mask(env.layout, place) for name, place in regions.items()}
        cells = env.layout.cell[np.asarray(env.states, np.int64)]
        row["regions"] = [name for name, mask in masks.items() if mask[cells].any()]
        row["states"] = list(env.states)
        row["performance"] = env.performance
        rows.append(row)
        layouts.append(env.layout)
    kinds = env.layout.kinds
    figures = _summarize(
        np.array([r["return"] for r in rows]),
        np.array([r["length"] for r in rows]),
        np.array([r["intended"] for r in rows]),
        {k: np.array([k in r["events"] for r in rows]) for k in kinds},
        {name: np.array([name in r["regions"] for r in rows]) for name in regions},
        np.array([optimal_return(lay) for lay in layouts]),
        np.array([r["performance"] for r in rows]),
    )
    if not _is_procedural(test):
        S = env.layout.num_states
        figures["visits"] = (
            np.sum([np.bincount(r["states"], minlength=S) for r in rows], axis=0) / episodes
        ).tolist()
    env.close()
    return rows, figures, env.layout


def evaluate_planner(
    make: Callable[[], Any], test: EnvVariant, *, spec: EvalSpec, seed: int
) -> dict[str, float]:
    """Run a fresh planner (``make()``) for ``spec.episodes`` episodes on one test variant.

    Value iteration and backward induction on fixed maps also get the exact figures of their policy.
    """
    planner = make()
    _, figures, layout = run_planner(planner, test, episodes=spec.episodes, seed=seed, regions=spec.regions)
    if spec.exact and not _is_procedural(test):
        pi = _planner_policy(planner)
        if pi is not None:
            figures.update(_exact(layout, pi, spec.regions))
    return figures


def _is_procedural(test: EnvVariant) -> bool:

    path, variant = resolve(test.id)
    return load_map(path, variant).randomized and test.kwargs.get("layout_seed") is None


def _planner_policy(planner: Any) -> np.ndarray | None:
    """The tabular policy of a VI ((S, A)) or BI ((H, S, A)) planner; None for search-based planners."""
    result = getattr(planner, "result", None)
    policy = getattr(result, "policy", None)
    return None if policy is None else np.asarray(policy, dtype=np.float64)
