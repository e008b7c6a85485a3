"""fastxent.sklearn.log_loss against sklearn.metrics.log_loss itself: the same values (1e-12
relative in float64), the same errors (type and message) and the same warnings, over a broad
hypothesis-generated set of inputs and the documented edge cases."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import log_loss as sklearn_log_loss

from fastxent.sklearn import log_loss


def outcome(function, *args, **kwargs):
    """``("value", result, warnings)`` or ``("error", type, message, warnings)`` of a call."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the error itself is what is compared
            return ("error", type(error), str(error), _warnings(caught))
    return ("value", result, _warnings(caught))


def _warnings(caught):
    return [(w.category, str(w.message)) for w in caught]


def assert_same_as_sklearn(*args, rtol=1e-12, **kwargs):
    ours, theirs = outcome(log_loss, *args, **kwargs), outcome(sklearn_log_loss, *args, **kwargs)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "error":
        assert ours[1:] == theirs[1:]
        return None
    assert ours[2] == theirs[2]
    assert isinstance(ours[1], float)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=rtol, atol=0)
    return ours[1]


@st.composite
def log_loss_inputs(draw):
    n_classes = draw(st.sampled_from([1, 2, 2, 3, 4, 5]))
    n_samples = draw(st.integers(1, 12))
    strings = draw(st.booleans())
    names = [f"c{k}" for k in range(n_classes)] if strings else list(range(0, 3 * n_classes, 3))
    codes = draw(st.lists(st.integers(0, n_classes - 1), min_size=n_samples, max_size=n_samples))
    y_true = [names[c] for c in codes]
    labels_kind = draw(st.sampled_from(["none", "none", "none", "all", "all", "shuffled", "missing_one", "extra"]))
    labels = {"none": None, "all": list(names), "shuffled": list(reversed(names)),
              "missing_one": names[1:] if len(names) > 1 else None,
              "extra": list(names) + (["zz"] if strings else [99])}[labels_kind]
    if labels is not None and labels_kind == "extra":
        n_columns = n_classes + 1
    else:
        n_columns = n_classes
    n_columns = draw(st.sampled_from([n_columns] * 6 + [max(n_columns - 1, 1), n_columns + 1]))
    dtype = draw(st.sampled_from([np.float64, np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["dirichlet", "peaked", "unnormalised", "one_column", "1d", "extreme"]))
    if kind == "dirichlet":
        y_proba = rng.dirichlet(np.full(n_columns, 0.5), n_samples)
    elif kind == "peaked":  # true-class probabilities near 0 and 1, where the clip matters
        y_proba = rng.dirichlet(np.full(n_columns, 0.01), n_samples)
    elif kind == "unnormalised":
        y_proba = rng.random((n_samples, n_columns))
    elif kind == "extreme":
        y_proba = rng.choice([0.0, 1e-300, 1e-17, 1e-9, 0.5, 1 - 1e-9, 1.0], (n_samples, n_columns))
    else:
        y_proba = rng.random(n_samples)
        if kind == "one_column":
            y_proba = y_proba[:, None]
    if draw(st.integers(0, 9)) == 0:  # out of [0, 1]
        y_proba = y_proba * draw(st.sampled_from([-1.0, 2.0]))
    y_proba = y_proba.astype(dtype)
    weight_kind = draw(st.sampled_from(["none", "none", "positive", "zeros_some", "wrong_length", "negative"]))
    sample_weight = {"none": None, "positive": rng.random(n_samples) + 0.1,
                     "zeros_some": rng.integers(0, 3, n_samples).astype(float),
                     "wrong_length": np.ones(n_samples + 1),
                     "negative": rng.normal(size=n_samples)}[weight_kind]
    normalize = draw(st.booleans())
    return y_true, y_proba, dict(normalize=normalize, sample_weight=sample_weight, labels=labels)


@given(log_loss_inputs())
def test_matches_sklearn_on_generated_inputs(inputs):
    y_true, y_proba, kwargs = inputs
    rtol = 1e-12 if y_proba.dtype == np.float64 else 2e-6
    assert_same_as_sklearn(y_true, y_proba, rtol=rtol, **kwargs)


def test_docstring_example():
    loss = assert_same_as_sklearn(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]])
    assert round(loss, 5) == 0.21616


@pytest.mark.parametrize("y_true, y_proba, kwargs", [
    ([1, 1, 1], [[0.5, 0.5]] * 3, {}),                                    # one class, no labels
    ([1, 1, 1], [[0.5, 0.5]] * 3, {"labels": [1]}),                       # one class in labels
    ([1, 1, 1], [[0.2, 0.8]] * 3, {"labels": [0, 1]}),                    # one class, labels given
    ([0, 1, 2], [[0.2, 0.8]] * 3, {}),                                    # 3 classes, 2 columns
    ([0, 1, 2], [[0.2, 0.8]] * 3, {"labels": [0, 1, 2]}),
    ([0, 1, 3], [[0.2, 0.3, 0.5]] * 3, {"labels": [0, 1, 2]}),            # label not declared
    ([2, 1, 0], [[0.2, 0.3, 0.5]] * 3, {"labels": [2, 1, 0]}),            # labels not sorted
    (["a", "b"], [0.3, 0.6], {}),                                          # binary, one column
    (["a", "b"], [[0.3], [0.6]], {}),
    ([0, 1], [[0.3, 0.6], [0.5, 0.6]], {}),                               # rows not summing to 1
    ([0, 1], [[0.3, 1.7], [0.5, 0.5]], {}),                               # > 1
    ([0, 1], [[0.3, -0.7], [0.5, 0.5]], {}),                              # < 0
    ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], {}),                            # NaN
    ([0, 1], [[np.inf, 0.5], [0.5, 0.5]], {}),
    ([0, 1, 1], [[0.3, 0.7], [0.5, 0.5]], {}),                            # inconsistent lengths
    ([0, 1], np.zeros((2, 2, 2)), {}),                                    # 3-D
    ([], np.zeros((0, 2)), {}),                                           # empty
    ([0, 1], [[0.3, 0.7], [0.5, 0.5]], {"sample_weight": [0, 0]}),        # weights sum to 0
    ([0, 1], [[0.3, 0.7], [0.5, 0.5]], {"sample_weight": [[1, 2]]}),      # 2-D weights
    ([0, 1], [[0.3, 0.7], [0.5, 0.5]], {"sample_weight": [1, -2.5], "normalize": False}),
    ([0, 1], [[0.3, 0.7], [0.5, 0.5]], {"normalize": 1}),                 # not a bool
    ([0.5, 1.5], [[0.3, 0.7], [0.5, 0.5]], {}),                           # continuous targets
    ([[0, 1], [1, 0]], [[0.3, 0.7], [0.5, 0.5]], {}),                     # indicator y_true
    ([[1, 1, 0], [0, 1, 1]], [[0.3, 0.7, 0.1], [0.5, 0.5, 0.2]], {}),    # multilabel indicator
    ([[1, 1, 0], [0, 0, 0]], [[0.3, 0.7, 0.1], [0.5, 0.5, 0.2]], {}),    # a row with no label
    ([[1, 2], [0, 1]], [[0.3, 0.7], [0.5, 0.5]], {}),                     # multiclass-multioutput
    ([0, "a"], [[0.3, 0.7], [0.5, 0.5]], {}),                             # mixed label types
    ([0, 1], [[1, 0], [0, 1]], {}),                                       # integer probabilities
    ([0, 1], np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float16), {}),
    ([0, 1], [[0.0, 1.0], [1.0, 0.0]], {}),                               # confidently wrong: clipped
])
def test_edge_cases_match_sklearn(y_true, y_proba, kwargs):
    assert_same_as_sklearn(y_true, y_proba, rtol=1e-12 if np.asarray(y_proba).dtype != np.float16 else 1e-3,
                           **kwargs)


def test_y_pred_keyword_is_deprecated_as_in_sklearn():
    assert_same_as_sklearn([0, 1], y_pred=[[0.3, 0.7], [0.5, 0.5]])
    assert_same_as_sklearn([0, 1], [[0.3, 0.7], [0.5, 0.5]], y_pred=[[0.3, 0.7], [0.5, 0.5]])
    assert_same_as_sklearn([0, 1], y_proba=[[0.3, 0.7], [0.5, 0.5]])


def test_large_input_float32_and_float64():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 50, 20_000)
    p = rng.dirichlet(np.full(50, 0.3), 20_000)
    w = rng.random(20_000)
    assert_same_as_sklearn(y, p, sample_weight=w)
    assert_same_as_sklearn(y, p.astype(np.float32), rtol=1e-5)


def test_result_is_independent_of_the_thread_count():
    import fastxent

    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 7, 5_000), rng.dirichlet(np.ones(7), 5_000)
    with fastxent.threads(1):
        one = log_loss(y, p)
    with fastxent.threads(2):
        two = log_loss(y, p)
    assert one == two


def test_no_n_by_c_temporaries():
    """Peak extra memory is O(n_samples): a fraction of y_proba for 64 classes (scikit-learn's
    log_loss needs about 5 times y_proba)."""
    import tracemalloc

    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 64, 50_000), rng.dirichlet(np.ones(64), 50_000)
    log_loss(y, p)   # imports and first-call set-up outside the measurement
    tracemalloc.start()
    try:
        log_loss(y, p, sample_weight=rng.random(50_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.4 * p.nbytes, peak / p.nbytes
