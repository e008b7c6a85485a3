"""Hypothesis property tests over shapes and values, extremes and -inf included."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import fastxent
from oracle import expected



@st.composite
def problems(draw, max_rows=12, max_classes=40):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, max_rows))
    c = draw(st.integers(1, max_classes))
    magnitude = draw(st.sampled_from([1.0, 30.0, 1e4, float(np.finfo(dtype).max) / 4]))
    elements = st.floats(-magnitude, magnitude, width=32 if dtype == np.float32 else 64)
    logits = draw(arrays(dtype, (n, c), elements=elements))
    labels = draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    mask = draw(arrays(np.bool_, (n, c)))
    mask[np.arange(n), labels] = False  # the true class is never masked
    logits[mask] = -np.inf
    return logits, labels


@given(problem=problems(), reduction=st.sampled_from(["none", "sum"]))
@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
def test_matches_oracle_without_nan(backend, problem, reduction):
    logits, labels = problem
    dtype = logits.dtype.type
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, reduction=reduction, backend=backend)
    wanted_loss, wanted_grad = expected(logits, labels, reduction=reduction)
    assert not np.isnan(loss).any() and not np.isnan(grad).any()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    actual, wanted_loss = np.atleast_1d(np.asarray(loss, np.float64)), np.atleast_1d(wanted_loss)
    overflow = np.isinf(actual)  # a loss beyond the dtype's range is inf, never NaN
    assert (wanted_loss[overflow] >= np.finfo(dtype).max * (1 - rtol)).all()
    np.testing.assert_allclose(actual[~overflow], wanted_loss[~overflow], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(grad, wanted_grad, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-14)
    assert (np.asarray(loss) >= 0).all()
    # each gradient row sums to 0 and lies in [-1, 1]
    np.testing.assert_allclose(grad.astype(np.float64).sum(axis=1), 0, atol=1e-5 * logits.shape[1])
    assert (np.abs(grad) <= 1).all()
    assert (grad[np.isneginf(logits)] == 0).all()


@given(problem=problems(max_rows=6, max_classes=20), shift=st.floats(-50, 50))
@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_shifting_a_row_changes_nothing(backend, problem, shift):
    logits, labels = problem
    logits = np.clip(logits, -1e3, 1e3).astype(np.float64)
    base = fastxent.softmax_cross_entropy(logits, labels, reduction="none", backend=backend)
    moved = fastxent.softmax_cross_entropy(logits + shift, labels, reduction="none", backend=backend)
    np.testing.assert_allclose(moved, base, rtol=1e-9, atol=1e-9)


@given(probs=arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 16)),
                    elements=st.floats(0, 1e6)),
       smoothing=st.floats(0, 1))
@pytest.mark.parametrize("backend", ["cython", "numba"])
def test_probability_targets_with_smoothing(backend, probs, smoothing):
    logits = np.log1p(np.arange(probs.size, dtype=np.float64).reshape(probs.shape) % 7)
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, probs, label_smoothing=smoothing,
                                                          reduction="sum", backend=backend)
    wanted_loss, wanted_grad = expected(logits, probs, label_smoothing=smoothing, reduction="sum")
    np.testing.assert_allclose(loss, wanted_loss, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(grad, wanted_grad, rtol=1e-11, atol=1e-9 * max(1.0, probs.max()))


@st.composite
def binary_problems(draw, max_rows=12, max_labels=40):
    """Logits of any magnitude up to the dtype's max (+-inf too) and targets in [0, 1]."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (draw(st.integers(1, max_rows)), draw(st.integers(1, max_labels)))
    magnitude = draw(st.sampled_from([1.0, 40.0, 1e3, float(np.finfo(dtype).max)]))
    width = 32 if dtype == np.float32 else 64
    logits = draw(arrays(dtype, shape, elements=st.floats(-magnitude, magnitude, width=width)
                         | st.sampled_from([-np.inf, np.inf])))
    targets = draw(arrays(dtype, shape, elements=st.sampled_from([0.0, 1.0]) | st.floats(0, 1, width=width)))
    return logits, targets


@given(problem=binary_problems())
@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
def test_binary_cross_entropy_properties(backend, problem):
    from scipy.special import expit, log_expit

    logits, targets = problem
    dtype = logits.dtype.type
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(logits, targets, reduction="none",
                                                                     backend=backend)
    z, y = logits.astype(np.float64), targets.astype(np.float64)
    with np.errstate(invalid="ignore"):
        wanted = (np.where(y != 0, -y * log_expit(z), 0.0) + np.where(y != 1, -(1 - y) * log_expit(-z), 0.0))
    assert not np.isnan(loss).any() and not np.isnan(grad).any()
    assert (loss >= 0).all() and (np.abs(grad) <= 1).all()
    assert np.isfinite(grad).all()
    # a loss beyond the dtype's range is inf; below it, every finite logit gives a finite loss
    assert np.isfinite(loss[np.isfinite(logits) & (np.abs(wanted) < float(np.finfo(dtype).max) / 2)]).all()
    ulp = float(np.finfo(dtype).eps)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(loss, wanted.astype(dtype), rtol=16 * ulp, atol=float(np.finfo(dtype).tiny))
    np.testing.assert_allclose(grad, (1 - y) * expit(z) - y * expit(-z), rtol=16 * ulp, atol=16 * ulp)
    # symmetry: predicting z for target y is predicting -z for target 1 - y (where 1 - y is exact)
    flipped = (1 - targets).astype(dtype)
    mirrored = fastxent.binary_cross_entropy_with_logits(-logits, flipped, reduction="none", backend=backend)
    exact = (1 - flipped).astype(dtype) == targets
    np.testing.assert_allclose(mirrored[exact], loss[exact], rtol=4 * ulp, atol=float(np.finfo(dtype).tiny))
