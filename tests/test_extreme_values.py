"""Accuracy at the overflow and underflow edges against mpmath (issue 8, part 4).

The cases, the exact values (mp.dps = 50), the error measures and the documented bounds live in
``tools/ulp_table.py``, which also prints the table of docs/reliability.md; this module asserts the
bounds for every function, dtype and backend.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from fastxent._backends import backends

_spec = importlib.util.spec_from_file_location("ulp_table", Path(__file__).parents[1] / "tools" / "ulp_table.py")
ulp_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ulp_table)

BACKENDS = backends()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ulp_table.DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(ulp_table.BOUNDS))
def test_error_at_the_edges_within_the_documented_bound(name, dtype, backend):
    measured = ulp_table.measure(name, dtype, backend)
    assert measured.n_values > 100
    assert measured.mixed <= ulp_table.BOUNDS[name][dtype], measured
    if name in ulp_table.ULP_BOUNDS:
        assert measured.ulps <= ulp_table.ULP_BOUNDS[name][dtype], measured


@pytest.mark.parametrize("dtype", ulp_table.DTYPES, ids=lambda d: np.dtype(d).name)
def test_the_cases_reach_every_edge(dtype):
    """The inputs hold the edges the table claims: both signs of the exp/log1p limits, the dtype's
    max, tiny and subnormals, and rows whose logits differ by more than exp's range."""
    x = ulp_table.edges(dtype)
    info = np.finfo(dtype)
    for edge in (17.0, 37.0, 88.7, 89.0, 104.0, 709.8, 745.2, float(info.max), float(info.tiny),
                 float(info.smallest_subnormal)):
        wanted = np.float64(np.asarray(edge).astype(dtype))
        assert wanted in x and -wanted in x
    with np.errstate(over="ignore"):  # the gap of [max, -max] in float64 is inf
        gaps = [float(np.ptp(row.astype(np.float64))) for row in ulp_table.rows(dtype)]
    assert max(gaps) > 1e300 if dtype == np.float64 else max(gaps) > 1e38


def test_the_error_measure_counts_ulps():
    """One ulp off in each dtype is 1; a correctly rounded overflow to inf is 0; a NaN is inf."""
    import mpmath

    for dtype in ulp_table.DTYPES:
        one_up = np.nextafter(dtype(1.5), dtype(2))
        ulps, mixed = ulp_table.errors([one_up, np.inf, np.nan], [mpmath.mpf(1.5), mpmath.mpf(10) ** 400,
                                                                  mpmath.mpf(1)], dtype)
        np.testing.assert_allclose(ulps, [1.0, 0.0, np.inf])
        np.testing.assert_allclose(mixed[0], 0.5)  # ulp(1.5) == eps
