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
