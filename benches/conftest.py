"""Shared workloads of the benchmarks (fixed seeds; logits ~ N(0, 3), never zeros)."""

import numpy as np
import pytest

WORKLOADS = {
    # name: (rows, classes, dtype)
    "W1": (100_000, 1_000, np.float32),
    "W2": (100_000, 1_000, np.float64),
    "W3": (2_000_000, 10, np.float32),
    "W6": (4_096, 131_072, np.float32),
    "small": (256, 1_000, np.float32),
}


def make_workload(name):
    rows, classes, dtype = WORKLOADS[name]
    rng = np.random.default_rng(1234)
    logits = rng.normal(0.0, 3.0, size=(rows, classes)).astype(dtype)
    labels = rng.integers(0, classes, size=rows)
    return logits, labels


@pytest.fixture(scope="module", params=list(WORKLOADS))
def workload(request):
    logits, labels = make_workload(request.param)
    return request.param, logits, labels


_buffer = {}


def reused_buffer(array):
    """One output buffer like ``array``, reused while the workload stays the same (only one is kept
    alive, so the benchmarks' memory stays bounded)."""
    key = (array.shape, array.dtype)
    if key not in _buffer:
        _buffer.clear()
        _buffer[key] = np.empty_like(array)
    return _buffer[key]
