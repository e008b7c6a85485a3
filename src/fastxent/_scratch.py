"""Buffers the Python layer reuses between calls: all-ones weights and the per-row loss buffer.

Fresh memory is faulted in on its first touch, which is not free: for a 2,000,000 x 10 float32
softmax call (16 MB of float64 per-row losses) a fresh buffer costs several ms of a ~10 ms call on
the 2-core EPYC of docs/benchmarks.md. Buffers of up to ``MAX_ELEMENTS`` float64 elements are
therefore kept (at most one of each per Python thread and ``MAX_ELEMENTS * 8`` bytes each); longer
ones are allocated per call, where their cost is small next to the call's.

The ones stand in for missing class weights, and for missing sample weights where a kernel needs
an array (the Numba softmax kernels; the Cython and NumPy ones take None). One buffer of ones serves
every thread: nothing writes it (the Cython kernels take weights as
``const`` memoryviews, the Numba kernels only read them, and the Python layer scales weights into new
arrays; tests/test_scratch.py checks it still holds ones after calls of every backend). It stays a
writable array on purpose: a read-only one is a different Numba type, which doubles the compiled
specialisations of every kernel. The row buffer is writable scratch, never returned to the user: it is taken
for one call and given back after it, per thread (the kernels release the GIL, so two threads can
be inside fastxent at once), and a nested call on the same thread simply gets a fresh buffer.
"""

import threading

import numpy as np

MAX_ELEMENTS = 1 << 22  # 32 MiB of float64

_ones = np.ones(0)
_local = threading.local()


def ones(n):
    """A float64 array of ``n`` ones, never to be written: a view of a shared buffer for ``n <= MAX_ELEMENTS``."""
    global _ones
    if n > MAX_ELEMENTS:
        return np.ones(n)
    if n > _ones.shape[0]:
        # one assignment: another thread sees the old buffer or the new one, both ones
        _ones = np.ones(min(MAX_ELEMENTS, max(n, 2 * _ones.shape[0])))
    return _ones[:n]


def take_rows(n):
    """A writable float64 scratch array of ``n`` elements for one call; hand it back with `give_back`."""
    cached = getattr(_local, "rows", None)
    if cached is None or cached.shape[0] < n:  # (a kept buffer is at most MAX_ELEMENTS long)
        return np.empty(n)
    _local.rows = None  # taken: a nested call on this thread gets its own
    return cached[:n]


def give_back(rows):
    """Keep ``rows`` (from `take_rows`) for this thread's next call, if it is worth keeping."""
    base = rows if rows.base is None else rows.base
    cached = getattr(_local, "rows", None)
    if base.shape[0] <= MAX_ELEMENTS and (cached is None or cached.shape[0] < base.shape[0]):
        _local.rows = base


class rows:  # noqa: N801 (used as a function: ``with rows(n) as row_loss``)
    """``with rows(n) as row_loss:`` a `take_rows` buffer for the block, given back after it (a class,
    not a ``contextlib.contextmanager``: 0.9 against 1.6 us per call, which small batches pay)."""

    __slots__ = ("_buffer",)

    def __init__(self, n):
        self._buffer = take_rows(n)

    def __enter__(self):
        return self._buffer

    def __exit__(self, *exc_info):
        give_back(self._buffer)
        return False
