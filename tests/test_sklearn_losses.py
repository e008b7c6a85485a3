"""fastxent.sklearn's loss objects against scikit-learn's HalfMultinomialLoss / HalfBinomialLoss,
the NumPy reference, finite differences, and their own consistency (fused vs separate calls)."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from hypothesis import given
from hypothesis import strategies as st
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss

from fastxent.sklearn import BinomialLoss, MultilabelLoss, MultinomialLoss

RTOL = {np.float64: 1e-12, np.float32: 2e-5}
ATOL = {np.float64: 1e-14, np.float32: 1e-6}


def multinomial_problem(rng, n_samples, n_classes, dtype, order="C"):
    raw = np.asarray(rng.normal(0, 3, size=(n_samples, n_classes)), dtype=dtype, order=order)
    y = rng.integers(0, n_classes, n_samples).astype(dtype)   # scikit-learn's float class indices
    return y, raw, rng.random(n_samples).astype(dtype) + 0.1


def binomial_problem(rng, n_samples, dtype):
    return (rng.integers(0, 2, n_samples).astype(dtype), rng.normal(0, 3, n_samples).astype(dtype),
            rng.random(n_samples).astype(dtype) + 0.1)


def close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype], atol=ATOL[dtype])


def all_methods(ours, theirs, y, raw, sample_weight, dtype):
    close(ours.loss(y, raw, sample_weight), theirs.loss(y, raw, sample_weight), dtype)
    close(ours.gradient(y, raw, sample_weight), theirs.gradient(y, raw, sample_weight), dtype)
    for a, b in zip(ours.loss_gradient(y, raw, sample_weight), theirs.loss_gradient(y, raw, sample_weight)):
        close(a, b, dtype)
    for a, b in zip(ours.gradient_hessian(y, raw, sample_weight), theirs.gradient_hessian(y, raw, sample_weight)):
        close(a, b, dtype)
    close(ours(y, raw, sample_weight), theirs(y, raw, sample_weight), dtype)
    close(ours.predict_proba(raw), theirs.predict_proba(raw), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
def test_multinomial_matches_sklearn(dtype, order, weighted):
    y, raw, sw = multinomial_problem(np.random.default_rng(0), 257, 5, dtype, order)
    all_methods(MultinomialLoss(n_classes=5), HalfMultinomialLoss(n_classes=5), y, raw, sw if weighted else None,
                dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("column", [False, True])
def test_binomial_matches_sklearn(dtype, weighted, column):
    y, raw, sw = binomial_problem(np.random.default_rng(1), 300, dtype)
    raw = raw[:, None] if column else raw   # scikit-learn also takes (n_samples, 1)
    all_methods(BinomialLoss(), HalfBinomialLoss(), y, raw, sw if weighted else None, dtype)


def test_binomial_soft_targets_match_sklearn():
    rng = np.random.default_rng(2)
    y, raw = rng.random(100), rng.normal(0, 10, 100)
    all_methods(BinomialLoss(), HalfBinomialLoss(), y, raw, None, np.float64)


@given(n_samples=st.integers(1, 40), n_classes=st.integers(2, 9), seed=st.integers(0, 2**32 - 1),
       dtype=st.sampled_from([np.float64, np.float32]), order=st.sampled_from(["C", "F"]),
       weighted=st.booleans(), scale=st.sampled_from([0.1, 3.0, 50.0]))
def test_multinomial_matches_sklearn_property(n_samples, n_classes, seed, dtype, order, weighted, scale):
    rng = np.random.default_rng(seed)
    y, raw, sw = multinomial_problem(rng, n_samples, n_classes, dtype, order)
    raw = np.asarray(raw * dtype(scale), order=order)
    ours, theirs = MultinomialLoss(), HalfMultinomialLoss(n_classes=n_classes)
    sw = sw if weighted else None
    # float32: against scikit-learn on the same numbers in float64 (its float32 lse - z_y loses
    # ~ulp(max |z|) near a zero loss; fastxent's (m - z_y) + log S does not).
    exact = [np.asarray(a, dtype=np.float64) if a is not None else None for a in (y, raw, sw)]
    close(ours.loss(y, raw, sw), theirs.loss(*exact), dtype)
    for a, b in zip(ours.gradient_hessian(y, raw, sw), theirs.gradient_hessian(*exact)):
        close(a, b, dtype)


@pytest.mark.parametrize("order", ["C", "F"])
def test_outputs_are_written_into_given_buffers(order):
    y, raw, sw = multinomial_problem(np.random.default_rng(3), 50, 4, np.float64)
    loss = MultinomialLoss()
    expected_loss, expected_grad = HalfMultinomialLoss(n_classes=4).loss_gradient(y, raw, sw)
    loss_out, grad_out = np.empty(50, dtype=np.float32), np.empty((50, 4), order=order)
    got_loss, got_grad = loss.loss_gradient(y, raw, sw, loss_out=loss_out, gradient_out=grad_out)
    assert got_loss is loss_out and got_grad is grad_out
    np.testing.assert_allclose(loss_out, expected_loss, rtol=1e-6)
    np.testing.assert_allclose(grad_out, expected_grad, rtol=1e-12, atol=1e-15)
    grad_out, hess_out = np.empty((50, 4), order=order), np.empty((50, 4), order=order)
    g, h = loss.gradient_hessian(y, raw, sw, gradient_out=grad_out, hessian_out=hess_out)
    assert g is grad_out and h is hess_out
    np.testing.assert_allclose(h, HalfMultinomialLoss(n_classes=4).gradient_hessian(y, raw, sw)[1], rtol=1e-12)
    assert loss.loss(y, raw, sw, loss_out=loss_out) is loss_out


def test_gradient_may_overwrite_raw_prediction():
    y, raw, sw = multinomial_problem(np.random.default_rng(4), 30, 6, np.float64)
    expected = HalfMultinomialLoss(n_classes=6).gradient(y, raw, sw)
    assert MultinomialLoss().gradient(y, raw, sw, gradient_out=raw) is raw
    np.testing.assert_allclose(raw, expected, rtol=1e-12, atol=1e-15)


def test_binomial_column_outputs():
    y, raw, _ = binomial_problem(np.random.default_rng(5), 20, np.float64)
    grad_out = np.empty((20, 1))
    grad = BinomialLoss().gradient(y, raw[:, None], gradient_out=grad_out)
    assert np.shares_memory(grad, grad_out)
    np.testing.assert_allclose(grad_out[:, 0], HalfBinomialLoss().gradient(y, raw), rtol=1e-12)


def numerical_gradient(loss, y, raw, sample_weight, step=1e-6):
    """Central differences of ``loss.loss(...).sum()`` per element of ``raw`` (float64)."""
    grad = np.empty_like(raw)
    for index in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[index] += step
        down[index] -= step
        grad[index] = (loss.loss(y, up, sample_weight).sum() - loss.loss(y, down, sample_weight).sum()) / (2 * step)
    return grad


def numerical_hessian_diagonal(loss, y, raw, sample_weight, step=1e-5):
    hess = np.empty_like(raw)
    for index in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[index] += step
        down[index] -= step
        hess[index] = (loss.gradient(y, up, sample_weight)[index] - loss.gradient(y, down, sample_weight)[index]) / (
            2 * step)
    return hess


@pytest.mark.parametrize("loss, make", [
    (MultinomialLoss(), lambda rng: (rng.integers(0, 4, 7), rng.normal(size=(7, 4)))),
    (BinomialLoss(), lambda rng: (rng.random(7), rng.normal(size=7))),
    (MultilabelLoss(), lambda rng: (rng.integers(0, 2, (7, 3)).astype(float), rng.normal(size=(7, 3)))),
])
def test_gradient_and_hessian_by_finite_differences(loss, make):
    rng = np.random.default_rng(6)
    y, raw = make(rng)
    sw = rng.random(7) + 0.5
    np.testing.assert_allclose(loss.gradient(y, raw, sw), numerical_gradient(loss, y, raw, sw), atol=1e-7)
    np.testing.assert_allclose(loss.gradient_hessian(y, raw, sw)[1], numerical_hessian_diagonal(loss, y, raw, sw),
                               atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multilabel_is_the_sum_of_binomial_losses(dtype):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, (40, 5)).astype(dtype)
    raw = rng.normal(0, 3, (40, 5)).astype(dtype)
    sw = (rng.random(40) + 0.1).astype(dtype)
    binomial = HalfBinomialLoss()
    per_element = binomial.loss(y.ravel(), raw.ravel(), np.repeat(sw, 5)).reshape(40, 5)
    unweighted = binomial.loss(y.ravel(), raw.ravel()).reshape(40, 5).sum(axis=1)
    ours = MultilabelLoss(n_labels=5)
    close(ours.loss(y, raw, sw), per_element.sum(axis=1), dtype)
    close(ours.gradient(y, raw, sw), binomial.gradient(y.ravel(), raw.ravel(), np.repeat(sw, 5)).reshape(40, 5), dtype)
    g, h = ours.gradient_hessian(y, raw, sw)
    g2, h2 = binomial.gradient_hessian(y.ravel(), raw.ravel(), np.repeat(sw, 5))
    close(h, h2.reshape(40, 5), dtype)
    loss, grad = ours.loss_gradient(y, raw, sw)
    close(loss, ours.loss(y, raw, sw), dtype)
    close(grad, g, dtype)
    close(ours(y, raw, sw), np.average(unweighted, weights=sw), dtype)
    close(ours.predict_proba(raw), 1 / (1 + np.exp(-raw.astype(np.float64))), dtype)


def test_two_class_multinomial_is_binomial_of_the_score_difference():
    rng = np.random.default_rng(8)
    raw = rng.normal(0, 2, (50, 2))
    y = rng.integers(0, 2, 50)
    binomial = BinomialLoss().loss(y.astype(float), raw[:, 1] - raw[:, 0])
    np.testing.assert_allclose(MultinomialLoss().loss(y, raw), binomial, rtol=1e-12)


def test_extreme_logits_stay_finite():
    raw = np.array([[1e4, -1e4, 0.0], [-1e38, 1e38, 0.0]], dtype=np.float32)
    loss, grad = MultinomialLoss().loss_gradient(np.array([1, 0]), raw)
    assert np.isfinite(loss).all() and np.isfinite(grad).all()
    assert np.isfinite(BinomialLoss().loss(np.array([1.0, 0.0]), np.array([-1e300, 1e300]))).all()


@pytest.mark.parametrize("call, error, match", [
    (lambda: MultinomialLoss().loss(np.array([0, 3]), np.zeros((2, 3))), ValueError, r"y_true\[1\] = 3"),
    (lambda: MultinomialLoss().loss(np.array([0, -1]), np.zeros((2, 3))), ValueError, r"y_true\[1\] = -1"),
    (lambda: MultinomialLoss().loss(np.array([0.0, 1.5]), np.zeros((2, 3))), ValueError, "whole class indices"),
    (lambda: MultinomialLoss().loss(np.array([0.0, np.nan]), np.zeros((2, 3))), ValueError, "whole class"),
    (lambda: MultinomialLoss().loss(np.array(["a", "b"]), np.zeros((2, 3))), TypeError, "class indices"),
    (lambda: MultinomialLoss().loss(np.array([0, 1, 1]), np.zeros((2, 3))), ValueError, r"shape \(2,\)"),
    (lambda: MultinomialLoss(n_classes=4).loss(np.array([0, 1]), np.zeros((2, 3))), ValueError, "n_classes = 4"),
    (lambda: MultinomialLoss(n_classes=0), ValueError, "n_classes"),
    (lambda: MultinomialLoss().loss(np.array([0, 1]), np.zeros(2)), ValueError, "raw_prediction must be"),
    (lambda: MultinomialLoss().loss(np.array([0, 1]), np.zeros((2, 3)), sample_weight=[1, -1]), ValueError,
     "sample_weight"),
    (lambda: MultinomialLoss().loss(np.array([0, 1]), np.zeros((2, 3)), loss_out=np.empty(3)), ValueError,
     "loss_out"),
    (lambda: MultinomialLoss().gradient(np.array([0, 1]), np.zeros((2, 3)), gradient_out=[0]), TypeError,
     "gradient_out"),
    (lambda: MultinomialLoss().gradient(np.array([0, 1]), np.zeros((2, 3)), gradient_out=np.empty((2, 3), np.float32)),
     ValueError, "dtype"),
    (lambda: BinomialLoss().loss(np.array([0.0, 2.0]), np.zeros(2)), ValueError, "target"),
    (lambda: BinomialLoss().loss(np.array([0.0, 1.0]), np.zeros((2, 2))), ValueError, "raw_prediction must be"),
    (lambda: BinomialLoss().loss(np.array([0.0]), np.zeros(2)), ValueError, "y_true must have shape"),
    (lambda: MultilabelLoss(n_labels=2).loss(np.zeros((2, 3)), np.zeros((2, 3))), ValueError, "n_labels = 2"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_one_class_costs_nothing():
    loss, grad = MultinomialLoss().loss_gradient(np.zeros(3), np.array([[2.0], [-1.0], [50.0]]))
    assert np.array_equal(loss, np.zeros(3)) and np.array_equal(grad, np.zeros((3, 1)))


def test_attributes_follow_sklearn():
    assert MultinomialLoss(n_classes=3).is_multiclass and MultinomialLoss(n_classes=3).n_classes == 3
    assert not BinomialLoss().is_multiclass and BinomialLoss().n_classes == 2
    assert not MultinomialLoss().approx_hessian and not MultinomialLoss().constant_hessian


def test_importing_fastxent_and_the_loss_objects_does_not_import_sklearn():
    import subprocess
    import sys

    code = ("import sys, fastxent, fastxent.objectives, fastxent.sklearn\n"
            "from fastxent.sklearn import MultinomialLoss, BinomialLoss, MultilabelLoss\n"
            "assert 'sklearn' not in sys.modules, 'scikit-learn was imported'\n"
            "from fastxent.sklearn import log_loss\n"
            "assert 'sklearn' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
