"""pytest-benchmark: binary and multi-label cross-entropy against textbook NumPy, SciPy, scikit-learn
and the memory floor.

Run: ``pytest benches/test_binary_bench.py --benchmark-group-by=group``. W4: binary, N = 50,000,000
float32; W5: multi-label, N = 200,000 x L = 500 float32; both with 0/1 targets and mean reduction.
Every competitor's result is checked against float64 maths before it is timed (which also warms the
Numba JIT). The floor is a 2-thread Numba ``prange`` loop that reads the logits and the targets once
and writes one array of their size (``out = z + y``): the traffic of the fused loss + gradient.
"""

import numpy as np
import pytest
import scipy.special

import fastxent
from conftest import reused_buffer
from fastxent._naive import naive_binary_cross_entropy_with_grad

THREADS = [1, 2]
BINARY_WORKLOADS = {
    # name: (shape, multilabel)
    "W4": ((50_000_000,), False),
    "W5": ((200_000, 500), True),
}


@pytest.fixture(scope="module", params=list(BINARY_WORKLOADS))
def binary_workload(request):
    shape, multilabel = BINARY_WORKLOADS[request.param]
    rng = np.random.default_rng(1234)
    logits = rng.normal(0.0, 3.0, size=shape).astype(np.float32)
    target = (rng.random(shape) < 0.3).astype(np.float32)
    return request.param, logits, target, multilabel


def reference(logits, target, multilabel, chunk=1 << 20):
    """Mean loss in float64, in chunks (memory stays small)."""
    z, y = logits.reshape(-1), target.reshape(-1)
    total = 0.0
    for start in range(0, z.size, chunk):
        zc, yc = z[start:start + chunk].astype(np.float64), y[start:start + chunk].astype(np.float64)
        total += float(np.sum(-yc * scipy.special.log_expit(zc) - (1 - yc) * scipy.special.log_expit(-zc)))
    return total / (logits.shape[0] if multilabel else logits.size)


def check(result, logits, target, multilabel, elements=4096):
    loss, grad = result
    scale = logits.shape[0] if multilabel else logits.size
    wanted = reference(logits, target, multilabel)
    assert abs(float(loss) - wanted) <= 1e-5 * abs(wanted)
    z, y = logits.reshape(-1)[:elements].astype(np.float64), target.reshape(-1)[:elements]
    np.testing.assert_allclose(np.asarray(grad).reshape(-1)[:elements] * scale, scipy.special.expit(z) - y,
                               atol=1e-5)


def scipy_stable(logits, target, multilabel):
    """SciPy's stable pieces: log_expit for the loss, expit for the gradient."""
    scale = logits.shape[0] if multilabel else logits.size
    loss = -np.sum(target * scipy.special.log_expit(logits) + (1 - target) * scipy.special.log_expit(-logits),
                   dtype=np.float64) / scale
    return loss, (scipy.special.expit(logits) - target) / scale


def sklearn_half_binomial(n_threads):
    def run(logits, target, multilabel):
        loss = pytest.importorskip("sklearn._loss.loss").HalfBinomialLoss()
        scale = logits.shape[0] if multilabel else logits.size
        z, y = logits.reshape(-1), target.reshape(-1)
        # scikit-learn's log loss is the "half" binomial deviance with the same value as BCE
        values, grad = loss.loss_gradient(y_true=y, raw_prediction=z, n_threads=n_threads)
        return np.sum(values, dtype=np.float64) / scale, grad / scale
    return run


def fastxent_fused(backend, n_threads, with_out):
    def run(logits, target, multilabel):
        function = (fastxent.multilabel_cross_entropy_with_grad if multilabel
                    else fastxent.binary_cross_entropy_with_logits_with_grad)
        return function(logits, target, backend=backend, n_threads=n_threads,
                        out=reused_buffer(logits) if with_out else None)
    return run


def _competitors():
    for backend in ("cython", "numba"):
        for n_threads in THREADS:
            yield f"fastxent-{backend}-t{n_threads}-out", fastxent_fused(backend, n_threads, True)
        yield f"fastxent-{backend}-t2", fastxent_fused(backend, 2, False)
    yield "numpy-naive", naive_binary_cross_entropy_with_grad
    yield "scipy", scipy_stable
    yield "sklearn-t2", sklearn_half_binomial(2)


COMPETITORS = dict(_competitors())


@pytest.mark.parametrize("competitor", list(COMPETITORS))
def test_binary_loss_and_grad(benchmark, binary_workload, competitor):
    name, logits, target, multilabel = binary_workload
    benchmark.group = f"{name} loss+grad"
    fn = COMPETITORS[competitor]
    check(fn(logits, target, multilabel), logits, target, multilabel)
    benchmark(fn, logits, target, multilabel)


@pytest.mark.parametrize("competitor", [f"fastxent-{b}-t2" for b in ("cython", "numba")])
def test_binary_loss_only(benchmark, binary_workload, competitor):
    name, logits, target, multilabel = binary_workload
    benchmark.group = f"{name} loss"
    backend = competitor.split("-")[1]
    function = fastxent.multilabel_cross_entropy if multilabel else fastxent.binary_cross_entropy_with_logits

    def fn():
        return function(logits, target, backend=backend, n_threads=2)
    assert abs(float(fn()) - reference(logits, target, multilabel)) <= 1e-5 * abs(reference(logits, target,
                                                                                           multilabel))
    benchmark(fn)


def test_binary_memory_floor(benchmark, binary_workload):
    """Read the logits and the targets once, write one array of their size: the fused call's traffic."""
    numba = pytest.importorskip("numba")

    @numba.njit(parallel=True)
    def read_two_write_one(dst, a, b):
        for i in numba.prange(a.shape[0]):
            dst[i] = a[i] + b[i]

    name, logits, target, _ = binary_workload
    benchmark.group = f"{name} loss+grad"
    dst = np.empty(logits.size, logits.dtype)
    a, b = logits.reshape(-1), target.reshape(-1)
    read_two_write_one(dst, a, b)
    np.testing.assert_array_equal(dst[:100], a[:100] + b[:100])
    benchmark(read_two_write_one, dst, a, b)
