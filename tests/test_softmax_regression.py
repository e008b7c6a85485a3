"""SoftmaxRegression: scikit-learn's estimator checks, the same coefficients as
LogisticRegression(solver="lbfgs"), Pipeline / GridSearchCV, labels, dtypes, weights, bad input."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
import scipy.sparse as sp
from scipy.optimize import approx_fprime
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastxent.sklearn import SoftmaxRegression
from fastxent.sklearn._softmax_regression import _Objective

TIGHT = dict(tol=1e-10, max_iter=5000)


@parametrize_with_checks([SoftmaxRegression()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def problem(n_classes, n_samples=250, n_features=6, seed=0):
    X, y = make_classification(n_samples, n_features, n_informative=4, n_redundant=1, n_classes=n_classes,
                               n_clusters_per_class=1, random_state=seed)
    return X, y


def assert_same_model(ours, theirs, rtol):
    scale = np.abs(theirs.coef_).max()
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_same_coefficients_as_logistic_regression(n_classes, C):
    X, y = problem(n_classes)
    ours = SoftmaxRegression(C=C, **TIGHT).fit(X, y)
    theirs = LogisticRegression(C=C, solver="lbfgs", **TIGHT).fit(X, y)
    assert ours.coef_.shape == theirs.coef_.shape and ours.intercept_.shape == theirs.intercept_.shape
    assert_same_model(ours, theirs, rtol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), rtol=1e-5, atol=1e-6)
    assert np.array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("class_weight", [None, "balanced", "dict"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_same_coefficients_with_weights(n_classes, class_weight, fit_intercept):
    X, y = problem(n_classes, seed=1)
    sample_weight = np.random.default_rng(1).random(len(y)) * 3
    sample_weight[::7] = 0
    if class_weight == "dict":
        class_weight = {k: 1.0 + k for k in range(n_classes)}
    kwargs = dict(C=0.5, class_weight=class_weight, fit_intercept=fit_intercept, **TIGHT)
    ours = SoftmaxRegression(**kwargs).fit(X, y, sample_weight=sample_weight)
    theirs = LogisticRegression(solver="lbfgs", **kwargs).fit(X, y, sample_weight=sample_weight)
    assert_same_model(ours, theirs, rtol=1e-4)
    if not fit_intercept:
        assert np.array_equal(ours.intercept_, np.zeros_like(ours.intercept_))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_float32_is_fitted_in_float32(n_classes):
    X, y = problem(n_classes, seed=2)
    X32 = X.astype(np.float32)
    ours = SoftmaxRegression(C=1.0, **TIGHT).fit(X32, y)
    assert ours.coef_.dtype == np.float32 and ours.intercept_.dtype == np.float32
    assert ours.predict_proba(X32).dtype == np.float32
    # float32 gradients stop L-BFGS at float32 noise: both solvers agree to that level.
    theirs = LogisticRegression(C=1.0, solver="lbfgs", **TIGHT).fit(X32, y)
    assert_same_model(ours, theirs, rtol=2e-3)
    exact = SoftmaxRegression(C=1.0, **TIGHT).fit(X, y)
    assert_same_model(ours, exact, rtol=2e-3)


def test_objective_scores_are_in_float32_for_float32_data():
    X, y = problem(3, n_samples=50)
    objective = _Objective(X.astype(np.float32), y, None, 3, True, 0.1, 1)
    weights, intercept = objective.split(np.zeros(objective.n_parameters))
    assert weights.dtype == np.float32 and intercept.dtype == np.float32


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_objective_gradient_by_finite_differences(n_classes, fit_intercept):
    X, y = problem(n_classes, n_samples=60, n_features=5)
    sample_weight = np.random.default_rng(3).random(60)
    objective = _Objective(X, y.astype(np.int64), sample_weight, n_classes, fit_intercept, 0.3, 1)
    point = np.random.default_rng(4).normal(size=objective.n_parameters)
    numerical = approx_fprime(point, lambda p: objective(p)[0], 1e-7)
    np.testing.assert_allclose(objective(point)[1], numerical, rtol=1e-5, atol=1e-6)


def test_string_and_integer_labels_give_the_same_model():
    X, y = problem(3, seed=5)
    names = np.array(["cat", "dog", "panda"])
    by_name = SoftmaxRegression().fit(X, names[y])
    by_index = SoftmaxRegression().fit(X, y + 10)
    assert list(by_name.classes_) == ["cat", "dog", "panda"] and list(by_index.classes_) == [10, 11, 12]
    np.testing.assert_array_equal(by_name.coef_, by_index.coef_)
    assert set(by_name.predict(X)) <= set(names)
    assert by_name.score(X, names[y]) == by_index.score(X, y + 10) > 0.8


def test_sparse_input_gives_the_dense_model():
    X, y = problem(3, n_samples=150, seed=6)
    X[np.abs(X) < 0.5] = 0
    dense = SoftmaxRegression(**TIGHT).fit(X, y)
    sparse = SoftmaxRegression(**TIGHT).fit(sp.csr_matrix(X), y)
    assert_same_model(sparse, dense, rtol=1e-6)   # the sparse products round differently
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_array(X)), dense.predict_proba(X), rtol=1e-6)


def test_pipeline_and_grid_search():
    X, y = problem(3, seed=7)
    pipeline = make_pipeline(StandardScaler(), SoftmaxRegression())
    search = GridSearchCV(pipeline, {"softmaxregression__C": [0.01, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_["softmaxregression__C"] in (0.01, 1.0)
    assert search.score(X, y) > 0.8
    assert search.predict_proba(X).shape == (len(y), 3)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_probabilities_and_log_probabilities(n_classes):
    X, y = problem(n_classes, seed=8)
    warnings.simplefilter("ignore", ConvergenceWarning)   # the fit only needs to be confident
    model = SoftmaxRegression(C=1e4, max_iter=50).fit(X * 50, y)    # very confident scores
    proba, log_proba = model.predict_proba(X * 50), model.predict_log_proba(X * 50)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    assert np.isfinite(log_proba).all() and (log_proba <= 0).all()
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-10, atol=1e-300)
    assert np.array_equal(model.classes_[proba.argmax(axis=1)], model.predict(X * 50))


def test_thread_count_does_not_change_the_objective():
    X, y = problem(4, n_samples=40_000, seed=9)   # 160,000 scores: enough for 2 kernel threads
    point = np.random.default_rng(9).normal(size=4 * 7)
    one = _Objective(X, y.astype(np.int64), None, 4, True, 0.1, 1)
    two = _Objective(X, y.astype(np.int64), None, 4, True, 0.1, 2)
    assert (one.n_threads, two.n_threads) == (1, 2)
    (loss_one, grad_one), (loss_two, grad_two) = one(point), two(point)
    assert loss_one == loss_two and np.array_equal(grad_one, grad_two)


def test_small_problems_run_on_one_kernel_thread():
    X, y = problem(3, n_samples=100)
    assert _Objective(X, y, None, 3, True, 0.1, 8).n_threads == 1


def test_not_converging_warns_and_counts_iterations():
    X, y = problem(3)
    with pytest.warns(ConvergenceWarning, match="did not converge after 2 iteration"):
        model = SoftmaxRegression(max_iter=2).fit(X, y)
    assert model.n_iter_.shape == (1,) and model.n_iter_[0] == 2


@pytest.mark.parametrize("params, error, match", [
    ({"C": 0.0}, ValueError, "C == 0.0, must be > 0"),
    ({"C": -1.0}, ValueError, "C == -1.0, must be > 0"),
    ({"C": "1"}, TypeError, "C must be an instance of"),
    ({"max_iter": -1}, ValueError, "max_iter == -1, must be >= 0"),
    ({"max_iter": 1.5}, TypeError, "max_iter must be an instance of"),
    ({"tol": -1e-3}, ValueError, "tol == -0.001, must be >= 0"),
    ({"fit_intercept": "yes"}, TypeError, "fit_intercept must be a bool"),
    ({"class_weight": "unbalanced"}, ValueError, "class_weight must be"),
    ({"n_threads": 0}, ValueError, "n_threads"),
])
def test_bad_parameters(params, error, match):
    X, y = problem(3, n_samples=30)
    with pytest.raises(error, match=match):
        SoftmaxRegression(**params).fit(X, y)


def test_bad_data():
    X, y = problem(3, n_samples=30)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SoftmaxRegression().fit(X, np.zeros(30))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        SoftmaxRegression().fit(X, y, sample_weight=-np.ones(30))
    with pytest.raises(ValueError, match="Unknown label type"):
        SoftmaxRegression().fit(X, np.linspace(0, 1, 30))
    with pytest.raises(ValueError, match="sum to 0"):
        SoftmaxRegression(class_weight={0: 0, 1: 0, 2: 0}).fit(X, y)
    model = SoftmaxRegression().fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but SoftmaxRegression is expecting 6"):
        model.predict(X[:, :5])
