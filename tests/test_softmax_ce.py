"""Softmax cross-entropy: every backend x dtype x layout x thread count against the float64 oracle."""

import numpy as np
import pytest
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import logsumexp as scipy_logsumexp
from scipy.special import softmax as scipy_softmax

import fastxent
from arrays import DTYPES, LAYOUTS, SHAPES, in_layout, labels_of, logits_of, probs_of
from oracle import expected

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 2e-6, np.float64: 1e-14}


def assert_loss_close(actual, wanted, dtype):
    assert np.asarray(actual).dtype == dtype
    np.testing.assert_allclose(np.asarray(actual, np.float64), wanted, rtol=RTOL[dtype], atol=ATOL[dtype])


def assert_grad_close(actual, wanted, dtype, scale=1.0):
    """Gradients compared in absolute terms of probability units (times the reduction's scale)."""
    assert actual.dtype == dtype and actual.shape == wanted.shape
    np.testing.assert_allclose(actual, wanted, rtol=0, atol=ATOL[dtype] * 4 * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_labels_match_oracle(backend, dtype, shape, layout, n_threads, tmp_path):
    values = logits_of(shape, dtype)
    target = labels_of(shape[:-1], shape[-1], ignore_fraction=0.1)
    logits = in_layout(values, layout, tmp_path)
    kwargs = dict(backend=backend, n_threads=n_threads)
    for reduction in ("none", "sum") + (("mean",) if target.size and (target != -100).any() else ()):
        wanted_loss, wanted_grad = expected(values, target, reduction=reduction)
        loss = fastxent.softmax_cross_entropy(logits, target, reduction=reduction, **kwargs)
        assert_loss_close(loss, wanted_loss, dtype)
        grad = fastxent.softmax_cross_entropy_grad(logits, target, reduction=reduction, **kwargs)
        scale = 1.0 if reduction != "mean" else 1.0 / max(1, np.count_nonzero(target != -100))
        assert_grad_close(grad, wanted_grad, dtype, scale)
        fused_loss, fused_grad = fastxent.softmax_cross_entropy_with_grad(logits, target, reduction=reduction,
                                                                          **kwargs)
        np.testing.assert_array_equal(fused_loss, loss)
        np.testing.assert_array_equal(fused_grad, grad)
    np.testing.assert_array_equal(logits, values)  # inputs untouched


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (37, 11), (5, 3, 300)], ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_probability_targets_match_oracle(backend, dtype, shape, layout, tmp_path):
    values = logits_of(shape, dtype)
    target = probs_of(shape, dtype)
    logits, probs = in_layout(values, layout, tmp_path), in_layout(target, layout, tmp_path)
    for reduction in ("none", "sum", "mean") if shape[0] else ("none", "sum"):
        wanted_loss, wanted_grad = expected(values, target, reduction=reduction)
        loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, probs, reduction=reduction, backend=backend)
        assert_loss_close(loss, wanted_loss, dtype)
        scale = 1.0 if reduction != "mean" else 1.0 / max(1, int(np.prod(shape[:-1])))
        assert_grad_close(grad, wanted_grad, dtype, scale)


OPTION_CASES = [
    dict(weight="random"),
    dict(sample_weight="random"),
    dict(label_smoothing=0.1),
    dict(label_smoothing=1.0),
    dict(weight="random", sample_weight="random", label_smoothing=0.25),
    dict(weight="random", ignore_index=3),
    dict(weight="some zero", label_smoothing=0.1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", OPTION_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("target_kind", ["labels", "probs"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weights_smoothing_ignore_follow_torch_rules(backend, dtype, case, target_kind, reduction):
    rng = np.random.default_rng(5)
    n, c = 50, 7
    values = logits_of((n, c), dtype)
    kwargs = dict(case)
    masked = kwargs.get("weight") == "some zero"
    if kwargs.get("weight") == "random":
        kwargs["weight"] = rng.random(c) + 0.1
    if masked:
        kwargs["weight"] = np.where(np.arange(c) % 3 == 0, 0.0, 2.0)
        values[:, ::3] = -np.inf  # masked classes have zero weight: no NaN
    if kwargs.get("sample_weight") == "random":
        kwargs["sample_weight"] = rng.random(n) * 3
    target = labels_of((n,), c, ignore_fraction=0.2, ignore_index=kwargs.get("ignore_index", -100))
    if masked:
        target = np.where((target >= 0) & (target % 3 == 0), np.minimum(target + 1, c - 2), target)
    if target_kind == "probs":
        target = probs_of((n, c), dtype)
        if masked:
            target[:, ::3] = 0
    wanted_loss, wanted_grad = expected(values, target, reduction=reduction, **kwargs)
    loss, grad = fastxent.softmax_cross_entropy_with_grad(values, target, reduction=reduction, backend=backend,
                                                          **kwargs)
    assert_loss_close(loss, wanted_loss, dtype)
    assert_grad_close(grad, wanted_grad, dtype, scale=10.0 if reduction != "mean" else 1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (37, 11), (4, 5, 300), (2, 131072)], ids=str)
def test_softmax_log_softmax_logsumexp_match_scipy(backend, dtype, shape):
    logits = logits_of(shape, dtype, scale=10.0)
    z64 = logits.astype(np.float64)
    tol = dict(rtol=RTOL[dtype] * 5, atol=ATOL[dtype] * 5)
    np.testing.assert_allclose(fastxent.log_softmax(logits, backend=backend), scipy_log_softmax(z64, axis=-1),
                               **tol)
    np.testing.assert_allclose(fastxent.softmax(logits, backend=backend), scipy_softmax(z64, axis=-1), **tol)
    result = fastxent.logsumexp(logits, backend=backend)
    assert result.dtype == dtype and result.shape == shape[:-1]
    np.testing.assert_allclose(result, scipy_logsumexp(z64, axis=-1), **tol)


@pytest.mark.parametrize("kind", ["labels", "probs"])
def test_gradient_matches_finite_differences(backend, kind):
    rng = np.random.default_rng(11)
    n, c = 6, 5
    logits = rng.normal(0, 2, size=(n, c))
    target = labels_of((n,), c) if kind == "labels" else probs_of((n, c), np.float64)
    kwargs = dict(weight=rng.random(c) + 0.5, sample_weight=rng.random(n) + 0.5, label_smoothing=0.15,
                  backend=backend)
    grad = fastxent.softmax_cross_entropy_grad(logits, target, **kwargs)
    numeric = np.zeros_like(logits)
    step = 1e-6
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (fastxent.softmax_cross_entropy(up, target, **kwargs)
                          - fastxent.softmax_cross_entropy(down, target, **kwargs)) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_kind", ["labels", "probs"])
def test_reduced_loss_and_grad_bitwise_identical_across_thread_counts(compiled_backend, dtype, target_kind):
    shape = (10_007, 33)
    logits = logits_of(shape, dtype)
    target = labels_of(shape[:-1], shape[-1], ignore_fraction=0.05) if target_kind == "labels" else probs_of(
        shape, dtype)
    results = [fastxent.softmax_cross_entropy_with_grad(logits, target, backend=compiled_backend, n_threads=t,
                                                        label_smoothing=0.05) for t in (1, 2, 3, 8)]
    for loss, grad in results[1:]:
        assert loss.tobytes() == results[0][0].tobytes()
        np.testing.assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", [1, 2, 1000, 131072])
def test_accuracy_for_wide_spread_and_many_classes(backend, dtype, n_classes):
    """float32 within 1e-5 relative of float64 maths on the same values; logits spread to +-1e4."""
    rng = np.random.default_rng(n_classes)
    n = max(2, 200_000 // n_classes)
    logits = (rng.normal(0, 1, size=(n, n_classes)) * 10.0 ** rng.uniform(-2, 4, size=(n, 1))).astype(dtype)
    target = labels_of((n,), n_classes)
    wanted_rows, wanted_grad = expected(logits, target, reduction="none")
    rows = fastxent.softmax_cross_entropy(logits, target, reduction="none", backend=backend)
    np.testing.assert_allclose(rows, wanted_rows, rtol=RTOL[dtype], atol=ATOL[dtype])
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, target, reduction="sum", backend=backend)
    np.testing.assert_allclose(loss, wanted_rows.sum(), rtol=RTOL[dtype])
    assert_grad_close(grad, wanted_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_finite_logits_never_give_nan(backend, dtype):
    big = np.finfo(dtype).max / 1.2
    logits = np.array([[big, -big, 0.0], [-big, big, 1.0], [big, big, -big], [0.0, 1.0, big]], dtype=dtype)
    labels = np.array([1, 1, 0, 2])
    rows, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, reduction="none", backend=backend)
    assert not np.isnan(rows).any() and not np.isnan(grad).any()
    assert np.isinf(rows[0]) or rows[0] > 1e30  # beyond the dtype's range: inf, never NaN
    assert rows[1] == 0 and rows[3] == 0
    np.testing.assert_allclose(rows[2], np.log(2), rtol=RTOL[dtype])
    np.testing.assert_allclose(grad[0], [1, -1, 0], atol=1e-7)
    np.testing.assert_allclose(grad[2], [-0.5, 0.5, 0], atol=1e-7)
    # a sum of finite row losses beyond the dtype's range is inf, not NaN
    rows = np.full((6, 3), -np.finfo(dtype).max / 3, dtype=dtype)
    rows[:, 1] = 0
    total = fastxent.softmax_cross_entropy(rows, np.zeros(6, dtype=np.int64), reduction="sum", backend=backend)
    assert total.dtype == dtype and total == np.inf


def test_negative_infinity_masks_classes(backend):
    logits = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, 2.0]])
    labels = np.array([2, 2])
    rows, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, reduction="none", backend=backend)
    np.testing.assert_allclose(rows, [np.log1p(np.exp(-1.0)), 0.0], rtol=1e-12)
    assert grad[0, 1] == 0 and grad[1, 0] == 0 and grad[1, 2] == 0
    probs = np.array([[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    rows = fastxent.softmax_cross_entropy(logits, probs, reduction="none", backend=backend)
    assert np.isfinite(rows).all()
    # the label sits on a masked class: an infinite loss, not NaN
    assert fastxent.softmax_cross_entropy(logits, np.array([1, 0]), reduction="sum", backend=backend) == np.inf
    np.testing.assert_array_equal(fastxent.softmax(logits, backend=backend)[1], [0, 0, 1])


def test_nan_poisons_only_its_row(backend):
    logits = logits_of((4, 6), np.float64)
    logits[2, 3] = np.nan
    labels = np.array([0, 1, 2, 3])
    rows, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, reduction="none", backend=backend)
    assert np.isnan(rows[2]) and np.isnan(grad[2]).all()
    clean = np.delete(np.arange(4), 2)
    wanted, wanted_grad = expected(logits[clean], labels[clean], reduction="none")
    np.testing.assert_allclose(rows[clean], wanted, rtol=1e-12)
    np.testing.assert_allclose(grad[clean], wanted_grad, atol=1e-14)
    assert np.isnan(fastxent.softmax_cross_entropy(logits, labels, backend=backend))


def test_empty_input_per_reduction(backend):
    logits = np.zeros((0, 4), dtype=np.float32)
    labels = np.zeros(0, dtype=np.int64)
    assert fastxent.softmax_cross_entropy(logits, labels, reduction="sum", backend=backend) == 0
    rows = fastxent.softmax_cross_entropy(logits, labels, reduction="none", backend=backend)
    assert rows.shape == (0,) and rows.dtype == np.float32
    with pytest.warns(RuntimeWarning, match="zero total weight"):
        loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend)
    assert np.isnan(loss) and grad.shape == (0, 4)


def test_every_row_ignored_gives_nan_mean_and_zero_gradient(backend):
    logits = logits_of((5, 3), np.float64)
    with pytest.warns(RuntimeWarning, match="zero total weight"):
        loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, np.full(5, -100), backend=backend)
    assert np.isnan(loss)
    np.testing.assert_array_equal(grad, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradient_written_in_place_and_into_preallocated_out(backend, dtype):
    logits = logits_of((300, 40), dtype)
    labels = labels_of((300,), 40)
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend)
    out = np.full_like(logits, np.nan)
    loss_out, grad_out = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend, out=out)
    assert grad_out is out and loss_out == loss
    np.testing.assert_array_equal(out, grad)
    # In place, the compiler may vectorise the row sums differently: equal to rounding, not bitwise.
    # An ulp of a row sum moves the label's entry p_y / N - 1 / N (which cancels) by ~ eps / N, many
    # of its own ulps (16 seen once in CI for numba float64): compared on the gradient's scale 1 / N.
    eps = np.finfo(dtype).eps
    same = lambda actual, wanted: np.testing.assert_allclose(actual, wanted, rtol=16 * eps,
                                                            atol=16 * eps / len(labels))
    in_place = logits.copy()
    loss_in_place, grad_in_place = fastxent.softmax_cross_entropy_with_grad(in_place, labels, backend=backend,
                                                                            out=in_place)
    assert grad_in_place is in_place
    np.testing.assert_array_max_ulp(loss_in_place, loss, maxulp=8)
    same(in_place, grad)
    f_out = np.asfortranarray(np.zeros_like(logits))
    assert fastxent.softmax_cross_entropy_grad(logits, labels, backend=backend, out=f_out) is f_out
    np.testing.assert_array_equal(f_out, grad)
    f_logits = np.asfortranarray(logits)  # a Fortran array updated in place goes through a temporary
    fastxent.softmax_cross_entropy_grad(f_logits, labels, backend=backend, out=f_logits)
    same(f_logits, grad)
    overlapping = np.zeros((301, 40), dtype=dtype)
    overlapping[1:] = logits
    fastxent.softmax_cross_entropy_grad(overlapping[1:], labels, backend=backend, out=overlapping[:-1])
    np.testing.assert_array_equal(overlapping[:-1], grad)
    z = logits.copy()
    wanted = fastxent.softmax(logits, backend=backend)
    assert fastxent.softmax(z, backend=backend, out=z) is z
    same(z, wanted)
    # log_softmax = z - logsumexp(z): a few ulps of logsumexp, absolute, which are many ulps of an
    # output near 0 (the sums' vector order depends on the buffer's alignment, hence on the copy).
    z = logits.copy()
    wanted = fastxent.log_softmax(logits, backend=backend)
    assert fastxent.log_softmax(z, backend=backend, out=z) is z
    lse_ulp = np.spacing(np.abs(fastxent.logsumexp(logits, backend=backend)))[:, None]
    assert np.all(np.abs(z - wanted) <= 8 * lse_ulp + 8 * np.spacing(np.abs(wanted)))


@pytest.mark.parametrize("dtype, computed", [(np.float16, np.float32), (np.int32, np.float64),
                                             (np.int64, np.float64), (np.bool_, np.float64),
                                             (np.uint8, np.float64)])
def test_dtype_rules(backend, dtype, computed):
    logits = (logits_of((9, 4), np.float64) * 2).astype(dtype)
    labels = labels_of((9,), 4)
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend)
    assert loss.dtype == computed and grad.dtype == computed
    np.testing.assert_allclose(loss, expected(logits.astype(computed), labels)[0], rtol=RTOL[computed])


@pytest.mark.parametrize("label_dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint32, np.uint64])
def test_any_integer_label_dtype(backend, label_dtype):
    logits = logits_of((20, 5), np.float64)
    labels = labels_of((20,), 5)
    np.testing.assert_allclose(fastxent.softmax_cross_entropy(logits, labels.astype(label_dtype), backend=backend),
                               expected(logits, labels)[0], rtol=1e-12)


def test_sequence_shaped_batch(backend):
    logits = logits_of((3, 8, 50), np.float32)
    labels = labels_of((3, 8), 50, ignore_fraction=0.2)
    rows = fastxent.softmax_cross_entropy(logits, labels, reduction="none", backend=backend)
    assert rows.shape == (3, 8)
    flat = fastxent.softmax_cross_entropy(logits.reshape(24, 50), labels.reshape(24), reduction="none",
                                          backend=backend)
    np.testing.assert_array_equal(rows.reshape(24), flat)


def test_article_worked_examples(backend):
    # A dog predicted [panda 0.1, bird 0.2, dog 0.7]: -ln 0.7 = 0.3567 nats.
    logits = np.log(np.array([[0.1, 0.2, 0.7]]))
    loss = fastxent.softmax_cross_entropy(logits, np.array([2]), backend=backend)
    assert round(float(loss), 4) == 0.3567
    # The mock question: prediction [0.7, 0.2, 0.1] with one-hot truth [1, 0, 0]: -ln 0.7 too, and the
    # gradient softmax(z) - y.
    loss, grad = fastxent.softmax_cross_entropy_with_grad(np.log([[0.7, 0.2, 0.1]]), np.array([[1.0, 0, 0]]),
                                                          backend=backend)
    assert float(loss) == pytest.approx(-np.log(0.7), rel=1e-12)
    np.testing.assert_allclose(grad, [[0.7 - 1, 0.2, 0.1]], atol=1e-15)
    # A confident wrong answer costs much more than a hesitant one.
    wrong = fastxent.softmax_cross_entropy(np.log([[0.7, 0.2, 0.1]]), np.array([2]), backend=backend)
    assert float(wrong) == pytest.approx(-np.log(0.1)) and wrong > loss
