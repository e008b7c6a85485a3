import os

import pytest
from hypothesis import HealthCheck, settings

from fastxent._backends import AUTO_ORDER

# Hypothesis profiles: "ci" (default) is short and derandomised; "nightly" draws at least 10,000
# examples per test (tests/test_fuzz.py has one test per function family). Select one with
# FASTXENT_HYPOTHESIS_PROFILE=nightly.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.register_profile("nightly", max_examples=10_000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("FASTXENT_HYPOTHESIS_PROFILE", "ci"))

COMPILED = ("cython", "numba")


@pytest.fixture(params=AUTO_ORDER)
def backend(request):
    """Every backend, the NumPy reference included."""
    return request.param


@pytest.fixture(params=COMPILED)
def compiled_backend(request):
    return request.param

