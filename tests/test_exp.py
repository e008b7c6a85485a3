"""Accuracy of the compiled backends' vectorised exp (documented in docs/architecture.md)."""

import numpy as np
import pytest

from fastxent._backends import load_backend


def ulp_error(actual, exact64, dtype):
    """|actual - exact| in units of the last place of ``dtype`` at the exact value."""
    exact = exact64.astype(dtype)
    spacing = np.spacing(np.abs(exact)).astype(np.float64)
    return np.abs(actual.astype(np.float64) - exact64) / spacing


@pytest.mark.parametrize("dtype, low, high, max_ulp", [(np.float32, -87.3, 88.7, 2.0),
                                                       (np.float64, -708.0, 709.7, 2.0)])
def test_exp_within_two_ulp(compiled_backend, dtype, low, high, max_ulp):
    kernels = load_backend(compiled_backend)
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(low, high, 1_000_003), rng.uniform(-1, 1, 1_000_000),
                        rng.uniform(-20, 0, 1_000_000)]).astype(dtype).reshape(1, -1)
    out = np.empty_like(x)
    kernels.exp_rows(x, out, 2)
    if dtype == np.float32:
        exact = np.exp(x.astype(np.float64))
    else:  # float64 exp to beyond float64 precision: exp(x) = exp(hi) * exp(lo), hi exactly representable
        import mpmath
        probe = x[0, ::997]
        exact = np.array([float(mpmath.exp(mpmath.mpf(float(v)))) for v in probe])
        out, x = out[:, ::997], x[:, ::997]
    assert ulp_error(out, exact, dtype).max() <= max_ulp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_special_values(compiled_backend, dtype):
    kernels = load_backend(compiled_backend)
    x = np.array([[0.0, -0.0, -np.inf, np.inf, np.nan, -1e4, 1e4, np.finfo(dtype).max, -np.finfo(dtype).max]],
                 dtype=dtype)
    out = np.empty_like(x)
    kernels.exp_rows(x, out, 1)
    np.testing.assert_array_equal(out[0, :4], [1, 1, 0, np.inf])
    assert np.isnan(out[0, 4])
    np.testing.assert_array_equal(out[0, 5:], [0, np.inf, np.inf, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_kernels_exp_pass_within_one_ulp(dtype):
    """The exp pass of the row kernels (``exp(z - max z)`` and its float64 sum): with AVX-512 the
    float32 one is table-driven (at most 0.69 ulp measured over every float in [-87.3, 0])."""
    from fastxent import _cython

    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-87.3, 0.0, 1_000_003), rng.uniform(-1, 0, 1_000_000),
                        rng.uniform(-20, 0, 999_997)]).astype(dtype)
    rng.shuffle(x)
    x = np.concatenate([np.zeros((3_000, 1), dtype), x.reshape(3_000, -1)], axis=1)  # max 0: exact shift
    out = np.full_like(x, np.nan)
    sums = np.empty(x.shape[0])
    _cython._shifted_exp_rows(x, out, sums)
    exact = np.exp(x.astype(np.float64))  # float64: itself rounded, hence 2 ulp there
    assert ulp_error(out, exact, dtype).max() <= (1.0 if dtype == np.float32 else 2.0)
    np.testing.assert_allclose(sums, out.astype(np.float64).sum(axis=1), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 15, 16, 17, 33, 1_024, 1_041])
def test_row_kernels_exp_pass_special_values_and_tails(dtype, k):
    """NaN stays NaN, -inf and results below the smallest normal are 0, a row's max gives 1, and
    rows of any length (vector tails, blocks) are filled exactly and summed."""
    from fastxent import _cython

    tiny = np.finfo(dtype).tiny
    cases = np.array([0.0, -0.0, -np.inf, np.nan, -1e4, -200.0, -1.0, -0.5], dtype)
    x = np.resize(cases, (2, k))
    x[:, 0] = 0.0
    x[1] += dtype(3.0)  # a shift of 3: the row's max (NaN aside) is 3
    out = np.full_like(x, 7.0)
    sums = np.empty(2)
    _cython._shifted_exp_rows(x, out, sums)
    shifted = x - x.max(axis=1, where=~np.isnan(x), initial=-np.inf, keepdims=True)
    wanted = np.exp(shifted.astype(np.float64))
    below_normal = wanted < tiny
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    assert np.all(out[below_normal & ~np.isnan(x)] <= tiny)
    ok = ~np.isnan(x) & ~below_normal
    assert ulp_error(out[ok], wanted[ok], dtype).max() <= (1.0 if dtype == np.float32 else 2.0)
    np.testing.assert_array_equal(out[~ok & ~np.isnan(x) & (wanted == 0)], 0.0)
    has_nan = np.isnan(x).any(axis=1)
    assert np.all(np.isnan(sums[has_nan]))
    np.testing.assert_allclose(sums[~has_nan], out[~has_nan].astype(np.float64).sum(axis=1), rtol=1e-14)
