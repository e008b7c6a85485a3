"""``softmax_ce_labels_loss_top1``: the loss plus ``argmax(logits) == label`` in one pass, against NumPy's
argmax rule (the first maximum; a NaN counts as the maximum) on ties, NaN, +-inf, ignored and bad labels,
on the small-C block path and the per-row path, for every backend and thread count."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastxent._backends import load_backend
from fastxent._kernels import numpy_ref

BACKENDS = ["numpy", "cython", "numba"]


def _numpy_top1(z, y, ignore_index):
    """The definition: NumPy's argmax equals the label (never for ignored / out-of-range labels)."""
    valid = (y != ignore_index) & (y >= 0) & (y < z.shape[1])
    return (valid & (np.argmax(z, axis=1) == y)).astype(np.uint8)


def _run(backend, z, y, ignore_index=-100, n_threads=2):
    n, c = z.shape
    loss, top1 = np.empty(n), np.full(n, 9, dtype=np.uint8)
    bad = load_backend(backend).softmax_ce_labels_loss_top1(z, y, np.ones(c), np.ones(n), ignore_index, 0.0,
                                                            loss, top1, n_threads)
    return bad, loss, top1


def _special_rows(n, c, dtype, rng):
    """Random logits with ties, NaN before / at / after the label, +-inf, all -inf rows, and labels
    that are the argmax for about half the rows."""
    z = rng.integers(-3, 4, size=(n, c)).astype(dtype)  # small integers: many ties
    y = np.where(rng.random(n) < 0.5, np.argmax(z, axis=1), rng.integers(0, c, n))
    for i in range(0, n, 7):
        k = rng.integers(0, c)
        z[i, k] = rng.choice([np.nan, np.inf, -np.inf])
    z[3 % n] = -np.inf
    z[4 % n] = np.nan
    y[5 % n] = -100
    y[6 % n] = c  # out of range
    y[8 % n] = -1
    return z, y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 2, 5, 16, 17, 100, 1000])
def test_top1_follows_numpy_argmax(backend, dtype, c):
    rng = np.random.default_rng(c)
    z, y = _special_rows(1001, c, dtype, rng)
    bad, loss, top1 = _run(backend, z, y)
    np.testing.assert_array_equal(top1, _numpy_top1(z, y, -100))
    # the loss part is the plain loss kernel's
    ref_loss = np.empty(len(y))
    ref_bad = numpy_ref.softmax_ce_labels_loss(z, y, np.ones(c), np.ones(len(y)), -100, 0.0, ref_loss, 1)
    assert bad == ref_bad == 2
    np.testing.assert_allclose(loss, ref_loss, rtol=2e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("backend", ["cython", "numba"])
@pytest.mark.parametrize("c", [10, 1000])
def test_top1_is_the_same_for_every_thread_count(backend, c):
    z, y = _special_rows(4099, c, np.float32, np.random.default_rng(0))
    results = [_run(backend, z, y, n_threads=t) for t in (1, 2, 3)]
    for bad, loss, top1 in results[1:]:
        assert bad == results[0][0]
        np.testing.assert_array_equal(loss, results[0][1])
        np.testing.assert_array_equal(top1, results[0][2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_top1_with_an_ignore_index_that_is_a_class(backend):
    z = np.array([[3.0, 1.0], [0.0, 2.0], [5.0, -1.0]])
    y = np.array([0, 1, 0])
    _, loss, top1 = _run(backend, z, y, ignore_index=0)
    np.testing.assert_array_equal(top1, [0, 1, 0])
    assert loss[0] == loss[2] == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_top1_of_empty_inputs(backend):
    for shape in ((0, 4), (3, 0)):
        z = np.zeros(shape, np.float32)
        y = np.zeros(shape[0], np.int64)
        bad, _, top1 = _run(backend, z, y)
        assert bad == shape[0]  # no class: every label is out of range
        np.testing.assert_array_equal(top1, np.zeros(shape[0], np.uint8))


def test_top1_out_of_the_wrong_length_is_rejected_by_the_cython_kernel():
    # (the Numba kernels trust their caller, as the contract says; the Cython ones check lengths)
    z = np.zeros((5, 3), np.float32)
    with pytest.raises(ValueError, match="top1_out"):
        load_backend("cython").softmax_ce_labels_loss_top1(z, np.zeros(5, np.int64), np.ones(3), np.ones(5), -100,
                                                          0.0, np.empty(5), np.empty(4, np.uint8), 1)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), backend=st.sampled_from(["cython", "numba"]), dtype=st.sampled_from([np.float32, np.float64]))
def test_top1_property(data, backend, dtype):
    n = data.draw(st.integers(1, 40))
    c = data.draw(st.sampled_from([1, 2, 3, 7, 16, 17, 40, 65, 300]))  # 65, 300: cython's row path
    values = st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0, np.inf, -np.inf, np.nan])
    z = data.draw(hnp.arrays(dtype, (n, c), elements=values))
    y = data.draw(hnp.arrays(np.int64, n, elements=st.integers(-1, c)))
    _, _, top1 = _run(backend, z, y)
    np.testing.assert_array_equal(top1, _numpy_top1(z, y, -100))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", [10, 100, 1000])
def test_top1_does_not_depend_on_smoothing_or_weights(backend, c):
    """The row path takes the flags from the loss pass's max and sum, which every smoothing and
    weighting branch computes its own way: the flags must not change with them."""
    rng = np.random.default_rng(c + 1)
    z, y = _special_rows(501, c, np.float64, rng)
    n = len(y)
    wanted = _numpy_top1(z, y, -100)
    kernels = load_backend(backend)
    for class_weight in (np.ones(c), rng.uniform(0.0, 2.0, c)):
        for smoothing in (0.0, 0.3):
            loss, top1 = np.empty(n), np.full(n, 9, dtype=np.uint8)
            kernels.softmax_ce_labels_loss_top1(z, y, class_weight, rng.uniform(0.5, 2.0, n), -100, smoothing,
                                                loss, top1, 2)
            np.testing.assert_array_equal(top1, wanted)
