"""Information measures of discrete distributions: surprisal, entropy, cross-entropy, KL divergence.

Every function validates and coerces its inputs here, then calls one kernel of the chosen backend
(the distributions' axis moved last, rows C-contiguous). Results are in nats unless ``base`` says
otherwise (``base=2``: bits, ``base=10``: dits).

The terms follow ``scipy.special.entr`` and ``scipy.special.rel_entr``: ``0 log 0 = 0``, a class
with ``q == 0 < p`` makes the result ``+inf``, and a NaN in a distribution makes its result NaN.
Unlike ``scipy.stats.entropy``, nothing is normalised unless ``normalize=True`` is given.
"""

import math
import numbers

import numpy as np

from fastxent import _validation as v
from fastxent._backends import resolve_backend
from fastxent._threads import resolve_n_threads

__all__ = ["surprisal", "entropy", "cross_entropy", "kl_divergence"]


def _as_probabilities(values, name):
    """``values`` as an array of its compute dtype, checked non-negative and finite (NaN allowed)."""
    arr = np.asarray(values)
    arr = arr.astype(v.compute_dtype(arr.dtype, name), copy=False)
    if arr.size:
        # min/max are fast SIMD reductions; NaN (which propagates to the result) makes them NaN,
        # and only then are the NaN-ignoring (slower) versions needed.
        low, high = arr.min(), arr.max()
        if np.isnan(low):
            if np.isnan(arr).all():
                return arr
            low, high = np.nanmin(arr), np.nanmax(arr)
        if low < 0:
            raise ValueError(f"{name} must be non-negative (probabilities), but it holds {low}")
        if not np.isfinite(high):
            raise ValueError(f"{name} must be finite (probabilities), but it holds {high}")
    return arr


def _scale_of(base):
    """``1 / ln(base)``, the factor turning nats into units of ``base`` (1 for ``base=None``)."""
    if base is None:
        return 1.0
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a real number or None, got {type(base).__name__}")
    value = float(base)
    if not (math.isfinite(value) and value > 0 and value != 1):
        raise ValueError(f"base must be a finite positive number other than 1, got {base!r}")
    return 1.0 / math.log(value)


def _check_axis(axis, ndim):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    if ndim == 0:
        raise ValueError("p must have at least 1 dimension (the axis of the distributions), got a scalar")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of dimension {ndim}")
    return int(axis) % ndim


def _rows(arr, axis, dtype, normalize, backend, n_threads):
    """``arr`` with ``axis`` moved last as a C-contiguous ``(N, C)`` array of ``dtype`` (a copy
    only when needed: distributions down the columns of a 2-D array, ``axis=0`` as in SciPy, by the
    backend's transpose kernel), divided by its row sums when ``normalize``."""
    moved = np.moveaxis(arr, axis, -1)
    # An explicit row count: reshape(-1, 0) is ambiguous for an empty axis.
    rows = v.as_kernel_rows(moved, dtype, backend, n_threads).reshape(math.prod(moved.shape[:-1]), moved.shape[-1])
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-zero row becomes NaN
            rows = rows / rows.sum(axis=1, keepdims=True)
    return rows


def _result(out, batch_shape, dtype):
    """The float64 kernel output in ``dtype`` and ``batch_shape`` (a NumPy scalar for ``()``)."""
    with np.errstate(over="ignore"):  # beyond float32's range is inf
        return out.astype(dtype).reshape(batch_shape)[()]


def _measure(kernel_name, arrays, axis, base, normalize, backend, n_threads):
    """Validate ``arrays`` (``(p,)`` or ``(p, q)``), run the row kernel ``kernel_name``, shape the result."""
    scale = _scale_of(base)
    names = ("p", "q")[:len(arrays)]
    checked = [_as_probabilities(arr, name) for arr, name in zip(arrays, names)]
    if len(checked) == 2 and checked[0].shape != checked[1].shape:
        try:
            shape = np.broadcast_shapes(checked[0].shape, checked[1].shape)
        except ValueError:
            raise ValueError(f"p of shape {checked[0].shape} and q of shape {checked[1].shape} do not "
                             f"broadcast against each other") from None
        checked = [np.broadcast_to(arr, shape) for arr in checked]
    shape = checked[0].shape
    axis = _check_axis(axis, len(shape))
    dtype = np.result_type(*checked)
    kernels, n_threads = resolve_backend(backend), resolve_n_threads(n_threads)
    rows = [_rows(arr, axis, dtype, normalize, backend, n_threads) for arr in checked]
    n_threads = resolve_n_threads(n_threads, rows[0].size, rows[0].shape[0])  # validated above; capped here
    out = np.empty(rows[0].shape[0], dtype=np.float64)
    getattr(kernels, kernel_name)(*rows, scale, out, n_threads)
    return _result(out, shape[:axis] + shape[axis + 1:], dtype)


_COMMON_PARAMETERS_DOC = """
    base : float, optional
        Logarithm base of the result's unit: None (default) gives nats, 2 bits, 10 dits; any finite
        positive number other than 1. The result is the one in nats divided by ``ln(base)``.
    backend : {"auto", "cython", "numba", "numpy"}, default "auto"
        Kernel implementation; "auto" takes ``FASTXENT_BACKEND`` when set, else the fastest available.
    n_threads : int, optional
        Threads for this call: None = ``fastxent.get_num_threads()``, ``-k`` = cores - k + 1.
        Results are bitwise identical for every thread count."""

_AXIS_DOC = """
    axis : int, default -1
        The axis holding the distributions (each 1-D slice along it is one distribution); the
        result has the input's shape without it. An empty axis gives 0 (an empty sum), as
        ``scipy.stats.entropy`` does. A non-integer axis raises TypeError; an axis out of range,
        or a 0-d input, ValueError.
    normalize : bool, default False
        Divide each distribution by its sum along ``axis`` first. fastxent does NOT normalise by
        default (the measure of the values as given); ``normalize=True`` reproduces
        ``scipy.stats.entropy``, which always normalises. An all-zero distribution is then NaN."""

_DTYPE_DOC = """
    float32 and float64 results keep their dtype, float16 gives float32, integer and bool give
    float64 (p and q together: the wider of the two). Every term is computed in float64 and each
    distribution is summed in float64 whatever the dtype. Any memory layout is accepted; a copy
    is made only when the distributions are not contiguous rows of the computation's dtype."""

_RAISES_DOC = """
    Raises
    ------
    TypeError
        A non-real dtype (complex, object, strings), or a non-numeric ``base``.
    ValueError
        Negative or infinite probabilities, ``base <= 0``, ``base == 1`` or a non-finite base, or
        (two distributions) shapes of p and q that do not broadcast."""


def surprisal(p, *, base=None, backend="auto", n_threads=None):
    """Surprisal (self-information) ``-log(p)`` of each probability, elementwise.

    Parameters
    ----------
    p : array_like
        Probabilities, any shape, non-negative and finite (values above 1 are allowed and give a
        negative surprisal). 0 gives ``+inf``; NaN gives NaN.
    {common}

    Returns
    -------
    ndarray or NumPy scalar, shape p.shape
        ``-log(p) / ln(base)``, in nats by default (bits for ``base=2``); a NumPy scalar for a
        scalar ``p``.

    {raises}

    Notes
    -----
    {dtype}

    Examples
    --------
    A panda met in a forest with probability 0.001 is a surprise of about 10 bits:

    >>> import fastxent
    >>> round(float(fastxent.surprisal(0.001, base=2)), 3)
    9.966
    """
    scale = _scale_of(base)
    arr = _as_probabilities(p, "p")
    kernels, n_threads = resolve_backend(backend), resolve_n_threads(n_threads, np.size(arr))
    flat = v.as_kernel_array(arr).reshape(-1)
    out = np.empty_like(flat)
    kernels.surprisal_elems(flat, scale, out, n_threads)
    return out.reshape(arr.shape)[()]


def entropy(p, *, axis=-1, base=None, normalize=False, backend="auto", n_threads=None):
    """Shannon entropy ``H(p) = -sum_c p_c log p_c`` of each distribution along ``axis``.

    Parameters
    ----------
    p : array_like
        Probabilities (non-negative, finite); ``0 log 0`` counts 0. A NaN makes its own
        distribution's entropy NaN and no other.
    {axis}
    {common}

    Returns
    -------
    ndarray or NumPy scalar, shape p.shape without axis
        The entropy in nats (bits for ``base=2``); a NumPy scalar for 1-D ``p``.

    {raises}

    Notes
    -----
    Equals ``scipy.special.entr(p).sum(axis) / log(base)``; with ``normalize=True`` it equals
    ``scipy.stats.entropy(p, base=base, axis=axis)``.

    {dtype}

    Examples
    --------
    Meeting a [panda, bird, dog] with probabilities [0.2, 0.3, 0.5]:

    >>> import fastxent
    >>> round(float(fastxent.entropy([0.2, 0.3, 0.5], base=2)), 3)
    1.485
    """
    return _measure("entropy_rows", (p,), axis, base, normalize, backend, n_threads)


def cross_entropy(p, q, *, axis=-1, base=None, normalize=False, backend="auto", n_threads=None):
    """Cross-entropy ``H(p, q) = -sum_c p_c log q_c`` of true distributions ``p`` and guesses ``q``.

    Parameters
    ----------
    p, q : array_like
        Probabilities (non-negative, finite) of shapes that broadcast against each other. Classes
        with ``p_c == 0`` count 0 whatever ``q_c`` (unless it is NaN); ``q_c == 0 < p_c`` gives
        ``+inf``. A NaN makes its own distribution's result NaN.
    {axis}
    {common}

    Returns
    -------
    ndarray or NumPy scalar, shape broadcast(p, q).shape without axis
        The cross-entropy in nats (bits for ``base=2``); a NumPy scalar for 1-D inputs. It is
        ``entropy(p) + kl_divergence(p, q)``, so never below ``entropy(p)`` for distributions.

    {raises}

    Notes
    -----
    With ``normalize=True`` it equals ``scipy.stats.entropy(p, base=base, axis=axis) +
    scipy.stats.entropy(p, q, base=base, axis=axis)``.

    {dtype}

    Examples
    --------
    A coin that lands heads 99% of the time, believed to land tails 99% of the time:

    >>> import fastxent
    >>> truth, guess = [0.99, 0.01], [0.01, 0.99]
    >>> round(float(fastxent.cross_entropy(truth, guess, base=2)), 3)
    6.578
    >>> round(float(fastxent.entropy(truth, base=2)), 3)
    0.081
    """
    return _measure("cross_entropy_rows", (p, q), axis, base, normalize, backend, n_threads)


def kl_divergence(p, q, *, axis=-1, base=None, normalize=False, backend="auto", n_threads=None):
    """Kullback-Leibler divergence ``D(p || q) = sum_c p_c log(p_c / q_c)``.

    Parameters
    ----------
    p, q : array_like
        As in `cross_entropy`: ``0 log(0 / q) = 0`` (also for ``q = 0``), ``q_c == 0 < p_c``
        gives ``+inf``.
    {axis}
    {common}

    Returns
    -------
    ndarray or NumPy scalar, shape broadcast(p, q).shape without axis
        The divergence in nats (bits for ``base=2``); ``>= 0`` for distributions, 0 when
        ``q == p``. A NumPy scalar for 1-D inputs.

    {raises}

    Notes
    -----
    Equals ``scipy.special.rel_entr(p, q).sum(axis) / log(base)``; with ``normalize=True`` it
    equals ``scipy.stats.entropy(p, q, base=base, axis=axis)``.

    {dtype}

    Examples
    --------
    The loaded coin of `cross_entropy`: its cross-entropy minus its entropy.

    >>> import fastxent
    >>> round(float(fastxent.kl_divergence([0.99, 0.01], [0.01, 0.99], base=2)), 3)
    6.497
    """
    return _measure("kl_divergence_rows", (p, q), axis, base, normalize, backend, n_threads)


for _function in (surprisal, entropy, cross_entropy, kl_divergence):
    _function.__doc__ = _function.__doc__.format(common=_COMMON_PARAMETERS_DOC.strip(),
                                                 axis=_AXIS_DOC.strip(), dtype=_DTYPE_DOC.strip(),
                                                 raises=_RAISES_DOC.strip())
del _function
