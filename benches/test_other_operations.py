"""pytest-benchmark: loss only, log_softmax, and the information measures (entropy, KL) on the same
workloads, fastxent against textbook NumPy and SciPy. Every result is checked before it is timed."""

import numpy as np
import pytest
import scipy.special
import scipy.stats

import fastxent

BACKENDS = ["cython", "numba"]


def _loss_function(kind):
    return {"softmax": fastxent.softmax_cross_entropy, "binary": fastxent.binary_cross_entropy_with_logits,
            "multilabel": fastxent.multilabel_cross_entropy}[kind]


@pytest.mark.parametrize("competitor", [f"fastxent-{b}-t{t}" for b in BACKENDS for t in (1, 2)] + ["numpy-naive"])
def test_loss_only(benchmark, workload, competitor):
    spec, logits, target, wanted = workload
    benchmark.group = f"{spec.name} loss"
    if competitor == "numpy-naive":
        if spec.kind != "softmax":
            pytest.skip("the textbook binary loss is benchmarked with its gradient")

        def fn():
            shifted = logits - logits.max(axis=1, keepdims=True)
            return np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(target)), target])
    else:
        _, backend, threads = competitor.split("-")
        function = _loss_function(spec.kind)

        def fn():
            return function(logits, target, backend=backend, n_threads=int(threads[1:]))
    assert abs(float(fn()) - wanted) <= 1e-4 * abs(wanted)
    benchmark(fn)


@pytest.fixture(scope="module")
def column_major(workload):
    """A softmax workload's logits in column-major (Fortran) order, as a pandas frame or the columns
    of a Parquet file hold them."""
    spec, logits, target, wanted = workload
    if spec.name not in ("W1", "W3"):
        pytest.skip("column-major logits are benchmarked on W1 and W3")
    return spec, np.asfortranarray(logits), target, wanted


@pytest.mark.parametrize("competitor", [f"fastxent-{b}" for b in BACKENDS] + ["numpy-copy+fastxent-cython",
                                                                              "numpy-naive"])
def test_loss_of_column_major_logits(benchmark, column_major, competitor):
    """The loss of column-major logits: fastxent turns them into rows with its transpose kernel;
    against NumPy's transposing copy followed by the same kernel, and the textbook NumPy loss."""
    spec, logits, target, wanted = column_major
    benchmark.group = f"{spec.name} loss, column-major logits"
    if competitor == "numpy-naive":
        def fn():
            shifted = logits - logits.max(axis=1, keepdims=True)
            return np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(target)), target])
    elif competitor == "numpy-copy+fastxent-cython":
        def fn():
            return fastxent.softmax_cross_entropy(np.ascontiguousarray(logits), target, backend="cython", n_threads=2)
    else:
        backend = competitor.split("-")[1]

        def fn():
            return fastxent.softmax_cross_entropy(logits, target, backend=backend, n_threads=2)
    assert abs(float(fn()) - wanted) <= 1e-4 * abs(wanted)
    benchmark(fn)


@pytest.mark.parametrize("competitor", [f"fastxent-{b}" for b in BACKENDS] + ["scipy"])
def test_log_softmax(benchmark, workload, competitor):
    spec, logits, _, _ = workload
    if spec.kind != "softmax":
        pytest.skip("log_softmax is a softmax-family operation")
    benchmark.group = f"{spec.name} log_softmax"
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


@pytest.fixture(scope="module")
def distributions(workload):
    """Two probability tables of a softmax workload's shape (rows sum to 1)."""
    spec, logits, _, _ = workload
    if spec.kind != "softmax" or spec.name == "W6":
        pytest.skip("entropy/KL are benchmarked on the softmax workloads up to W3")
    p = fastxent.softmax(logits)
    q = fastxent.softmax(logits[::-1].copy())
    return spec, p, q


@pytest.mark.parametrize("measure", ["entropy", "kl_divergence"])
@pytest.mark.parametrize("competitor", [f"fastxent-{b}" for b in BACKENDS] + ["scipy"])
def test_information_measures(benchmark, distributions, measure, competitor):
    spec, p, q = distributions
    benchmark.group = f"{spec.name} {measure}"
    args = (p,) if measure == "entropy" else (p, q)
    if competitor == "scipy":
        def fn():
            return scipy.stats.entropy(*(a.T for a in args))
    else:
        backend = competitor.split("-")[1]
        function = getattr(fastxent, measure)

        def fn():
            return function(*args, backend=backend, n_threads=2)
    np.testing.assert_allclose(fn()[:256], scipy.stats.entropy(*(a[:256].T.astype(np.float64) for a in args)),
                               rtol=1e-4, atol=1e-6)
    benchmark(fn)
