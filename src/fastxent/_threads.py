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


def resolve_n_threads(n_threads):
    """Turn a user's ``n_threads`` (None, positive, or negative) into a positive thread count."""
    if n_threads is None:
        return get_num_threads()
    return _as_thread_request(n_threads)


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
