"""Information measures (surprisal, entropy, cross-entropy, KL): every backend x dtype x layout x thread
count against SciPy, the article's worked numbers, edge cases, errors and hypothesis properties."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special, stats

import fastxent
from arrays import DTYPES, LAYOUTS, in_layout, probs_of

RTOL = {np.float32: 1e-6, np.float64: 1e-13}
MEASURES = {
    "entropy": fastxent.entropy,
    "cross_entropy": fastxent.cross_entropy,
    "kl_divergence": fastxent.kl_divergence,
}
SHAPES = ((0, 5), (1, 1), (1, 7), (6, 1), (37, 11), (3, 4, 9), (2, 20000))


def distributions(shape, dtype):
    """``(p, q)`` of ``shape``: rows summing to 1, about a fifth of p's entries 0 and q > 0."""
    p, q = probs_of(shape, dtype, seed=5), probs_of(shape, dtype, seed=6)
    p[np.random.default_rng(7).random(shape) < 0.2] = 0
    return p, np.maximum(q, np.finfo(dtype).tiny)


def scipy_terms(measure, p, q):
    """SciPy's per-class terms in nats (float64)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if measure == "entropy":
        return special.entr(p)
    if measure == "cross_entropy":
        return -special.xlogy(p, q)
    return special.rel_entr(p, q)


def scipy_measure(measure, p, q, axis=-1, base=None):
    """The measure by SciPy in units of ``base`` (float64), no normalisation."""
    scale = 1.0 if base is None else 1.0 / np.log(base)
    return scipy_terms(measure, p, q).sum(axis=axis) * scale


def call(measure, p, q, **kwargs):
    if measure == "entropy":
        return MEASURES[measure](p, **kwargs)
    return MEASURES[measure](p, q, **kwargs)


def assert_close(actual, wanted, dtype, terms_scale=1.0):
    """``actual`` (of ``dtype``) equals ``wanted`` to the dtype's tolerance; ``terms_scale`` (the
    largest sum of absolute terms) bounds the absolute error of sums with cancellation (KL)."""
    assert np.asarray(actual).dtype == dtype
    rtol = RTOL[dtype]
    atol = rtol * terms_scale if dtype == np.float64 else max(rtol * terms_scale, np.finfo(np.float32).tiny)
    np.testing.assert_allclose(np.asarray(actual, np.float64), wanted, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- against SciPy


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_measures_match_scipy_and_ignore_the_thread_count(backend, measure, dtype, shape, layout, tmp_path):
    p_values, q_values = distributions(shape, dtype)
    p, q = in_layout(p_values, layout, tmp_path), in_layout(q_values, layout, tmp_path)
    wanted = scipy_measure(measure, p_values, q_values, base=2)
    terms_scale = np.abs(scipy_terms(measure, p_values, q_values)).sum(axis=-1, initial=0).max(initial=0)
    results = [call(measure, p, q, base=2, backend=backend, n_threads=n) for n in (1, 2, 3)]
    assert np.shape(results[0]) == shape[:-1]
    assert_close(results[0], wanted, dtype, terms_scale)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    np.testing.assert_array_equal(p, p_values)  # inputs untouched


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_surprisal_matches_minus_log_in_any_shape(backend, dtype, layout, tmp_path):
    p_values, _ = distributions((5, 3, 7), dtype)
    p = in_layout(p_values, layout, tmp_path)
    with np.errstate(divide="ignore"):
        wanted = -np.log(p_values.astype(np.float64)) / np.log(10)
    results = [fastxent.surprisal(p, base=10, backend=backend, n_threads=n) for n in (1, 2, 3)]
    assert results[0].shape == p.shape
    assert_close(results[0], wanted, dtype)
    assert np.isposinf(results[0][p_values == 0]).all()
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_hundred_thousand_classes(backend, measure, dtype):
    p, q = distributions((3, 100_000), dtype)
    terms_scale = np.abs(scipy_terms(measure, p, q)).sum(axis=-1).max()
    assert_close(call(measure, p, q, backend=backend), scipy_measure(measure, p, q), dtype, terms_scale)


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("axis", [0, 1, -3])
def test_axis_of_a_3d_array(backend, measure, axis):
    p, q = (np.moveaxis(x, -1, axis) for x in distributions((4, 5, 6), np.float64))
    actual = call(measure, p, q, axis=axis, backend=backend)
    assert_close(actual, scipy_measure(measure, p, q, axis=axis), np.float64, 10.0)


@pytest.mark.parametrize("measure", ["cross_entropy", "kl_divergence"])
def test_p_and_q_broadcast(backend, measure):
    p = probs_of((4, 1, 6), np.float64, seed=8)
    q = probs_of((3, 6), np.float64, seed=9)
    actual = call(measure, p, q, backend=backend)
    assert actual.shape == (4, 3)
    wanted = scipy_measure(measure, *np.broadcast_arrays(p, q))
    assert_close(actual, wanted, np.float64, 10.0)
    # one distribution against a batch, and a batch against one
    np.testing.assert_array_equal(call(measure, p[0, 0], q, backend=backend), actual[0])


@pytest.mark.parametrize("base", [None, 2, 10, 0.5, 7.25])
@pytest.mark.parametrize("axis", [0, -1])
def test_normalize_reproduces_scipy_stats_entropy(backend, base, axis):
    counts = np.random.default_rng(10).integers(0, 20, size=(6, 8))  # ints: computed in float64
    counts[counts.sum(axis=1) == 0, 0] = 1
    other = np.random.default_rng(11).integers(1, 20, size=(6, 8))
    kwargs = dict(axis=axis, base=base, normalize=True, backend=backend)
    h = stats.entropy(counts, base=base, axis=axis)
    kl = stats.entropy(counts, other, base=base, axis=axis)
    for actual, wanted in [(fastxent.entropy(counts, **kwargs), h),
                           (fastxent.kl_divergence(counts, other, **kwargs), kl),
                           (fastxent.cross_entropy(counts, other, **kwargs), h + kl)]:
        assert_close(actual, wanted, np.float64, 10.0)
    # without normalize the counts are taken as they are
    assert_close(fastxent.entropy(counts, axis=axis, base=base, backend=backend),
                 scipy_measure("entropy", counts, counts, axis=axis, base=base), np.float64, 1e3)


# --------------------------------------------------------------------------- the article's numbers


def test_the_panda_is_a_surprise_of_ten_bits(backend):
    bits = fastxent.surprisal(0.001, base=2, backend=backend)
    assert isinstance(bits, np.float64) and bits == pytest.approx(-np.log2(0.001), rel=1e-15)
    assert round(float(bits), 3) == 9.966


def test_panda_bird_dog_entropy(backend):
    bits = fastxent.entropy([0.2, 0.3, 0.5], base=2, backend=backend)
    assert isinstance(bits, np.float64) and round(float(bits), 3) == 1.485
    assert bits == pytest.approx(-(0.2 * np.log2(0.2) + 0.3 * np.log2(0.3) + 0.5 * np.log2(0.5)), rel=1e-15)


def test_the_loaded_coin(backend):
    truth, guess = [0.99, 0.01], [0.01, 0.99]  # heads, tails
    ce = fastxent.cross_entropy(truth, guess, base=2, backend=backend)
    h = fastxent.entropy(truth, base=2, backend=backend)
    kl = fastxent.kl_divergence(truth, guess, base=2, backend=backend)
    assert ce == pytest.approx(-(0.99 * np.log2(0.01) + 0.01 * np.log2(0.99)), rel=1e-15)
    assert (round(float(ce), 3), round(float(h), 3), round(float(kl), 3)) == (6.578, 0.081, 6.497)
    assert kl == pytest.approx(ce - h, rel=1e-14)


def test_the_dog_prediction_costs_minus_log_point_seven(backend):
    nats = fastxent.cross_entropy([0, 0, 1], [0.1, 0.2, 0.7], backend=backend)
    assert nats == pytest.approx(-np.log(0.7), rel=1e-15)


# --------------------------------------------------------------------------- edge cases and dtypes


def test_zeros_follow_scipy(backend):
    p = np.array([[0.0, 0.5, 0.5], [0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])
    q = np.array([[0.0, 0.5, 0.5], [0.3, 0.7, 0.0], [0.5, 0.5, 1.0]])
    ln2 = np.log(2)
    np.testing.assert_allclose(fastxent.cross_entropy(p, q, backend=backend), [ln2, np.inf, ln2], rtol=1e-15)
    np.testing.assert_allclose(fastxent.kl_divergence(p, q, backend=backend), [0, np.inf, 0], atol=1e-16)
    np.testing.assert_allclose(special.rel_entr(p, q).sum(axis=1), [0, np.inf, 0], atol=1e-16)
    np.testing.assert_allclose(fastxent.entropy(p, backend=backend), ln2 * np.array([1, 0, 1]), rtol=1e-15)


def test_nan_stays_in_its_own_row(backend):
    p = np.full((4, 3), 1 / 3)
    q = p.copy()
    p[0, 1] = np.nan
    p[2, 0] = 0.0
    q[2, 0] = np.nan  # NaN in q where p is 0: still NaN, as scipy.special.rel_entr(0, nan)
    for measure in MEASURES:
        result = call(measure, p, q, backend=backend)
        wanted_nan = [True, False, measure != "entropy", False]
        np.testing.assert_array_equal(np.isnan(result), wanted_nan, err_msg=measure)


@pytest.mark.parametrize("measure", MEASURES)
def test_one_class_empty_axis_and_no_rows(backend, measure):
    one = np.array([[1.0], [0.25]])
    np.testing.assert_allclose(call(measure, one, one, backend=backend),
                               scipy_measure(measure, one, one), rtol=1e-15)
    # an empty distribution has measure 0 (an empty sum), as scipy.stats.entropy gives
    assert call(measure, np.zeros((2, 0)), np.zeros((2, 0)), backend=backend).tolist() == [0.0, 0.0]
    assert call(measure, [], [], backend=backend) == 0.0
    assert call(measure, np.zeros((0, 4)), np.zeros((0, 4)), backend=backend).shape == (0,)


@pytest.mark.parametrize("dtype, wanted", [(np.float16, np.float32), (np.float32, np.float32),
                                           (np.float64, np.float64), (np.int32, np.float64),
                                           (np.uint8, np.float64), (np.bool_, np.float64)])
def test_result_dtypes(backend, dtype, wanted):
    p = np.array([[1, 0, 1], [0, 1, 1]]).astype(dtype)
    assert fastxent.entropy(p, backend=backend).dtype == wanted
    assert fastxent.surprisal(p, backend=backend).dtype == wanted
    assert fastxent.kl_divergence(p, p, backend=backend).dtype == wanted
    mixed = fastxent.cross_entropy(p, p.astype(np.float64), backend=backend)
    assert mixed.dtype == np.float64  # the wider of the two
    assert isinstance(fastxent.entropy(p[0], backend=backend), wanted)  # a NumPy scalar for 1-D input


def test_surprisal_of_a_scalar_is_a_numpy_scalar():
    result = fastxent.surprisal(np.float32(0.5), base=2)
    assert isinstance(result, np.float32) and result == 1.0
    assert np.isposinf(fastxent.surprisal(0))


# --------------------------------------------------------------------------- errors


P = np.full((2, 3), 1 / 3)


@pytest.mark.parametrize("call_, error, match", [
    (lambda: fastxent.entropy([[0.5, -0.1, 0.6]]), ValueError, "p must be non-negative"),
    (lambda: fastxent.cross_entropy(P, -P), ValueError, "q must be non-negative"),
    (lambda: fastxent.kl_divergence([np.nan, -1.0], [0.5, 0.5]), ValueError, "p must be non-negative"),
    (lambda: fastxent.entropy([np.inf, 1.0]), ValueError, "p must be finite"),
    (lambda: fastxent.surprisal([0.5, -0.5]), ValueError, "p must be non-negative"),
    (lambda: fastxent.entropy(np.array([0.5j, 0.5])), TypeError, "p must be a real numeric array"),
    (lambda: fastxent.cross_entropy(P, P.astype(object)), TypeError, "q must be a real numeric array"),
    (lambda: fastxent.surprisal(["0.5"]), TypeError, "p must be a real numeric array"),
    (lambda: fastxent.entropy(P, base=0), ValueError, "base must be a finite positive number"),
    (lambda: fastxent.entropy(P, base=-2), ValueError, "base must be a finite positive number"),
    (lambda: fastxent.entropy(P, base=1), ValueError, "base must be .* other than 1"),
    (lambda: fastxent.surprisal(P, base=np.inf), ValueError, "base must be a finite"),
    (lambda: fastxent.kl_divergence(P, P, base=np.nan), ValueError, "base must be a finite"),
    (lambda: fastxent.entropy(P, base="2"), TypeError, "base must be a real number"),
    (lambda: fastxent.entropy(P, base=True), TypeError, "base must be a real number"),
    (lambda: fastxent.entropy(P, axis=2), ValueError, "axis 2 is out of bounds"),
    (lambda: fastxent.cross_entropy(P, P, axis=-3), ValueError, "axis -3 is out of bounds"),
    (lambda: fastxent.entropy(P, axis=1.0), TypeError, "axis must be an int"),
    (lambda: fastxent.entropy(P, axis=None), TypeError, "axis must be an int"),
    (lambda: fastxent.entropy(0.5), ValueError, "p must have at least 1 dimension"),
    (lambda: fastxent.cross_entropy(P, np.ones((2, 4))), ValueError, "do not broadcast"),
    (lambda: fastxent.entropy(P, backend="fortran"), ValueError, "backend='fortran'"),
])
def test_bad_inputs_raise_naming_the_argument(call_, error, match):
    with pytest.raises(error, match=match):
        call_()


# --------------------------------------------------------------------------- properties


@st.composite
def distribution_pairs(draw):
    """``(p, q)`` float64 ``(n, c)`` rows summing to 1; p has zeros (never its first class), q none."""
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 30))
    p = draw(arrays(np.float64, (n, c), elements=st.floats(1e-6, 1.0)))
    p[draw(arrays(np.bool_, (n, c))) & (np.arange(c) > 0)] = 0.0
    q = draw(arrays(np.float64, (n, c), elements=st.floats(1e-6, 1.0)))
    return p / p.sum(axis=1, keepdims=True), q / q.sum(axis=1, keepdims=True)


@given(pair=distribution_pairs(), base=st.sampled_from([2.0, 10.0, 0.1, 3.7]))
@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
def test_gibbs_inequality_and_the_decomposition(backend, pair, base):
    p, q = pair
    h = fastxent.entropy(p, backend=backend)
    ce = fastxent.cross_entropy(p, q, backend=backend)
    kl = fastxent.kl_divergence(p, q, backend=backend)
    tol = 1e-13 * np.maximum(ce, 1.0)
    assert (ce >= h - tol).all()
    assert (kl >= -tol).all()
    np.testing.assert_allclose(kl, ce - h, rtol=0, atol=tol.max())
    # equality when q == p
    np.testing.assert_allclose(fastxent.cross_entropy(p, p, backend=backend), h, rtol=1e-15, atol=0)
    assert (fastxent.kl_divergence(p, p, backend=backend) == 0).all()
    # a change of base divides by log(base)
    np.testing.assert_allclose(fastxent.entropy(p, base=base, backend=backend), h / np.log(base),
                               rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(fastxent.kl_divergence(p, q, base=base, backend=backend), kl / np.log(base),
                               rtol=1e-14, atol=1e-300)
