"""pytest-benchmark: the fused loss + gradient of every workload (W1-W6, small) for every competitor of
``fastxent bench`` (fastxent backends with and without a preallocated ``out``, 1 and 2 threads; textbook
NumPy; SciPy; scikit-learn, PyTorch and JAX when importable, skipped with the reason otherwise), and the
memory floor measured in the same run.

Run: ``pytest benches --benchmark-group-by=group`` (``-k W1`` for one workload). Each competitor's result
is checked against float64 maths before it is timed, which also warms up the Numba JIT and the peers'
compilers.
"""

import pytest

from fastxent import benchmarking

THREADS = [1, 2]
COMPETITORS = benchmarking.competitors(["cython", "numba"], THREADS)


def _label(competitor):
    name, _, threads, _ = competitor
    return f"{name.replace(' ', '-')}-t{threads}" if threads else name.replace(" ", "-")


@pytest.mark.parametrize("competitor", COMPETITORS, ids=_label)
def test_loss_and_grad(benchmark, workload, competitor):
    spec, logits, target, wanted = workload
    _, _, _, make = competitor
    benchmark.group = f"{spec.name} loss+grad"
    try:
        fn = make(spec, logits, target)
    except benchmarking.Unavailable as exc:
        pytest.skip(str(exc))
    benchmarking.check_result(spec, fn(), logits, target, wanted)
    benchmark(fn)


@pytest.mark.parametrize("threads", THREADS)
def test_memory_floor(benchmark, workload, threads):
    """A ``prange`` copy of the fused call's traffic (softmax: read the logits, write one array of their
    size; binary: read the logits and the targets, write one array)."""
    spec, logits, target, _ = workload
    benchmark.group = f"{spec.name} loss+grad"
    benchmark(benchmarking.floor_copy(spec, logits, target, threads))
