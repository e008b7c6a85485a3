"""The small-class-count block path of the labels kernels (C <= 64): special rows anywhere in a
block, across block boundaries, in place, weights and smoothing, against the NumPy reference."""

import numpy as np
import pytest

from fastxent._backends import load_backend
from fastxent._kernels import numpy_ref


def _case(n, c, dtype, rng):
    z = (rng.standard_normal((n, c)) * 4).astype(dtype)
    y = rng.integers(0, c, n)
    y[rng.random(n) < 0.1] = -100                     # ignored rows
    bad = rng.random(n) < 0.03
    y[bad] = np.where(rng.random(bad.sum()) < 0.5, c, -7)  # out-of-range labels
    z[5 % n, 0] = np.nan                              # NaN poisons only its row
    z[7 % n, :] = -np.inf                             # all--inf row
    if c > 2:
        z[9 % n, 1] = -np.inf                         # masked class
    z[11 % n] = np.finfo(dtype).max / 2               # huge logits
    z[13 % n, :] = np.nan
    y[13 % n] = -100                                  # ignored NaN row: loss 0, zero grad
    return z, y


@pytest.mark.parametrize("backend_name", ["cython", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1, 2, 3, 7, 10, 16, 17, 64])
@pytest.mark.parametrize(
    "variant", ["plain", "weights_smoothing", "smoothing", "zero_weights", "inplace", "loss_only"])
def test_small_c_block_path_matches_reference(backend_name, dtype, c, variant):
    kernels = load_backend(backend_name)
    rng = np.random.default_rng(c)
    n = 3001  # several blocks of every size plus a partial one
    z, y = _case(n, c, dtype, rng)
    cw = np.ones(c)
    sw = rng.random(n) + 0.5
    eps = 0.0
    if variant == "weights_smoothing":
        cw = rng.random(c) + 0.25
        cw[0] = 0.0
        eps = 0.2
    elif variant == "smoothing":  # uniform class weights: the kernels' separate branch
        cw = np.full(c, 0.75)
        eps = 0.15
    elif variant == "zero_weights":  # no row has target weight: zero losses and gradients
        cw = np.zeros(c)
        eps = 0.1
    ref_loss, ref_grad = np.empty(n), np.empty_like(z)
    ref_bad = numpy_ref.softmax_ce_labels_loss_grad(z, y, cw, sw, -100, eps, 0.5, ref_loss,
                                                    ref_grad, 1)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    results = []
    for n_threads in (1, 2, 3):
        loss = np.empty(n)
        if variant == "loss_only":
            bad = kernels.softmax_ce_labels_loss(z, y, cw, sw, -100, eps, loss, n_threads)
            grad = None
        elif variant == "inplace":
            grad = z.copy()
            bad = kernels.softmax_ce_labels_loss_grad(grad, y, cw, sw, -100, eps, 0.5, loss, grad,
                                                      n_threads)
        else:
            grad = np.full_like(z, 7.0)
            bad = kernels.softmax_ce_labels_loss_grad(z, y, cw, sw, -100, eps, 0.5, loss, grad,
                                                      n_threads)
        assert bad == ref_bad
        np.testing.assert_allclose(loss, ref_loss, rtol=rtol, atol=rtol)
        if grad is not None:
            # the terms of a gradient entry are ~ grad_scale (0.5) even where they cancel to 0
            # (C = 1, where every entry is 0 and the largest |ref_grad| is no scale)
            scale = max(np.abs(ref_grad[np.isfinite(ref_grad)]).max(), 0.5)
            np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale)
        results.append((loss, grad))
    for loss, grad in results[1:]:  # never depends on the thread count
        np.testing.assert_array_equal(loss, results[0][0])
        if grad is not None:
            np.testing.assert_array_equal(grad, results[0][1])


@pytest.mark.parametrize("backend_name", ["cython", "numba"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [3, 6, 10, 17, 40])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_a_rows_results_do_not_depend_on_where_it_sits_in_a_block(backend_name, dtype, c, eps):
    # Every slicing puts rows at other places in the kernels' row blocks (and vector lanes): the
    # same bits whatever the slice (the cython log pass used to round rows past the last full
    # vector of a block differently, in the last bit).
    kernels = load_backend(backend_name)
    rng = np.random.default_rng(100 + c)
    n = 300
    z, y = _case(n, c, dtype, rng)
    sw, cw = rng.random(n) + 0.5, np.ones(c)
    loss, grad = np.empty(n), np.empty_like(z)
    kernels.softmax_ce_labels_loss_grad(z, y, cw, sw, -100, eps, 0.5, loss, grad, 2)
    for step in (1, 7, 18, 33):
        for start in range(0, n, step):
            rows = slice(start, start + step)
            part_loss, part_grad = np.empty(len(y[rows])), np.empty_like(z[rows])
            kernels.softmax_ce_labels_loss_grad(np.ascontiguousarray(z[rows]), y[rows].copy(), cw,
                                                sw[rows].copy(), -100, eps, 0.5, part_loss, part_grad, 1)
            np.testing.assert_array_equal(part_loss, loss[rows])
            np.testing.assert_array_equal(part_grad, grad[rows])


@pytest.mark.parametrize("backend_name", ["cython", "numba"])
def test_vectorised_log_special_values(backend_name):
    """Row sums of 0 (all--inf rows) and NaN through the block log; huge rows stay finite."""
    kernels = load_backend(backend_name)
    z = np.array([[-np.inf, -np.inf], [np.nan, 0.0], [1e300, -1e300], [0.0, 0.0]])
    y = np.array([0, 0, 1, 1])
    loss = np.empty(4)
    kernels.softmax_ce_labels_loss(z, y, np.ones(2), np.ones(4), -100, 0.0, loss, 1)
    assert np.isnan(loss[0]) and np.isnan(loss[1])
    assert loss[2] == 2e300 and loss[3] == np.log(2.0)


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def test_a_native_avx512_build_takes_float32_small_classes_in_tiles():
    """The tests above exercise the AVX-512 tile kernel only if the build has it: a native build
    on a CPU with AVX-512 F and DQ must (else the tile path would silently go untested)."""
    from fastxent._cython import BUILD_INFO

    flags = _cpu_flags()
    if flags is None or not BUILD_INFO["native"]:
        pytest.skip("needs /proc/cpuinfo and a -march=native build")
    assert BUILD_INFO["avx512_small_class_tiles"] == ({"avx512f", "avx512dq"} <= flags)
