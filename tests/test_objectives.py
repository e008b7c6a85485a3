"""fastxent.objectives against XGBoost's and LightGBM's built-in objectives: the gradient and
hessian numbers (through the leaf values of a first tree grown by the built-in objective), and
models trained with the custom objective matching the built-in ones."""

import numpy as np
import pytest

from fastxent.objectives import lightgbm_objective, xgboost_objective

N_SAMPLES, N_FEATURES, N_CLASSES = 300, 5, 3


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES))
    score = X[:, 0] * 2 + X[:, 1] + rng.normal(size=N_SAMPLES)
    y_multi = np.digitize(score, [-1.0, 1.0])           # 3 classes
    y_binary = (score > 0).astype(float)
    weight = rng.random(N_SAMPLES) + 0.5
    return X, y_multi, y_binary, weight


def expected_leaf_margins(leaf_index, grad, hess, l2, learning_rate):
    """The first tree's output per sample, ``-lr G / (H + l2)`` of its leaf, from OUR grad/hess."""
    margins = np.empty(len(leaf_index))
    for leaf in np.unique(leaf_index):
        members = leaf_index == leaf
        margins[members] = -learning_rate * grad[members].sum() / (hess[members].sum() + l2)
    return margins


# --------------------------------------------------------------------------- XGBoost

@pytest.fixture(scope="module")
def xgb():
    return pytest.importorskip("xgboost", reason="xgboost is not installed (the test extra has xgboost-cpu)")


XGB_PARAMS = dict(max_depth=3, eta=0.3, nthread=1, tree_method="hist", seed=0)


@pytest.mark.parametrize("kind", ["softprob", "logistic"])
def test_xgboost_gradient_hessian_give_the_builtin_first_tree(xgb, data, kind):
    X, y_multi, y_binary, weight = data
    multiclass = kind == "softprob"
    y = y_multi if multiclass else y_binary
    margin_shape = (N_SAMPLES, N_CLASSES) if multiclass else (N_SAMPLES,)
    dtrain = xgb.DMatrix(X, label=y, weight=weight, base_margin=np.zeros(margin_shape))
    params = {**XGB_PARAMS, "objective": "multi:softprob" if multiclass else "binary:logistic"}
    if multiclass:
        params["num_class"] = N_CLASSES
    booster = xgb.train(params, dtrain, 1)
    builtin = booster.predict(dtrain, output_margin=True)
    leaves = booster.predict(dtrain, pred_leaf=True).reshape(N_SAMPLES, -1)
    grad, hess = xgboost_objective(kind)(np.zeros(margin_shape, dtype=np.float32), dtrain)
    assert grad.shape == hess.shape == margin_shape and grad.dtype == np.float32
    grad, hess = grad.reshape(N_SAMPLES, -1), hess.reshape(N_SAMPLES, -1)
    for k in range(grad.shape[1]):   # one tree per class
        expected = expected_leaf_margins(leaves[:, k], grad[:, k].astype(np.float64), hess[:, k].astype(np.float64),
                                         1.0, 0.3)
        np.testing.assert_allclose(builtin.reshape(N_SAMPLES, -1)[:, k], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["softprob", "logistic"])
def test_xgboost_model_matches_the_builtin_one(xgb, data, kind):
    X, y_multi, y_binary, weight = data
    multiclass = kind == "softprob"
    y = y_multi if multiclass else y_binary
    margin_shape = (N_SAMPLES, N_CLASSES) if multiclass else (N_SAMPLES,)
    dtrain = xgb.DMatrix(X, label=y, weight=weight, base_margin=np.zeros(margin_shape))
    params = {**XGB_PARAMS, "num_class": N_CLASSES} if multiclass else dict(XGB_PARAMS)
    builtin = xgb.train({**params, "objective": "multi:softprob" if multiclass else "binary:logistic"}, dtrain, 8)
    custom = xgb.train({**params, "disable_default_eval_metric": 1}, dtrain, 8, obj=xgboost_objective(kind))
    np.testing.assert_allclose(custom.predict(dtrain, output_margin=True), builtin.predict(dtrain, output_margin=True),
                               atol=2e-5)


def test_xgboost_sklearn_api(xgb, data):
    X, y_multi, _, weight = data
    margin = np.zeros((N_SAMPLES, N_CLASSES))
    kwargs = dict(n_estimators=5, max_depth=3, learning_rate=0.3, n_jobs=1, tree_method="hist")
    builtin = xgb.XGBClassifier(objective="multi:softprob", **kwargs).fit(X, y_multi, sample_weight=weight,
                                                                           base_margin=margin)
    custom = xgb.XGBClassifier(objective=xgboost_objective("softprob", api="sklearn"), **kwargs).fit(
        X, y_multi, sample_weight=weight, base_margin=margin)
    np.testing.assert_allclose(custom.predict(X, output_margin=True, base_margin=margin),
                               builtin.predict(X, output_margin=True, base_margin=margin), atol=2e-5)


# --------------------------------------------------------------------------- LightGBM

@pytest.fixture(scope="module")
def lgb():
    return pytest.importorskip("lightgbm", reason="lightgbm is not installed (it is in the test extra)")


LGB_PARAMS = dict(num_leaves=7, learning_rate=0.3, num_threads=1, verbose=-1, deterministic=True, seed=0,
                  min_data_in_leaf=5)


def lightgbm_dataset(lgb, X, y, weight, multiclass):
    init_score = np.zeros((N_SAMPLES, N_CLASSES)) if multiclass else np.zeros(N_SAMPLES)
    return lgb.Dataset(X, label=y, weight=weight, init_score=init_score, free_raw_data=False)


@pytest.mark.parametrize("kind", ["multiclass", "binary"])
def test_lightgbm_gradient_hessian_give_the_builtin_first_tree(lgb, data, kind):
    X, y_multi, y_binary, weight = data
    multiclass = kind == "multiclass"
    y = y_multi if multiclass else y_binary
    params = {**LGB_PARAMS, "objective": kind, **({"num_class": N_CLASSES} if multiclass else {})}
    booster = lgb.train(params, lightgbm_dataset(lgb, X, y, weight, multiclass), 1)
    builtin = booster.predict(X, raw_score=True).reshape(N_SAMPLES, -1)
    leaves = booster.predict(X, pred_leaf=True).reshape(N_SAMPLES, -1)
    scores = np.zeros((N_SAMPLES, N_CLASSES)) if multiclass else np.zeros(N_SAMPLES)
    grad, hess = lightgbm_objective(kind)(scores, lightgbm_dataset(lgb, X, y, weight, multiclass).construct())
    assert grad.shape == hess.shape == scores.shape and grad.dtype == np.float64
    grad, hess = grad.reshape(N_SAMPLES, -1), hess.reshape(N_SAMPLES, -1)
    for k in range(grad.shape[1]):   # LightGBM keeps gradients and weights in float32
        np.testing.assert_allclose(builtin[:, k], expected_leaf_margins(leaves[:, k], grad[:, k], hess[:, k], 0.0, 0.3),
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["multiclass", "binary"])
def test_lightgbm_model_matches_the_builtin_one(lgb, data, kind):
    X, y_multi, y_binary, weight = data
    multiclass = kind == "multiclass"
    y = y_multi if multiclass else y_binary
    params = {**LGB_PARAMS, **({"num_class": N_CLASSES} if multiclass else {})}
    builtin = lgb.train({**params, "objective": kind}, lightgbm_dataset(lgb, X, y, weight, multiclass), 8)
    custom = lgb.train({**params, "objective": lightgbm_objective(kind)},
                       lightgbm_dataset(lgb, X, y, weight, multiclass), 8)
    np.testing.assert_allclose(custom.predict(X, raw_score=True), builtin.predict(X, raw_score=True), atol=1e-9)


def test_lightgbm_sklearn_api(lgb, data):
    X, y_multi, _, weight = data
    init_score = np.zeros((N_SAMPLES, N_CLASSES))
    kwargs = dict(n_estimators=5, num_leaves=7, learning_rate=0.3, n_jobs=1, verbose=-1, deterministic=True,
                  min_child_samples=5)
    builtin = lgb.LGBMClassifier(objective="multiclass", **kwargs).fit(X, y_multi, sample_weight=weight,
                                                                       init_score=init_score)
    custom = lgb.LGBMClassifier(objective=lightgbm_objective("multiclass", api="sklearn"), **kwargs).fit(
        X, y_multi, sample_weight=weight, init_score=init_score)
    np.testing.assert_allclose(custom.predict(X, raw_score=True), builtin.predict(X, raw_score=True), atol=1e-9)


# --------------------------------------------------------------------------- without either library

class _Data:
    """The two accessors the objectives use, as DMatrix / Dataset provide them."""

    def __init__(self, label, weight=None):
        self.label, self.weight = label, weight

    def get_label(self):
        return self.label

    def get_weight(self):
        return np.empty(0) if self.weight is None else self.weight


def test_hessian_factors_and_floors():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(50, 4))
    labels = rng.integers(0, 4, 50).astype(np.float32)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(4)[labels.astype(int)]
    g, h = lightgbm_objective("multiclass")(scores, _Data(labels))
    np.testing.assert_allclose(g, p - onehot, atol=1e-15)
    np.testing.assert_allclose(h, 4 / 3 * p * (1 - p), rtol=1e-12)
    g, h = xgboost_objective("softprob")(scores.astype(np.float32), _Data(labels))
    np.testing.assert_allclose(h, 2 * p * (1 - p), rtol=1e-5)
    # a saturated score: the true hessian underflows, XGBoost's floor holds
    g, h = xgboost_objective("logistic")(np.array([200.0, -200.0], dtype=np.float32), _Data(np.array([1.0, 0.0])))
    np.testing.assert_array_equal(h, np.float32(1e-16))
    g, h = xgboost_objective("logistic")(np.array([200.0], dtype=np.float32), _Data(np.array([1.0]), np.array([0.5])))
    np.testing.assert_array_equal(h, np.float32(0.5e-16))


@pytest.mark.parametrize("call, match", [
    (lambda: xgboost_objective("softmax"), "kind must be one of"),
    (lambda: lightgbm_objective("multiclass", api="native"), "api must be one of"),
    (lambda: xgboost_objective("softprob")(np.zeros(5, np.float32), _Data(np.zeros(5))), "num_class"),
    (lambda: lightgbm_objective("binary")(np.zeros((5, 2)), _Data(np.zeros(5))), r"shape \(n_samples,\)"),
    (lambda: lightgbm_objective("multiclass")(np.zeros((2, 3)), _Data(np.array([0.0, 3.0]))), "class index"),
    (lambda: lightgbm_objective("binary")(np.zeros(2), _Data(np.array([0.0, 2.0]))), "target"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
