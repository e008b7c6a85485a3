"""Thread-count policy shared by every backend.

``n_threads=None`` means the current setting (``set_num_threads`` / ``threads``), which defaults to the
usable cores: the process affinity, capped by ``OMP_NUM_THREADS`` when that is set. ``-k`` means
``cores - k + 1`` (so ``-1`` is all cores), ``0`` is an error. A count above `MAX_THREADS` is capped
(OpenMP would start that many threads, and a C ``int`` cannot hold 2**31; numba caps at its own pool).
Kernels never read this module: the public layer resolves a positive count and passes it as the
kernels' last argument.
"""

import contextlib
import contextvars
import operator
import os

MAX_THREADS = 256
# A call is given at most one thread per MIN_ELEMENTS_PER_THREAD elements of work (see
# `resolve_n_threads`). Measured with the fused softmax CE kernels, C = 1,000 float32, 1 vs 2 threads
# (docs/benchmarks.md, "Small batch"): with the pool threads still spinning from the previous call,
# 2 threads win from ~4,000 elements (16,000: 17.0 -> 12.4 us); with them asleep (10 ms between
# calls) waking one costs 20-40 us, so 2 threads lose up to ~16,000 elements (8,000: 64 -> 82 us;
# numba often stalls for ms on a busy machine). 8,192 splits the difference: 2 threads from 16,384.
MIN_ELEMENTS_PER_THREAD = 8_192
_global_setting = None
# threads() overrides per context (thread / task), so concurrent callers do not see each other's value.
_context_setting = contextvars.ContextVar("fastxent_n_threads", default=None)


def usable_cores():
    """Number of cores this process may run on, capped by ``OMP_NUM_THREADS`` when it is set.

    Returns
    -------
    int
        At least 1.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        cores = min(cores, int(omp))
    return max(cores, 1)


def _as_thread_request(n_threads, name="n_threads"):
    if isinstance(n_threads, bool):
        raise TypeError(f"{name} must be an int or None, got bool")
    try:
        n = operator.index(n_threads)
    except TypeError:
        raise TypeError(f"{name} must be an int or None, got {type(n_threads).__name__}") from None
    if n == 0:
        raise ValueError(f"{name}=0 is not allowed: use a positive count, None for all cores, "
                         f"or -k for all cores but k-1")
    if n < 0:
        resolved = usable_cores() + n + 1
        if resolved < 1:
            raise ValueError(f"{name}={n} leaves no thread on this machine with {usable_cores()} "
                             f"usable cores")
        return resolved
    return min(n, MAX_THREADS)


def resolve_n_threads(n_threads, n_elements=None, n_tasks=None):
    """Turn a user's ``n_threads`` (None, positive, or negative) into a positive thread count.

    Parameters
    ----------
    n_threads : int or None
        The user's request (validated here).
    n_elements : int, optional
        The call's work in array elements. When given, the count is lowered so that each thread has
        at least `MIN_ELEMENTS_PER_THREAD` of them (at least 1 thread). The results do not depend on
        the thread count (the kernel contract), so this only changes the speed of small calls.
    n_tasks : int, optional
        The number of independent units the kernel shares out (rows, chunks): no more threads.

    Returns
    -------
    int
    """
    if n_threads is None and n_elements is not None and n_elements < 2 * MIN_ELEMENTS_PER_THREAD:
        return 1  # one thread whatever the default: a small call skips the cores' lookup (~2 us)
    n = get_num_threads() if n_threads is None else _as_thread_request(n_threads)
    if n_elements is not None:
        n = min(n, max(1, n_elements // MIN_ELEMENTS_PER_THREAD))
    if n_tasks is not None:
        n = min(n, max(1, n_tasks))
    return n


def get_num_threads():
    """The number of threads fastxent calls use when ``n_threads`` is None.

    Returns
    -------
    int
        The innermost ``threads(n)`` context's count, else the ``set_num_threads`` value, else
        the usable cores.
    """
    setting = _context_setting.get()
    if setting is None:
        setting = _global_setting
    return usable_cores() if setting is None else setting


def set_num_threads(n_threads):
    """Set the default thread count of every later call (process-wide).

    Parameters
    ----------
    n_threads : int or None
        Positive count; ``-k`` for ``cores - k + 1``; None restores "all usable cores".
    """
    global _global_setting
    _global_setting = None if n_threads is None else _as_thread_request(n_threads)


@contextlib.contextmanager
def threads(n_threads):
    """Context manager: calls inside the ``with`` block use ``n_threads`` unless they pass their own.

    The previous setting is restored on exit, also when the block raises. The setting is local to
    the current thread (and asyncio task).

    Examples
    --------
    >>> import fastxent
    >>> with fastxent.threads(1):
    ...     fastxent.get_num_threads()
    1
    """
    token = _context_setting.set(None if n_threads is None else _as_thread_request(n_threads))
    try:
        yield
    finally:
        _context_setting.reset(token)
