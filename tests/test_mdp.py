"""TabularMDP: validation messages, defaults, and the model operations against hand-computed values."""

import re

import numpy as np
import pytest
import scipy.sparse as sp

from rlcredit.mdp import TabularMDP


def small_model() -> tuple[np.ndarray, np.ndarray]:
    """3 states, 2 actions; state 2 is meant to be terminal."""
    P = np.zeros((3, 2, 3))
    P[0, 0] = [0.5, 0.5, 0.0]
    P[0, 1] = [0.0, 0.0, 1.0]
    P[1, 0] = [0.2, 0.0, 0.8]
    P[1, 1] = [0.0, 1.0, 0.0]
    P[2, :, 2] = 1.0
    R = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    return P, R


def sparse_of(P: np.ndarray) -> sp.csr_matrix:
    S, A, _ = P.shape
    return sp.csr_matrix(P.reshape(S * A, S))


def test_dense_and_sparse_construction_store_the_same_model():
    P, R = small_model()
    dense = TabularMDP(P, R, gamma=0.9)
    sparse = TabularMDP(sparse_of(P), R, gamma=0.9)
    assert (dense.num_states, dense.num_actions) == (sparse.num_states, sparse.num_actions) == (3, 2)
    assert isinstance(dense.P2, np.ndarray) and dense.P2.shape == (6, 3)
    assert isinstance(sparse.P2, sp.csr_matrix) and sparse.P2.shape == (6, 3)
    assert not dense.is_sparse and sparse.is_sparse
    np.testing.assert_array_equal(dense.dense_P(), P)
    np.testing.assert_array_equal(sparse.dense_P(), P)
    np.testing.assert_array_equal(sparse.P2.toarray(), dense.P2)


def test_sparse_array_input_and_duplicate_entries_are_summed():
    # row 0 = (s=0, a=0) is given as two entries 0.25 + 0.25 on the same column
    rows = [0, 0, 0, 1, 2, 3]
    cols = [0, 0, 1, 1, 0, 1]
    vals = [0.25, 0.25, 0.5, 1.0, 1.0, 1.0]
    P = sp.coo_array((vals, (rows, cols)), shape=(4, 2))
    m = TabularMDP(P, np.zeros((2, 2)), gamma=0.5)
    np.testing.assert_array_equal(m.dense_P()[0, 0], [0.5, 0.5])
    assert isinstance(m.P2, sp.csr_matrix)


def test_defaults_terminal_none_and_initial_uniform_over_non_terminal():
    P, R = small_model()
    m = TabularMDP(P, R)
    assert m.gamma == 0.99 and m.horizon is None
    np.testing.assert_array_equal(m.terminal, [False, False, False])
    np.testing.assert_allclose(m.initial, [1 / 3, 1 / 3, 1 / 3])
    m = TabularMDP(P, R, terminal=np.array([False, False, True]), horizon=7)
    np.testing.assert_array_equal(m.initial, [0.5, 0.5, 0.0])
    assert m.horizon == 7


def test_arrays_are_read_only_and_copied_from_the_input():
    P, R = small_model()
    m = TabularMDP(P, R)
    R[0, 0] = 100.0
    P[0, 0] = [1.0, 0.0, 0.0]
    assert m.R[0, 0] == 1.0 and m.P2[0, 0] == 0.5
    for arr in (m.R, m.terminal, m.initial, m.P2):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0


def test_expected_next_matches_hand_computation_for_vectors_and_batches():
    P, R = small_model()
    V = np.array([10.0, 20.0, 30.0])
    expect = np.array([[15.0, 30.0], [26.0, 20.0], [30.0, 30.0]])
    for m in (TabularMDP(P, R), TabularMDP(sparse_of(P), R)):
        np.testing.assert_allclose(m.expected_next(V), expect)
        batch = m.expected_next(np.stack([V, 2 * V], axis=1))
        assert batch.shape == (3, 2, 2)
        np.testing.assert_allclose(batch[..., 0], expect)
        np.testing.assert_allclose(batch[..., 1], 2 * expect)


def test_push_moves_mass_and_terminal_states_pass_nothing_on():
    P, R = small_model()
    terminal = np.array([False, False, True])
    pi = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])
    d = np.array([0.2, 0.3, 0.5])
    # from 0: 0.1 * [0.5, 0.5, 0] + 0.1 * [0, 0, 1]; from 1: 0.3 * [0.2, 0, 0.8]; from 2: nothing
    expect = np.array([0.05 + 0.06, 0.05, 0.1 + 0.24])
    for m in (TabularMDP(P, R, terminal=terminal), TabularMDP(sparse_of(P), R, terminal=terminal)):
        np.testing.assert_allclose(m.push(d, pi), expect)


def test_policy_matrix_is_the_state_chain_with_terminal_rows_zero():
    P, R = small_model()
    terminal = np.array([False, False, True])
    pi = np.array([[0.5, 0.5], [0.25, 0.75], [1.0, 0.0]])
    expect = np.array([[0.25, 0.25, 0.5], [0.05, 0.75, 0.2], [0.0, 0.0, 0.0]])
    dense = TabularMDP(P, R, terminal=terminal).policy_matrix(pi)
    sparse = TabularMDP(sparse_of(P), R, terminal=terminal).policy_matrix(pi)
    assert isinstance(dense, np.ndarray) and sp.issparse(sparse)
    np.testing.assert_allclose(dense, expect)
    np.testing.assert_allclose(sparse.toarray(), expect)


def test_replace_shares_the_model_and_validates_the_new_fields():
    P, R = small_model()
    m = TabularMDP(sparse_of(P), R, gamma=0.9, horizon=5)
    m2 = m.replace(R=2 * R, horizon=None)
    assert m2.P2 is m.P2 and m2.gamma == 0.9 and m2.horizon is None and m.horizon == 5
    np.testing.assert_array_equal(m2.R, 2 * R)
    np.testing.assert_array_equal(m2.initial, m.initial)
    with pytest.raises(ValueError, match=re.escape("gamma must be in (0, 1]; got 2")):
        m.replace(gamma=2)
    with pytest.raises(ValueError, match=re.escape("replace() got unknown field 'P'")):
        m.replace(P=P)


def check_error(message: str, *args, **kwargs) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        TabularMDP(*args, **kwargs)


def test_validation_errors_name_the_problem_in_one_line():
    P, R = small_model()
    bad = P.copy()
    bad[1, 1] = [0.0, 0.9, 0.0]
    check_error("P rows must sum to 1: row (s=1, a=1) sums to 0.9", bad, R)
    check_error("P rows must sum to 1: row (s=1, a=1) sums to 0.9", sparse_of(bad), R)
    bad = P.copy()
    bad[0, 1] = [-0.1, 0.1, 1.0]
    check_error("P must be non-negative: P(s'=0 | s=0, a=1) = -0.1", bad, R)
    check_error("P must be non-negative: P(s'=0 | s=0, a=1) = -0.1", sparse_of(bad), R)
    bad = P.copy()
    bad[2, 0, 1] = np.nan
    check_error("P must be finite: P(s'=1 | s=2, a=0) = nan", bad, R)
    check_error("P must be finite: P(s'=1 | s=2, a=0) = nan", sparse_of(bad), R)
    check_error(
        "P must be a dense array of shape (S, A, S) or a scipy.sparse matrix of shape (S*A, S); "
        "got a dense array of shape (6, 3)",
        P.reshape(6, 3),
        R,
    )
    check_error(
        "P must be a dense array of shape (S, A, S) or a scipy.sparse matrix of shape (S*A, S); "
        "got a dense array of shape (3, 2, 2)",
        P[:, :, :2],
        R,
    )
    check_error("R must have shape (S, A) = (3, 2); got (3, 3)", P, np.zeros((3, 3)))
    check_error(
        "sparse P has shape (6, 3), so S = 3, and R must have shape (S, A) with S*A = 6 rows of P; "
        "got R (3, 3)",
        sparse_of(P),
        np.zeros((3, 3)),
    )
    bad_R = R.copy()
    bad_R[1, 0] = np.inf
    check_error("R must be finite: R(s=1, a=0) = inf", P, bad_R)
    check_error("gamma must be in (0, 1]; got 0.0", P, R, gamma=0.0)
    check_error("gamma must be in (0, 1]; got 1.5", P, R, gamma=1.5)
    check_error("gamma must be in (0, 1]; got nan", P, R, gamma=float("nan"))
    check_error("gamma must be in (0, 1]; got True", P, R, gamma=True)
    check_error(
        "terminal must be a bool array of shape (S,) = (3,); got dtype int64", P, R, terminal=[0, 0, 1]
    )
    check_error(
        "terminal must be a bool array of shape (S,) = (3,); got shape (2,)", P, R, terminal=[False, True]
    )
    check_error("initial must have shape (S,) = (3,); got (2,)", P, R, initial=[0.5, 0.5])
    check_error("initial must be a distribution: initial[1] = -0.5", P, R, initial=[1.0, -0.5, 0.5])
    check_error("initial must sum to 1; it sums to 0.8", P, R, initial=[0.4, 0.4, 0.0])
    check_error(
        "initial defaults to uniform over non-terminal states, but every state is terminal",
        P,
        R,
        terminal=np.ones(3, dtype=bool),
    )
    check_error("horizon must be a positive int or None; got 0", P, R, horizon=0)
    check_error("horizon must be a positive int or None; got 2.5", P, R, horizon=2.5)


def test_row_sums_within_tolerance_are_accepted():
    P, R = small_model()
    P[0, 0] = [0.5, 0.5 + 5e-9, 0.0]
    TabularMDP(P, R)
    P[0, 0] = [0.5, 0.5 + 5e-8, 0.0]
    with pytest.raises(ValueError, match=re.escape("row (s=0, a=0) sums to 1.00000005")):
        TabularMDP(P, R)


def test_policy_validation_messages():
    P, R = small_model()
    m = TabularMDP(P, R)
    with pytest.raises(
        ValueError, match=re.escape("pi must have shape (S, A) with S = 3, A = 2; got (3, 3)")
    ):
        m.push(np.ones(3) / 3, np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match=re.escape("pi rows must sum to 1: row (s=2) sums to 0.5")):
        m.policy_matrix(np.array([[1.0, 0.0], [0.5, 0.5], [0.25, 0.25]]))
    with pytest.raises(ValueError, match=re.escape("pi must be non-negative and finite: pi[1, 0] = -0.5")):
        m.policy_matrix(np.array([[1.0, 0.0], [-0.5, 1.5], [0.5, 0.5]]))
    pis = np.full((4, 3, 2), 0.5)
    pis[3, 1] = [0.5, 0.0]
    with pytest.raises(ValueError, match=re.escape("pi rows must sum to 1: row (t=3, s=1) sums to 0.5")):
        m.check_policy(pis, time_indexed=True)
    # float32 probabilities from a network are accepted
    m.check_policy(np.full((3, 2), 0.5, dtype=np.float32))
