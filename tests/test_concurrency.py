"""Concurrency (issue 8, part 3): Python threads calling the kernels at once (they release the GIL)
get bitwise the results of serial calls, on either compiled backend and on both together with
different thread counts; the thread settings survive errors raised inside calls, in every thread.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastxent
from arrays import labels_of, logits_of, probs_of
from fastxent._backends import is_available

COMPILED = tuple(name for name in ("cython", "numba") if is_available(name))
N_PYTHON_THREADS = 8
ROUNDS = 3


def _workloads():
    """``{name: function(backend, n_threads)}``: every kernel family on inputs large enough for the
    calls to overlap (a few ms each), float32 and float64, with weights, ignored rows and NaN."""
    z32, z64 = logits_of((3_000, 40), np.float32, seed=5), logits_of((1_000, 130), np.float64, seed=6)
    z32[7, 3] = np.nan
    labels32 = labels_of((3_000,), 40, ignore_fraction=0.1)
    labels64 = labels_of((1_000,), 130, seed=7)
    probs64 = probs_of(z64.shape, np.float64)
    weight, rows = np.linspace(0.5, 2.0, 40), np.linspace(0.0, 1.0, 3_000)
    soft = probs_of(z32.shape, np.float32, seed=8)
    p, q = probs_of((2_000, 64), np.float64, seed=9), probs_of((2_000, 64), np.float64, seed=10)
    return {
        "softmax_ce labels": lambda b, n: fastxent.softmax_cross_entropy_with_grad(
            z32, labels32, weight=weight, sample_weight=rows, label_smoothing=0.1, backend=b, n_threads=n),
        "softmax_ce probs": lambda b, n: fastxent.softmax_cross_entropy_with_grad(
            z64, probs64, reduction="sum", backend=b, n_threads=n),
        "softmax_ce hessian": lambda b, n: fastxent.softmax_cross_entropy_gradient_hessian(
            z64, labels64, backend=b, n_threads=n),
        "log_softmax": lambda b, n: fastxent.log_softmax(z64, backend=b, n_threads=n),
        "logsumexp": lambda b, n: fastxent.logsumexp(z32, backend=b, n_threads=n),
        "bce logits": lambda b, n: fastxent.binary_cross_entropy_with_logits_with_grad(
            z32, soft, pos_weight=weight, sample_weight=rows, backend=b, n_threads=n),
        "bce probs": lambda b, n: fastxent.binary_cross_entropy_with_grad(
            fastxent.sigmoid(z64, backend="numpy"), probs64, backend=b, n_threads=n),
        "multilabel": lambda b, n: fastxent.multilabel_cross_entropy(z64, probs64, backend=b, n_threads=n),
        "bce hessian": lambda b, n: fastxent.binary_cross_entropy_gradient_hessian(z32, soft, backend=b, n_threads=n),
        "sigmoid": lambda b, n: fastxent.sigmoid(z32, backend=b, n_threads=n),
        "kl_divergence": lambda b, n: fastxent.kl_divergence(p, q, backend=b, n_threads=n),
        "entropy": lambda b, n: fastxent.entropy(p, base=2, backend=b, n_threads=n),
    }


WORKLOADS = _workloads()


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def _assert_bitwise_equal(got, wanted, what):
    for g, w in zip(_as_tuple(got), _as_tuple(wanted), strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, what
        # Bitwise: compare the bytes (NaN payloads included), not the values.
        assert g.tobytes() == w.tobytes(), what


def _skip_unless_numba_is_thread_safe(backends):
    if "numba" in backends:
        import numba

        fastxent.sigmoid(np.zeros(4), backend="numba", n_threads=2)  # starts numba's threading layer
        if numba.threading_layer() == "workqueue":
            pytest.skip("numba runs on its workqueue threading layer, which aborts the process on "
                        "concurrent parallel calls; install tbb or an OpenMP runtime for the tbb/omp layers")


def _run_concurrently(tasks):
    """Run ``tasks`` (callables) on N_PYTHON_THREADS threads released together; their results in order."""
    barrier = threading.Barrier(N_PYTHON_THREADS)

    def start(task):
        barrier.wait(timeout=60)
        return task()

    groups = [tasks[i::N_PYTHON_THREADS] for i in range(N_PYTHON_THREADS)]
    with ThreadPoolExecutor(N_PYTHON_THREADS) as pool:
        futures = [pool.submit(start, lambda group=group: [task() for task in group]) for group in groups]
        per_thread = [future.result(timeout=600) for future in futures]
    results = [None] * len(tasks)
    for i, group_results in enumerate(per_thread):
        results[i::N_PYTHON_THREADS] = group_results
    return results


def _serial_results(backends):
    """The serial result of every workload on every backend, checked the same for 1 and 2 threads."""
    wanted = {}
    for backend in backends:
        for name, workload in WORKLOADS.items():
            wanted[name, backend] = workload(backend, 1)
            _assert_bitwise_equal(workload(backend, 2), wanted[name, backend], (name, backend, "2 threads"))
    return wanted


@pytest.mark.parametrize("backend", COMPILED)
def test_python_threads_calling_at_once_get_the_serial_results_bitwise(backend):
    _skip_unless_numba_is_thread_safe((backend,))
    wanted = _serial_results((backend,))
    jobs = [(name, n_threads) for _ in range(ROUNDS) for name in WORKLOADS for n_threads in (1, 2)]
    rng = np.random.default_rng(0)
    jobs = [jobs[i] for i in rng.permutation(len(jobs))]  # every thread runs a different mix
    results = _run_concurrently([lambda name=name, n=n: WORKLOADS[name](backend, n) for name, n in jobs])
    for (name, n_threads), result in zip(jobs, results):
        _assert_bitwise_equal(result, wanted[name, backend], (name, backend, n_threads))


def test_both_compiled_backends_at_once_with_different_thread_counts():
    if len(COMPILED) < 2:
        pytest.skip("needs both compiled backends")
    _skip_unless_numba_is_thread_safe(COMPILED)
    wanted = _serial_results(COMPILED)
    jobs = [(name, backend, n_threads) for _ in range(ROUNDS) for name in WORKLOADS for backend in COMPILED
            for n_threads in (1, 2, 3)]
    rng = np.random.default_rng(1)
    jobs = [jobs[i] for i in rng.permutation(len(jobs))]
    results = _run_concurrently([lambda name=name, b=b, n=n: WORKLOADS[name](b, n) for name, b, n in jobs])
    for (name, backend, n_threads), result in zip(jobs, results):
        _assert_bitwise_equal(result, wanted[name, backend], (name, backend, n_threads))


def _failing_calls(backend):
    """Calls that raise after the backend was resolved and the thread count set (the binary range
    checks run inside the kernels; a kernel given arrays of the wrong type fails in its wrapper)."""
    from fastxent._backends import load_backend

    z = logits_of((50, 8), np.float64)
    kernels = load_backend(backend)
    return [
        (ValueError, lambda: fastxent.binary_cross_entropy(np.full_like(z, 1.5), np.zeros_like(z), backend=backend,
                                                           n_threads=2)),
        (ValueError, lambda: fastxent.binary_cross_entropy_with_logits_with_grad(z, np.full_like(z, -1.0),
                                                                                 backend=backend, n_threads=2)),
        (Exception, lambda: kernels.softmax_ce_labels_loss(z, np.zeros(50), np.ones(8), np.ones(50), -100, 0.0,
                                                           np.empty(50), 2)),
    ]


@pytest.mark.parametrize("backend", COMPILED)
def test_thread_settings_restored_after_errors_inside_calls_in_every_thread(backend):
    _skip_unless_numba_is_thread_safe((backend,))
    numba = pytest.importorskip("numba")

    def worker(i):
        numba.set_num_threads(1 + i % 2)  # numba's count is per thread
        before_numba = numba.get_num_threads()
        before = fastxent.get_num_threads()
        for _ in range(ROUNDS):
            with fastxent.threads(1 + (i + 1) % 2):
                inside = fastxent.get_num_threads()
                for error, call in _failing_calls(backend):
                    with pytest.raises(error):
                        call()
                    assert fastxent.get_num_threads() == inside
                    assert numba.get_num_threads() == before_numba
        assert fastxent.get_num_threads() == before
        return numba.get_num_threads() == before_numba

    assert all(_run_concurrently([lambda i=i: worker(i) for i in range(N_PYTHON_THREADS)]))


def test_a_thread_count_beyond_a_c_int_is_capped_like_numba_does():
    if "cython" not in COMPILED:
        pytest.skip("the cython backend is not built")
    z = logits_of((10, 3), np.float64)
    assert fastxent.sigmoid(z, backend="cython", n_threads=2**31).tobytes() == fastxent.sigmoid(
        z, backend="cython", n_threads=1).tobytes()
