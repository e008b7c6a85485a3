import pytest

from fastxent._backends import AUTO_ORDER

COMPILED = ("cython", "numba")


@pytest.fixture(params=AUTO_ORDER)
def backend(request):
    """Every backend, the NumPy reference included."""
    return request.param


@pytest.fixture(params=COMPILED)
def compiled_backend(request):
    return request.param

