"""Binary and multi-label cross-entropy, sigmoid, and the hessians: every backend against an
independent float64 oracle (SciPy's expit / log_expit and the textbook formulas), scikit-learn,
finite differences, and the float32/float64 overflow edges."""

import warnings

import numpy as np
import pytest
from scipy.special import expit, log_expit

import fastxent
from arrays import DTYPES, LAYOUTS, in_layout, labels_of, logits_of, probs_of

RTOL = {np.float32: 2e-6, np.float64: 1e-13}
BINARY_SHAPES = ((), (0,), (1,), (7,), (6, 1), (0, 5), (37, 11), (3, 4, 9), (2, 20000))


def targets_of(shape, dtype, seed=5):
    """Half hard 0/1 targets, half soft ones, in [0, 1]."""
    rng = np.random.default_rng(seed)
    t = rng.random(shape)
    hard = rng.random(shape) < 0.5
    return np.where(hard, np.round(t), t).astype(dtype)


def oracle(z, y, weight=None, pos_weight=None, sample_weight=None, per_row=False):
    """(element losses, element gradients, element hessians) in float64, by the textbook formulas,
    and the mean's denominator."""
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    shape = z.shape
    rows_shape = shape[:-1] if (per_row or z.ndim >= 2) else shape
    n_labels = 1 if (z.ndim <= 1 and not per_row) else shape[-1]
    k = np.ones(shape) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), shape)
    if sample_weight is not None:
        s = np.asarray(sample_weight, np.float64)
        k = k * (s[..., None] if rows_shape != shape else s)
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    a_pos, a_neg = pw * y, 1.0 - y
    with np.errstate(invalid="ignore"):
        loss = k * (np.where(a_pos != 0, -a_pos * log_expit(z), 0.0) + np.where(a_neg != 0, -a_neg * log_expit(-z), 0.0))
        grad = k * (a_neg * expit(z) - a_pos * expit(-z))
        hess = k * (a_pos + a_neg) * expit(z) * expit(-z)
    rows = np.prod(rows_shape) if sample_weight is None else np.sum(sample_weight)
    return loss, grad, hess, rows * (1 if per_row else n_labels)


def assert_close(actual, wanted, dtype, atol=0.0):
    assert np.asarray(actual).dtype == dtype
    np.testing.assert_allclose(np.asarray(actual, np.float64), wanted, rtol=RTOL[dtype],
                               atol=atol + RTOL[dtype] * 1e-3)


# --------------------------------------------------------------------------- sigmoid, log_sigmoid


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_log_sigmoid_match_scipy_over_the_whole_range(backend, dtype):
    finfo = np.finfo(dtype)
    x = np.concatenate([np.linspace(-800, 800, 40001), [-finfo.max, finfo.max, -np.inf, np.inf, 0.0, -0.0,
                                                        finfo.tiny, -finfo.tiny]]).astype(dtype)
    x64 = x.astype(np.float64)
    ulp = float(finfo.eps)
    s = fastxent.sigmoid(x, backend=backend)
    assert s.dtype == dtype
    np.testing.assert_allclose(s, expit(x64), rtol=4 * ulp, atol=float(finfo.tiny))
    ls = fastxent.log_sigmoid(x, backend=backend)
    wanted = log_expit(x64)
    assert ls.dtype == dtype and np.isfinite(ls[np.isfinite(x)]).all()
    np.testing.assert_allclose(ls, wanted, rtol=8 * ulp, atol=float(finfo.tiny) * 4)
    assert fastxent.sigmoid(np.nan, backend=backend) != fastxent.sigmoid(np.nan, backend=backend)
    assert np.isneginf(fastxent.log_sigmoid(-np.inf, backend=backend))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sigmoid_layouts_shapes_and_out(backend, layout, tmp_path):
    values = logits_of((5, 7, 3), np.float32)
    x = in_layout(values, layout, tmp_path)
    wanted = expit(values.astype(np.float64))
    np.testing.assert_allclose(fastxent.sigmoid(x, backend=backend), wanted, rtol=3e-7)
    out = np.empty((5, 7, 3), np.float32, order="F")
    assert fastxent.sigmoid(x, out=out, backend=backend) is out
    np.testing.assert_allclose(out, wanted, rtol=3e-7)
    inplace = values.copy()
    fastxent.log_sigmoid(inplace, out=inplace, backend=backend)
    np.testing.assert_allclose(inplace, log_expit(values.astype(np.float64)), rtol=1e-6, atol=1e-7)
    assert isinstance(fastxent.sigmoid(0.0, backend=backend), np.float64)
    assert fastxent.sigmoid(np.arange(3), backend=backend).dtype == np.float64
    assert fastxent.sigmoid(np.zeros(4, np.float16), backend=backend).dtype == np.float32


# --------------------------------------------------------------------------- BCE with logits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_threads", [1, 3])
def test_bce_with_logits_matches_oracle(backend, dtype, shape, layout, n_threads, tmp_path):
    values, target = logits_of(shape, dtype), targets_of(shape, dtype)
    if shape:  # (np.ascontiguousarray makes a 0-d array 1-d)
        logits, tgt = in_layout(values, layout, tmp_path), in_layout(target, layout, tmp_path)
    else:
        logits, tgt = values, target
    loss_el, grad_el, _, denominator = oracle(values, target)
    kwargs = dict(backend=backend, n_threads=n_threads)
    reductions = ("none", "sum", "mean") if values.size else ("none", "sum")
    for reduction in reductions:
        scale = 1.0 / denominator if reduction == "mean" else 1.0
        wanted = {"none": loss_el, "sum": loss_el.sum(), "mean": loss_el.sum() * scale}[reduction]
        loss = fastxent.binary_cross_entropy_with_logits(logits, tgt, reduction=reduction, **kwargs)
        assert_close(loss, wanted, dtype)
        assert np.shape(loss) == (shape if reduction == "none" else ())
        grad = fastxent.binary_cross_entropy_with_logits_grad(logits, tgt, reduction=reduction, **kwargs)
        assert grad.shape == shape
        assert_close(grad, grad_el * scale, dtype, atol=RTOL[dtype] * scale)
        fused = fastxent.binary_cross_entropy_with_logits_with_grad(logits, tgt, reduction=reduction, **kwargs)
        np.testing.assert_array_equal(fused[0], loss)
        np.testing.assert_array_equal(fused[1], grad)
    np.testing.assert_array_equal(logits, values)  # inputs untouched


WEIGHT_CASES = [
    dict(weight="per label"),
    dict(weight="full"),
    dict(pos_weight="scalar"),
    dict(pos_weight="per label"),
    dict(sample_weight="random"),
    dict(weight="full", pos_weight="per label", sample_weight="random"),
    dict(pos_weight="scalar", sample_weight="random"),  # equal pos_weights: the kernels' scalar path
    dict(sample_weight="some zero"),
]


def materialise(case, shape, rng):
    n_labels = shape[-1]
    values = {"per label": rng.random(n_labels) * 2, "full": rng.random(shape) * (rng.random(shape) > 0.2),
              "scalar": 2.5, "random": rng.random(shape[:-1]) * 3,
              "some zero": (rng.random(shape[:-1]) > 0.5) * 1.0}
    return {name: values[what] if name != "pos_weight" or what != "per label" else rng.random(n_labels) * 4
            for name, what in case.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", WEIGHT_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_weights_match_oracle(backend, dtype, case, reduction):
    shape = (53, 9)
    values, target = logits_of(shape, dtype), targets_of(shape, dtype)
    weights = materialise(case, shape, np.random.default_rng(3))
    loss_el, grad_el, _, denominator = oracle(values, target, **weights)
    scale = 1.0 / denominator if reduction == "mean" else 1.0
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(values, target, reduction=reduction,
                                                                     backend=backend, **weights)
    wanted = {"none": loss_el, "sum": loss_el.sum(), "mean": loss_el.sum() * scale}[reduction]
    assert_close(loss, wanted, dtype)
    assert_close(grad, grad_el * scale, dtype, atol=RTOL[dtype] * scale)


def test_one_dimensional_input_is_rows_of_one_label(backend):
    """(N,) logits: sample_weight per element (scikit-learn's binary case), pos_weight a scalar."""
    z, y = logits_of((101,), np.float64), targets_of((101,), np.float64)
    s = np.random.default_rng(0).random(101)
    loss_el, grad_el, _, _ = oracle(z, y, pos_weight=3.0, sample_weight=s)
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, y, pos_weight=3.0, sample_weight=s,
                                                                     backend=backend)
    np.testing.assert_allclose(loss, loss_el.sum() / s.sum(), rtol=1e-13)
    np.testing.assert_allclose(grad, grad_el / s.sum(), rtol=1e-12, atol=1e-16)
    # the same numbers as an (N, 1) problem
    loss_2d = fastxent.binary_cross_entropy_with_logits(z[:, None], y[:, None], pos_weight=[3.0], sample_weight=s,
                                                        backend=backend)
    np.testing.assert_allclose(loss_2d, loss, rtol=1e-14)


# float32 breaks the naive formulas near 17 (1 + e^-z rounds to 1), 89 (exp overflows), 104 (exp
# underflows to 0); float64 near 37, 710, 745.
EDGES = np.array([0.0, 1e-8, 1.0, 16.0, 17.0, 18.0, 36.0, 37.0, 38.0, 87.0, 88.7, 89.0, 90.0, 103.0, 104.0,
                  200.0, 709.0, 710.0, 745.0, 800.0, 1e3, 1e30])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("y", [0.0, 1.0, 0.25])
def test_extreme_logits_give_finite_accurate_losses_and_gradients(backend, dtype, y):
    z = np.concatenate([-EDGES[::-1], EDGES, [np.finfo(dtype).max, -np.finfo(dtype).max]]).astype(dtype)
    target = np.full_like(z, y)
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, target, reduction="none", backend=backend)
    grad_h, hess = fastxent.binary_cross_entropy_gradient_hessian(z, target, backend=backend)
    for values in (loss, grad, grad_h, hess):
        assert np.isfinite(values).all(), z[~np.isfinite(values)]
    loss_el, grad_el, hess_el, _ = oracle(z, target)
    ulp = float(np.finfo(dtype).eps)
    tiny = float(np.finfo(dtype).tiny)
    np.testing.assert_allclose(loss, loss_el, rtol=8 * ulp, atol=tiny)
    # a soft target's gradient is a difference of two terms: absolute accuracy, ulps of 1
    np.testing.assert_allclose(grad, grad_el, rtol=8 * ulp, atol=tiny if y in (0.0, 1.0) else 8 * ulp)
    np.testing.assert_array_equal(grad_h, grad)
    np.testing.assert_allclose(hess, hess_el, rtol=16 * ulp, atol=tiny)


def test_gradient_deep_in_the_tails(backend):
    for dtype in DTYPES:
        z = np.array([-1e3, 1e3, -1e3, 1e3, -50.0], dtype)
        y = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype)
        loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, y, reduction="none", backend=backend)
        np.testing.assert_array_equal(grad[:4], [-1.0, 1.0, 0.0, 0.0])
        np.testing.assert_allclose(loss, [1e3, 1e3, 0.0, 0.0, 50.0], rtol=1e-7)


def test_infinite_logits_and_nan(backend):
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, np.nan, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, y, reduction="none", backend=backend)
    np.testing.assert_array_equal(loss[:4], [0.0, 0.0, np.inf, np.inf])
    np.testing.assert_array_equal(grad[:4], [0.0, 0.0, 1.0, -1.0])
    assert np.isnan(loss[4]) and np.isnan(grad[4]) and np.isfinite(loss[5])
    # an element with weight 0 is padding: loss 0 and gradient 0 whatever its logit holds
    w = np.array([1, 1, 1, 1, 0, 1.0])
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z[4:], y[4:], weight=w[4:], reduction="sum",
                                                                     backend=backend)
    assert np.isfinite(loss) and grad[0] == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_of_zero_sample_weight_are_padding_whatever_their_logits(backend, dtype):
    """Multi-label rows with sample weight 0 (the kernels' per-row multiplier is 0) and binary elements
    with sample weight 0: loss 0 and gradient 0 even for NaN / inf logits; the other rows unchanged."""
    z, y = logits_of((6, 5), dtype), targets_of((6, 5), dtype)
    z[1, 2], z[4, :] = np.nan, np.inf
    sw = np.array([1.0, 0.0, 2.0, 1.0, 0.0, 0.5])
    loss, grad = fastxent.multilabel_cross_entropy_with_grad(z, y, sample_weight=sw, reduction="sum",
                                                             backend=backend)
    kept = sw > 0
    wanted, wanted_grad = fastxent.multilabel_cross_entropy_with_grad(z[kept], y[kept], sample_weight=sw[kept],
                                                                      reduction="sum", backend="numpy")
    assert (grad[~kept] == 0).all()
    np.testing.assert_allclose(grad[kept], wanted_grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss, wanted, rtol=1e-5)
    flat_loss, flat_grad = fastxent.binary_cross_entropy_with_logits_with_grad(
        z.reshape(-1), y.reshape(-1), sample_weight=np.repeat(sw, 5), reduction="none", backend=backend)
    assert (flat_loss.reshape(6, 5)[~kept] == 0).all() and (flat_grad.reshape(6, 5)[~kept] == 0).all()
    assert np.isfinite(flat_loss).all()


def test_in_place_and_out(backend):
    z, y = logits_of((300, 17), np.float32), targets_of((300, 17), np.float32)
    wanted_loss, wanted_grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, y, backend=backend)
    buffer = z.copy()
    loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(buffer, y, out=buffer, backend=backend)
    assert grad is buffer
    np.testing.assert_allclose(grad, wanted_grad, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(loss, wanted_loss, rtol=1e-6)
    f_out = np.empty((300, 17), np.float32, order="F")
    _, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, y, out=f_out, backend=backend)
    assert grad is f_out
    np.testing.assert_array_equal(f_out, wanted_grad)
    overlapping = y.copy()  # out overlaps the target: a temporary is used
    _, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, overlapping, out=overlapping, backend=backend)
    np.testing.assert_array_equal(grad, wanted_grad)


def test_results_do_not_depend_on_the_thread_count(compiled_backend):
    for shape in ((300_001,), (5_001, 37), (64, 3000)):
        z, y = logits_of(shape, np.float32), targets_of(shape, np.float32)
        s = np.random.default_rng(1).random(shape[:-1] if len(shape) > 1 else shape)
        results = [fastxent.binary_cross_entropy_with_logits_with_grad(z, y, sample_weight=s, backend=compiled_backend,
                                                                       n_threads=n) for n in (1, 2, 3, 8)]
        ml = [fastxent.multilabel_cross_entropy(z, y, backend=compiled_backend, n_threads=n) for n in (1, 2, 8)]
        for loss, grad in results[1:]:
            assert loss == results[0][0]
            np.testing.assert_array_equal(grad, results[0][1])
        assert ml[0] == ml[1] == ml[2]


def test_empty_input(backend):
    z = np.zeros((0, 4), np.float32)
    assert fastxent.binary_cross_entropy_with_logits(z, z, reduction="sum", backend=backend) == 0
    assert fastxent.binary_cross_entropy_with_logits(z, z, reduction="none", backend=backend).shape == (0, 4)
    with pytest.warns(RuntimeWarning, match="zero total weight"):
        loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(z, z, backend=backend)
    assert np.isnan(loss) and grad.shape == (0, 4)
    with pytest.warns(RuntimeWarning, match="zero total weight"):
        loss, grad = fastxent.multilabel_cross_entropy_with_grad(np.ones((3, 2)), np.ones((3, 2)),
                                                                 sample_weight=np.zeros(3), backend=backend)
    assert np.isnan(loss) and (grad == 0).all()


# --------------------------------------------------------------------------- probabilities


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1,), (200,), (37, 11), (3, 4, 9)], ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_bce_probs_matches_oracle(backend, dtype, shape, layout, tmp_path):
    p = expit(logits_of(shape, np.float64)).astype(dtype)
    p.reshape(-1)[::7] = 0.0  # exactly 0 and 1 are clipped
    p.reshape(-1)[3::7] = 1.0
    target = targets_of(shape, dtype)
    probs, tgt = in_layout(p, layout, tmp_path), in_layout(target, layout, tmp_path)
    eps = float(np.finfo(dtype).eps)
    pc = np.clip(p, dtype(eps), dtype(1 - eps)).astype(np.float64)
    y = target.astype(np.float64)
    with np.errstate(invalid="ignore"):
        loss_el = np.where(y != 0, -y * np.log(pc), 0.0) + np.where(y != 1, -(1 - y) * np.log1p(-pc), 0.0)
    grad_el = (1 - y) / (1 - pc) - y / pc
    n = max(p.size, 1)
    loss, grad = fastxent.binary_cross_entropy_with_grad(probs, tgt, reduction="sum", backend=backend)
    assert_close(loss, loss_el.sum(), dtype)
    np.testing.assert_allclose(grad, grad_el, rtol=RTOL[dtype] * 4)
    if p.size:
        mean = fastxent.binary_cross_entropy(probs, tgt, backend=backend)
        assert_close(mean, loss_el.sum() / n, dtype)
    none = fastxent.binary_cross_entropy(probs, tgt, reduction="none", backend=backend)
    assert_close(none, loss_el, dtype)


def test_bce_probs_matches_sklearn_log_loss(backend):
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 1000)
    p = rng.random(1000)
    p[:5] = [0.0, 1.0, 1e-20, 1 - 1e-17, 0.5]  # clipped like scikit-learn (eps = finfo(float64).eps)
    s = rng.random(1000)
    wanted = metrics.log_loss(y, p, sample_weight=s, labels=[0, 1])
    got = fastxent.binary_cross_entropy(p, y, sample_weight=s, backend=backend)
    np.testing.assert_allclose(got, wanted, rtol=1e-12)
    p32 = p.astype(np.float32)
    wanted32 = metrics.log_loss(y, p32, labels=[0, 1])
    np.testing.assert_allclose(fastxent.binary_cross_entropy(p32, y, backend=backend), wanted32, rtol=2e-6)


def test_bce_eps(backend):
    p, y = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    loss = fastxent.binary_cross_entropy(p, y, reduction="none", backend=backend)
    np.testing.assert_allclose(loss, -np.log(np.finfo(np.float64).eps), rtol=1e-13)
    loss = fastxent.binary_cross_entropy(p, y, eps=1e-3, reduction="none", backend=backend)
    np.testing.assert_allclose(loss, -np.log(1e-3), rtol=1e-13)
    loss32 = fastxent.binary_cross_entropy(p.astype(np.float32), y, reduction="none", backend=backend)
    np.testing.assert_allclose(loss32, -np.log(np.float64(np.finfo(np.float32).eps)), rtol=1e-6)
    assert np.isinf(fastxent.binary_cross_entropy(p, y, eps=0.0, reduction="sum", backend=backend))


def test_bce_of_sigmoid_equals_bce_with_logits_away_from_the_clip(backend):
    z, y = logits_of((500,), np.float64, scale=2.0), targets_of((500,), np.float64)
    w = np.random.default_rng(2).random(500)
    from_logits = fastxent.binary_cross_entropy_with_logits(z, y, weight=w, pos_weight=2.0, backend=backend)
    from_probs = fastxent.binary_cross_entropy(expit(z), y, weight=w, pos_weight=2.0, backend=backend)
    np.testing.assert_allclose(from_probs, from_logits, rtol=1e-12)


# --------------------------------------------------------------------------- multi-label


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (9,), (37, 11), (3, 4, 9), (0, 3)], ids=str)
def test_multilabel_is_the_per_sample_sum(backend, dtype, shape):
    z, y = logits_of(shape, dtype), targets_of(shape, dtype)
    s = np.random.default_rng(4).random(shape[:-1])
    loss_el, grad_el, _, _ = oracle(z, y, sample_weight=s, per_row=True)
    rows = loss_el.sum(axis=-1)
    none = fastxent.multilabel_cross_entropy(z, y, sample_weight=s, reduction="none", backend=backend)
    assert none.shape == shape[:-1]
    assert_close(none, rows, dtype)
    assert_close(fastxent.multilabel_cross_entropy(z, y, sample_weight=s, reduction="sum", backend=backend),
                 rows.sum(), dtype)
    if s.size:
        loss, grad = fastxent.multilabel_cross_entropy_with_grad(z, y, sample_weight=s, backend=backend)
        assert_close(loss, rows.sum() / s.sum(), dtype)
        assert_close(grad, grad_el / s.sum(), dtype, atol=RTOL[dtype] / s.sum())
        np.testing.assert_array_equal(
            fastxent.multilabel_cross_entropy_grad(z, y, sample_weight=s, backend=backend), grad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(300, 37), (5, 500), (3, 4, 9), (2000, 3)], ids=str)
@pytest.mark.parametrize("pos_weight", ["none", "uniform", "per label"])
def test_multilabel_without_sample_weight_is_the_per_sample_sum(backend, dtype, shape, pos_weight):
    # No sample weight and one pos_weight for every label: the compiled kernels run a chunk's rows as
    # one run of elements (the per-row sums of reduction="none" still come row by row).
    z, y = logits_of(shape, dtype), targets_of(shape, dtype)
    pw = {"none": None, "uniform": np.full(shape[-1], 1.5),
          "per label": np.linspace(0.5, 2.0, shape[-1])}[pos_weight]
    loss_el, grad_el, _, _ = oracle(z, y, pos_weight=pw, per_row=True)
    rows = loss_el.sum(axis=-1)
    none = fastxent.multilabel_cross_entropy(z, y, pos_weight=pw, reduction="none", backend=backend)
    assert_close(none, rows, dtype)
    total = fastxent.multilabel_cross_entropy(z, y, pos_weight=pw, reduction="sum", backend=backend)
    assert_close(total, rows.sum(), dtype)
    loss = fastxent.multilabel_cross_entropy(z, y, pos_weight=pw, backend=backend)
    fused, grad = fastxent.multilabel_cross_entropy_with_grad(z, y, pos_weight=pw, backend=backend)
    assert fused == loss  # the loss-only and fused kernels sum the same blocks
    n_samples = rows.size
    assert_close(loss, rows.sum() / n_samples, dtype)
    assert_close(grad, grad_el / n_samples, dtype, atol=RTOL[dtype] / n_samples)


def test_multilabel_mean_is_labels_times_the_elementwise_mean(backend):
    z, y = logits_of((64, 20), np.float64), targets_of((64, 20), np.float64)
    ml = fastxent.multilabel_cross_entropy(z, y, backend=backend)
    bce = fastxent.binary_cross_entropy_with_logits(z, y, backend=backend)
    np.testing.assert_allclose(ml, 20 * bce, rtol=1e-13)


# --------------------------------------------------------------------------- finite differences


def numeric_gradient(f, x, h):
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


FINITE_DIFFERENCE_PAIRS = {
    "with_logits": (fastxent.binary_cross_entropy_with_logits, fastxent.binary_cross_entropy_with_logits_grad),
    "probs": (fastxent.binary_cross_entropy, fastxent.binary_cross_entropy_grad),
    "multilabel": (fastxent.multilabel_cross_entropy, fastxent.multilabel_cross_entropy_grad),
}


@pytest.mark.parametrize("function", sorted(FINITE_DIFFERENCE_PAIRS))
def test_gradients_match_finite_differences(backend, function):
    rng = np.random.default_rng(11)
    z, y = rng.normal(0, 2, (6, 4)), targets_of((6, 4), np.float64)
    kwargs = dict(weight=rng.random(4) + 0.5, pos_weight=rng.random(4) * 3, sample_weight=rng.random(6), backend=backend)
    x = expit(z) * 0.9 + 0.05 if function == "probs" else z  # probabilities away from the clip
    loss, grad = FINITE_DIFFERENCE_PAIRS[function]
    numeric = numeric_gradient(lambda a: float(loss(a, y, **kwargs)), x, 1e-6)
    np.testing.assert_allclose(grad(x, y, **kwargs), numeric, rtol=1e-6, atol=1e-9)


def test_hessians_match_finite_differences_of_the_gradient(backend):
    rng = np.random.default_rng(12)
    z, y = rng.normal(0, 2, (5, 3)), targets_of((5, 3), np.float64)
    kwargs = dict(weight=rng.random(3) + 0.5, pos_weight=2.0, sample_weight=rng.random(5), backend=backend)
    grad, hess = fastxent.binary_cross_entropy_gradient_hessian(z, y, **kwargs)
    np.testing.assert_allclose(grad, fastxent.binary_cross_entropy_with_logits_grad(z, y, reduction="sum", **kwargs),
                               rtol=1e-14, atol=1e-16)
    h = 1e-6
    numeric = (fastxent.binary_cross_entropy_gradient_hessian(z + h, y, **kwargs)[0]
               - fastxent.binary_cross_entropy_gradient_hessian(z - h, y, **kwargs)[0]) / (2 * h)
    np.testing.assert_allclose(hess, numeric, rtol=1e-6, atol=1e-9)
    labels = rng.integers(0, 3, 5)
    g, d = fastxent.softmax_cross_entropy_gradient_hessian(z, labels, sample_weight=kwargs["sample_weight"],
                                                           backend=backend)
    for c in range(3):  # the hessian's diagonal: d g[:, c] / d z[:, c]
        step = np.zeros_like(z)
        step[:, c] = h
        column = (fastxent.softmax_cross_entropy_gradient_hessian(z + step, labels, sample_weight=kwargs["sample_weight"],
                                                                  backend=backend)[0][:, c]
                  - fastxent.softmax_cross_entropy_gradient_hessian(z - step, labels,
                                                                    sample_weight=kwargs["sample_weight"],
                                                                    backend=backend)[0][:, c]) / (2 * h)
        np.testing.assert_allclose(d[:, c], column, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------- hessians


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (37, 11), (4, 5, 300)], ids=str)
@pytest.mark.parametrize("target_kind", ["labels", "probs"])
def test_softmax_gradient_hessian_matches_oracle(backend, dtype, shape, target_kind):
    z = logits_of(shape, dtype)
    s = np.random.default_rng(3).random(shape[:-1])
    n_classes = shape[-1]
    if target_kind == "labels":
        target = labels_of(shape[:-1], n_classes)
        t = np.eye(n_classes)[target]
    else:
        target = probs_of(shape, dtype) * 0.8  # rows summing to 0.8: A = 0.8
        t = target.astype(np.float64)
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    total = t.sum(axis=-1, keepdims=True)
    grad, hess = fastxent.softmax_cross_entropy_gradient_hessian(z, target, sample_weight=s, backend=backend)
    assert grad.shape == hess.shape == shape and grad.dtype == hess.dtype == dtype
    atol = 4 * RTOL[dtype]
    np.testing.assert_allclose(grad, s[..., None] * (total * p - t), rtol=0, atol=atol)
    np.testing.assert_allclose(hess, s[..., None] * total * p * (1 - p), rtol=0, atol=atol)


def test_gradient_hessian_match_scikit_learn(backend):
    loss_module = pytest.importorskip("sklearn._loss.loss")
    rng = np.random.default_rng(9)
    raw, y, s = rng.normal(0, 3, (500, 6)), rng.integers(0, 6, 500), rng.random(500)
    g_ref, h_ref = loss_module.HalfMultinomialLoss(n_classes=6).gradient_hessian(
        y_true=y.astype(np.float64), raw_prediction=raw, sample_weight=s)
    grad, hess = fastxent.softmax_cross_entropy_gradient_hessian(raw, y, sample_weight=s, backend=backend)
    np.testing.assert_allclose(grad, g_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hess, h_ref, rtol=1e-12, atol=1e-15)
    z, yb = np.ascontiguousarray(raw[:, 0]), (y % 2).astype(np.float64)
    g_ref, h_ref = loss_module.HalfBinomialLoss().gradient_hessian(y_true=yb, raw_prediction=z, sample_weight=s)
    grad, hess = fastxent.binary_cross_entropy_gradient_hessian(z, yb, sample_weight=s, backend=backend)
    np.testing.assert_allclose(grad, g_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hess, h_ref, rtol=1e-12, atol=1e-15)


def test_gradient_hessian_outputs(backend):
    z, y = logits_of((40, 6), np.float32), targets_of((40, 6), np.float32)
    wanted = fastxent.binary_cross_entropy_gradient_hessian(z, y, backend=backend)
    g_out, h_out = np.empty_like(z), np.empty((40, 6), np.float32, order="F")
    grad, hess = fastxent.binary_cross_entropy_gradient_hessian(z, y, grad_out=g_out, hess_out=h_out, backend=backend)
    assert grad is g_out and hess is h_out
    np.testing.assert_array_equal(grad, wanted[0])
    np.testing.assert_array_equal(hess, wanted[1])
    inplace = z.copy()  # grad_out may be the logits; hess_out may not (a temporary is used)
    grad, hess = fastxent.binary_cross_entropy_gradient_hessian(inplace, y, grad_out=inplace, hess_out=inplace,
                                                                backend=backend)
    np.testing.assert_allclose(hess, wanted[1], rtol=1e-6)
    labels = labels_of((40,), 6)
    wanted = fastxent.softmax_cross_entropy_gradient_hessian(z, labels, backend=backend)
    buffer = z.copy()
    grad, hess = fastxent.softmax_cross_entropy_gradient_hessian(buffer, labels, grad_out=buffer, backend=backend)
    assert grad is buffer
    np.testing.assert_array_equal(grad, wanted[0])
    np.testing.assert_array_equal(hess, wanted[1])


# --------------------------------------------------------------------------- the article's numbers


def test_article_cat_example():
    # an image of a cat (p0 = 1) predicted a cat with probability 0.8: -ln 0.8 nats
    assert round(float(fastxent.binary_cross_entropy(np.array([0.8]), np.array([1.0]))), 4) == 0.2231
    assert round(float(fastxent.binary_cross_entropy(np.array([0.8]), np.array([0.0]))), 4) == 1.6094
    # the same prediction as a logit: ln(0.8 / 0.2)
    np.testing.assert_allclose(fastxent.binary_cross_entropy_with_logits(np.log([4.0]), np.array([1.0])),
                               -np.log(0.8), rtol=1e-14)


def test_article_multilabel_example():
    # an image with a cat and a dog but no bird, predicted [cat 0.9, bird 0.2, dog 0.6]
    probs = np.array([[0.9, 0.2, 0.6]])
    loss = fastxent.multilabel_cross_entropy(np.log(probs / (1 - probs)), np.array([[1.0, 0.0, 1.0]]))
    np.testing.assert_allclose(loss, -(np.log(0.9) + np.log(0.8) + np.log(0.6)), rtol=1e-14)


# --------------------------------------------------------------------------- bad input

Z, Y = logits_of((6, 4), np.float32), targets_of((6, 4), np.float32)


@pytest.mark.parametrize("overrides, error, match", [
    (dict(target=np.zeros((6, 3))), ValueError, r"target must have the shape of the predictions \(6, 4\)"),
    (dict(target=np.full((6, 4), 1.5)), ValueError, r"target must be in \[0, 1\]; element \(0, 0\) is 1.5"),
    (dict(target=np.full((6, 4), -0.5)), ValueError, r"target must be in \[0, 1\]"),
    (dict(target=np.full((6, 4), np.nan)), ValueError, "target must not hold NaN"),
    (dict(target=np.full((6, 4), "a")), TypeError, "target must be a real numeric array"),
    (dict(weight=np.ones(3)), ValueError, r"weight of shape \(3,\) does not broadcast"),
    (dict(weight=-np.ones(4)), ValueError, "weight must be finite and non-negative"),
    (dict(weight=np.full(4, np.nan)), ValueError, "weight must be finite"),
    (dict(pos_weight=np.ones(3)), ValueError, r"pos_weight must be a scalar or shape \(4,\)"),
    (dict(pos_weight=-1.0), ValueError, "pos_weight must be finite and non-negative"),
    (dict(pos_weight="a"), TypeError, "pos_weight must be a real number"),
    (dict(sample_weight=np.ones(4)), ValueError, r"sample_weight must have shape \(6,\)"),
    (dict(sample_weight=-np.ones(6)), ValueError, "sample_weight must be finite and non-negative"),
    (dict(reduction="avg"), ValueError, "reduction must be one of"),
    (dict(logits=Z.astype(complex)), TypeError, "logits must be a real numeric array"),
    (dict(out=np.zeros((6, 5), np.float32)), ValueError, r"out must have shape \(6, 4\)"),
    (dict(out=np.zeros((6, 4))), ValueError, "out must have dtype float32"),
    (dict(n_threads=0), ValueError, "n_threads=0"),
    (dict(backend="jax"), ValueError, "backend='jax' is not a backend"),
])
def test_bad_input_is_rejected_with_a_clear_message(backend, overrides, error, match):
    kwargs = dict(logits=Z, target=Y, backend=backend)
    kwargs.update(overrides)
    with pytest.raises(error, match=match):
        fastxent.binary_cross_entropy_with_logits_with_grad(kwargs.pop("logits"), kwargs.pop("target"), **kwargs)


@pytest.mark.parametrize("call, error, match", [
    (lambda: fastxent.binary_cross_entropy(np.array([0.5, 1.2]), np.array([1, 0])), ValueError,
     r"probs must be in \[0, 1\]; element 1 is 1.2"),
    (lambda: fastxent.binary_cross_entropy(np.array([-0.1]), np.array([1])), ValueError, r"probs must be in \[0, 1\]"),
    (lambda: fastxent.binary_cross_entropy(np.array([0.5]), np.array([1]), eps=0.5), ValueError, r"eps must be in"),
    (lambda: fastxent.binary_cross_entropy(np.array([0.5]), np.array([1]), eps="a"), TypeError, "eps must be a real"),
    (lambda: fastxent.binary_cross_entropy_with_logits(np.zeros(3), np.ones(3), pos_weight=np.ones(3)), ValueError,
     r"pos_weight must be a scalar \(a 1-D input holds one label per row\)"),
    (lambda: fastxent.multilabel_cross_entropy(np.float64(1.0), np.float64(1.0)), ValueError,
     "logits must have at least 1 dimension"),
    (lambda: fastxent.sigmoid(np.array(["a"])), TypeError, "x must be a real numeric array"),
    (lambda: fastxent.sigmoid(np.zeros(3), out=np.zeros(4)), ValueError, r"out must have shape \(3,\)"),
    (lambda: fastxent.softmax_cross_entropy_gradient_hessian(np.zeros((2, 3)), np.array([0, 3])), ValueError,
     r"label 3 at row 1 is outside \[0, 3\)$"),
    (lambda: fastxent.softmax_cross_entropy_gradient_hessian(np.zeros((2, 3)), np.array([0, -100])), ValueError,
     r"label -100 at row 1 is outside"),
    (lambda: fastxent.binary_cross_entropy_gradient_hessian(np.zeros((2, 3)), np.ones((2, 3)),
                                                            hess_out=np.zeros((2, 3), np.float32)), ValueError,
     "hess_out must have dtype float64"),
])
def test_bad_input_of_the_other_functions(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_probabilities_with_nan_propagate_to_their_element_only(backend):
    p = np.array([0.5, np.nan, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = fastxent.binary_cross_entropy(p, np.array([1.0, 1.0, 0.0]), reduction="none", backend=backend)
    assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()


def test_kernels_count_out_of_range_inputs_without_touching_memory_outside(backend):
    """Called directly with bad targets/probabilities (the public API raises instead), every binary
    kernel counts them: the range check rides in the loss pass."""
    from fastxent._backends import load_backend

    module = load_backend(backend)
    z = logits_of((9, 3), np.float64)
    t = targets_of((9, 3), np.float64)
    t[0, 0], t[4, 2], t[8, 1] = 1.5, -0.25, np.nan
    pw, chunk_rows = np.ones(3), fastxent.binary.chunk_rows_for(3)
    loss_out, grad_out, hess_out = np.empty(9 * 3), np.zeros((9, 3)), np.zeros((9, 3))
    assert module.binary_ce_logits_loss(z, t, None, pw, None, chunk_rows, 2, loss_out, 2) == 3
    assert module.binary_ce_logits_loss_grad(z, t, None, pw, None, chunk_rows, 1, 1.0, loss_out[:9], grad_out, 2) == 3
    assert module.binary_ce_logits_grad_hess(z, t, None, pw, None, chunk_rows, grad_out, hess_out, 2) == 3
    p = expit(z)
    p[1, 1], p[2, 2] = 1.01, -1e-9  # two bad probabilities; NaN probabilities are allowed
    p[3, 0] = np.nan
    assert module.binary_ce_probs_loss(p, t, None, pw, None, 1e-7, chunk_rows, 1, loss_out[:9], 2) == 5
    assert module.binary_ce_probs_loss_grad(p, t, None, pw, None, 1e-7, chunk_rows, 0, 1.0, loss_out[:1], grad_out,
                                            2) == 5
    one_label = z[:, :1].copy(), t[:, :1].copy()  # the one-label path (element == row)
    assert module.binary_ce_logits_loss(*one_label, None, pw[:1], None, 4, 0, loss_out[:3], 2) == 1


def test_bad_probabilities_written_in_place_are_reported(backend):
    p = np.array([0.5, 1.5, 0.25, 0.75])
    with pytest.raises(ValueError, match=r"probs must be in \[0, 1\]; 1 elements are not \(the output, which was"):
        fastxent.binary_cross_entropy_with_grad(p, np.ones(4), out=p, backend=backend)
    with pytest.raises(ValueError, match=r"target must be in \[0, 1\]; element 2 is 2.0"):
        fastxent.binary_cross_entropy_with_logits_with_grad(np.zeros(4), np.array([0, 1, 2, 1]), backend=backend)
