"""pytest-benchmark: softmax cross-entropy kernels against textbook NumPy, SciPy and the memory floor.

Run: ``pytest benches --benchmark-group-by=param:workload`` (add ``-k W1`` for one workload). Every
competitor's result is checked against the NumPy reference before it is timed, and the Numba JIT is
warmed up first, so compile time never enters a measurement.
"""

import numpy as np
import pytest
import scipy.special

import fastxent
from conftest import reused_buffer
from fastxent._naive import naive_softmax_cross_entropy_with_grad

THREADS = [1, 2]


def scipy_loss_and_grad(logits, labels):
    logp = scipy.special.log_softmax(logits, axis=1)
    rows = np.arange(logits.shape[0])
    grad = np.exp(logp)
    grad[rows, labels] -= 1
    grad /= logits.shape[0]
    return float(-np.mean(logp[rows, labels])), grad


def fastxent_fused(backend, n_threads, out=None):
    def run(logits, labels):
        return fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend, n_threads=n_threads,
                                                        out=out(logits) if out else None)
    return run


def reference_loss(logits, labels, chunk=256):
    """Mean loss in float64, computed in row chunks so that memory stays small."""
    total = 0.0
    for start in range(0, logits.shape[0], chunk):
        z, y = logits[start:start + chunk].astype(np.float64), labels[start:start + chunk]
        total += naive_softmax_cross_entropy_with_grad(z, y)[0] * z.shape[0]
    return total / logits.shape[0]


def check(result, logits, labels, rows=512):
    """The loss against float64 maths, and the first ``rows`` gradient rows (memory stays small)."""
    loss, grad = result
    n = logits.shape[0]
    wanted_loss = reference_loss(logits, labels)
    assert abs(float(loss) - wanted_loss) <= 1e-5 * abs(wanted_loss)
    _, wanted_grad = naive_softmax_cross_entropy_with_grad(logits[:rows].astype(np.float64), labels[:rows])
    assert np.max(np.abs(grad[:rows] * n - wanted_grad * min(n, rows))) <= 1e-4


def _competitors():
    for backend in ("cython", "numba"):
        for n_threads in THREADS:
            yield f"fastxent-{backend}-t{n_threads}", fastxent_fused(backend, n_threads)
            yield f"fastxent-{backend}-t{n_threads}-out", fastxent_fused(backend, n_threads, out=reused_buffer)
    yield "numpy-naive", naive_softmax_cross_entropy_with_grad
    yield "scipy", scipy_loss_and_grad


COMPETITORS = dict(_competitors())


@pytest.mark.parametrize("competitor", list(COMPETITORS))
def test_loss_and_grad(benchmark, workload, competitor):
    name, logits, labels = workload
    benchmark.group = f"{name} loss+grad"
    fn = COMPETITORS[competitor]
    check(fn(logits, labels), logits, labels)  # also warms the JIT
    benchmark(fn, logits, labels)


@pytest.mark.parametrize("competitor", [f"fastxent-{b}-t{t}" for b in ("cython", "numba") for t in THREADS]
                         + ["numpy-naive"])
def test_loss_only(benchmark, workload, competitor):
    name, logits, labels = workload
    benchmark.group = f"{name} loss"
    if competitor == "numpy-naive":
        def fn():
            shifted = logits - logits.max(axis=1, keepdims=True)
            return np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels])
    else:
        _, backend, threads = competitor.split("-")
        def fn():
            return fastxent.softmax_cross_entropy(logits, labels, backend=backend, n_threads=int(threads[1:]))
    wanted = reference_loss(logits, labels)
    assert abs(float(fn()) - wanted) <= 1e-5 * abs(wanted)
    benchmark(fn)


@pytest.mark.parametrize("competitor", ["fastxent-cython-t2", "fastxent-numba-t2", "scipy"])
def test_log_softmax(benchmark, workload, competitor):
    name, logits, _ = workload
    benchmark.group = f"{name} log_softmax"
    out = np.empty_like(logits)
    if competitor == "scipy":
        def fn():
            return scipy.special.log_softmax(logits, axis=1)
    else:
        backend = competitor.split("-")[1]
        def fn():
            return fastxent.log_softmax(logits, backend=backend, n_threads=2, out=out)
    np.testing.assert_allclose(fn()[:512], scipy.special.log_softmax(logits[:512].astype(np.float64), axis=1),
                               rtol=1e-5, atol=1e-5)
    benchmark(fn)


def test_memory_floor_copy(benchmark, workload):
    """The roofline: copying the logits into a preallocated array (read + write, as loss+grad does)."""
    name, logits, _ = workload
    benchmark.group = f"{name} loss+grad"
    dst = np.empty_like(logits)
    benchmark(np.copyto, dst, logits)


def test_memory_floor_parallel_copy(benchmark, workload):
    """The same copy with 2 threads (numba prange): the stricter floor on this 2-core machine."""
    numba = pytest.importorskip("numba")

    @numba.njit(parallel=True)
    def parallel_copy(dst, src):
        for i in numba.prange(src.shape[0]):
            dst[i] = src[i]

    name, logits, _ = workload
    benchmark.group = f"{name} loss+grad"
    dst = np.empty_like(logits)
    parallel_copy(dst, logits)
    np.testing.assert_array_equal(dst, logits)
    benchmark(parallel_copy, dst, logits)
