"""Memory (issue 8, part 5, kernels): 10,000 repeated calls of each main function, error paths
included, leave the process's memory where it was: its resident size, and, since a process that
freed memory earlier can leak into its free heap without growing, the bytes malloc has handed out
(glibc's mallinfo2) and the blocks Python's allocator has handed out (a leak of 200 bytes or of one
object per call would show).
"""

import ctypes
import gc
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import fastxent
from arrays import labels_of, logits_of, probs_of
from fastxent._backends import is_available

COMPILED = tuple(name for name in ("cython", "numba") if is_available(name))
CALLS = 10_000
WARM_UP = 500
# Allowed growth over CALLS calls: allocator noise, well below a 200-byte-per-call leak (2 MB).
ALLOWED_GROWTH = 1 << 20
STATM = Path("/proc/self/statm")


def resident_bytes():
    """The process's current resident set size (second field of /proc/self/statm, in pages)."""
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mallinfo2():
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):  # not glibc >= 2.33
        return None
    function.restype = _MallInfo2
    return function


_MALLINFO2 = _mallinfo2()


def heap_bytes_in_use():
    """Bytes malloc has handed out and not got back (small blocks plus mmap'd ones), or None."""
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return info.uordblks + info.hblkhd


def memory_now():
    """``{measure: value}``: resident bytes, malloc's bytes in use (glibc only), Python's blocks."""
    gc.collect()
    now = {"resident bytes": resident_bytes(), "Python blocks": sys.getallocatedblocks()}
    heap = heap_bytes_in_use()
    if heap is not None:
        now["malloc bytes in use"] = heap
    return now


# Allowed growth over CALLS calls per measure: noise, well below a leak of 200 bytes or one object
# per call.
ALLOWED = {"resident bytes": ALLOWED_GROWTH, "malloc bytes in use": ALLOWED_GROWTH, "Python blocks": CALLS // 10}


def growth_of(call, times):
    before = memory_now()
    for _ in range(times):
        call()
    after = memory_now()
    return {measure: after[measure] - before[measure] for measure in before}


def _calls(backend):
    """``{name: call}``: the main functions on small inputs (several shapes and dtypes, ``out=``,
    in place, weights), and calls that raise. One thread, except for two calls: with two OpenMP
    pools (cython's and numba's) spinning on a shared 2-core machine, 2-thread calls of tiny inputs
    run 10x slower than they should."""
    z, z32 = logits_of((16, 10), np.float64), logits_of((16, 10), np.float32)
    labels, probs = labels_of((16,), 10, ignore_fraction=0.2), probs_of((16, 10), np.float64)
    weight, rows = np.linspace(0.5, 2.0, 10), np.linspace(0.0, 1.0, 16)
    grad = np.empty_like(z)
    scratch = z32.copy()
    bad_labels = labels.copy()
    bad_labels[3] = 10
    soft = probs_of((16, 10), np.float32)
    p = fastxent.sigmoid(z, backend="numpy")

    def raises(call):
        def run():
            try:
                call()
            except ValueError:
                return
            raise AssertionError("expected ValueError")
        return run

    one, two = {"backend": backend, "n_threads": 1}, {"backend": backend, "n_threads": 2}
    return {
        "softmax_cross_entropy": lambda: fastxent.softmax_cross_entropy(z32, labels, **one),
        "softmax_cross_entropy_with_grad": lambda: fastxent.softmax_cross_entropy_with_grad(
            z, labels, weight=weight, sample_weight=rows, label_smoothing=0.1, out=grad, **two),
        "softmax_cross_entropy_grad probs": lambda: fastxent.softmax_cross_entropy_grad(z, probs, **one),
        "softmax_cross_entropy_gradient_hessian": lambda: fastxent.softmax_cross_entropy_gradient_hessian(
            z32, labels_of((16,), 10), **one),
        "log_softmax in place": lambda: fastxent.log_softmax(scratch, out=scratch, **one),
        "logsumexp": lambda: fastxent.logsumexp(z, **one),
        "binary_cross_entropy_with_logits_with_grad": lambda: fastxent.binary_cross_entropy_with_logits_with_grad(
            z32, soft, pos_weight=weight, **two),
        "binary_cross_entropy_with_grad": lambda: fastxent.binary_cross_entropy_with_grad(p, probs, **one),
        "multilabel_cross_entropy": lambda: fastxent.multilabel_cross_entropy(z, probs, reduction="none", **one),
        "binary_cross_entropy_gradient_hessian": lambda: fastxent.binary_cross_entropy_gradient_hessian(
            z, probs, **one),
        "sigmoid": lambda: fastxent.sigmoid(z32, **one),
        "entropy": lambda: fastxent.entropy(probs, **one),
        "kl_divergence": lambda: fastxent.kl_divergence(probs, probs[::-1], base=2, **one),
        "bad label raises": raises(lambda: fastxent.softmax_cross_entropy(z, bad_labels, **one)),
        "bad probability raises": raises(lambda: fastxent.binary_cross_entropy(z, probs, **one)),
    }


@pytest.mark.skipif(not STATM.exists(), reason="needs /proc/self/statm (Linux) to read the resident size")
@pytest.mark.parametrize("backend", COMPILED)
def test_repeated_calls_do_not_grow_memory(backend):
    calls = _calls(backend)
    for call in calls.values():
        for _ in range(WARM_UP):
            call()
    growth = {name: growth_of(call, CALLS) for name, call in calls.items()}
    for measure, allowed in ALLOWED.items():
        worst = max(growth.values(), key=lambda g: g.get(measure, 0))
        assert worst.get(measure, 0) <= allowed, (measure, growth)


@pytest.mark.skipif(not STATM.exists(), reason="needs /proc/self/statm (Linux) to read the resident size")
def test_the_measures_see_a_leak_of_200_bytes_per_call():
    kept = []
    growth = growth_of(lambda: kept.append(np.ones(25)), CALLS)  # 200 bytes of data and an object per call
    assert growth["Python blocks"] > ALLOWED["Python blocks"], growth
    if "malloc bytes in use" in growth:
        assert growth["malloc bytes in use"] > ALLOWED["malloc bytes in use"], growth
