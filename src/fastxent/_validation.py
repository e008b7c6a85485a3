"""Input validation and coercion for the public API: every check happens here, before any kernel runs.

The kernels take C-contiguous 2-D ``(N, C)`` float32/float64 arrays; this module turns ``(..., C)``
inputs of any layout into those, copying only when the layout or dtype requires it, and raises
``TypeError`` / ``ValueError`` naming the argument when an input is unusable.
"""

import math
import numbers

import numpy as np

from fastxent import _scratch
from fastxent._backends import resolve_backend
from fastxent._threads import resolve_n_threads

REDUCTIONS = ("mean", "sum", "none")

# The common case takes fast paths that skip coercions which would return their input unchanged:
# NumPy's builtin dtype objects are singletons, so ``arr.dtype is _FLOAT32`` is a cheap exact test
# (an equal but distinct dtype object, e.g. from a pickle, just takes the general path).
_FLOAT32, _FLOAT64, _INT64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)
_max_reduce = np.maximum.reduce  # skips ndarray.max's Python wrapper (~0.3 us a call)
# Column-major logits of at least this many elements become rows through the backend's `transpose`
# kernel (register tiles: 4,194 x 1,000 float32 in 1.1 ms on one thread, NumPy's element-by-element
# copy 4.1 ms); smaller ones through NumPy, whose copy then costs less than the kernel call.
TRANSPOSE_MIN_ELEMENTS = 1 << 16
# Loss-only calls take column-major inputs a block of about this many bytes of rows at a time, each
# block copied into one reused buffer by the transpose kernel (it stays in cache for the loss kernel,
# and the extra memory is O(N) as for row-major inputs).
ROW_BLOCK_BYTES = 1 << 22


def as_kernel_array(values, dtype=None):
    """``values`` as a C-contiguous, aligned array of ``dtype``, the buffers the kernels take: a view
    when it already is one, else a copy (a misaligned element pointer is undefined behaviour in C).
    """
    arr = np.ascontiguousarray(values, dtype=dtype)
    return arr if arr.flags.aligned else arr.copy()


def compute_dtype(dtype, name):
    """The dtype a floating computation runs in for input ``dtype`` (float16 -> float32, ints -> float64)."""
    if dtype == np.float32 or dtype == np.float64:
        return np.dtype(dtype)
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"{name} must be a real numeric array (float, int or bool), got dtype {dtype}")


def as_logits_2d(logits, name="logits", backend="auto", n_threads=None, keep_columns=False):
    """Coerce ``logits`` of shape ``(..., C)`` to a C-contiguous ``(N, C)`` float32/float64 array.

    ``backend`` and ``n_threads`` (the call's) copy large column-major logits into rows; with
    ``keep_columns`` such logits are returned as they are (`is_column_major`), for a caller that
    copies them a block of rows at a time.

    Returns
    -------
    z : ndarray, shape (N, C)
        A view of the input when its dtype and layout allow, else a copy.
    batch_shape : tuple
        ``logits.shape[:-1]``.
    """
    if type(logits) is np.ndarray and (logits.dtype is _FLOAT32 or logits.dtype is _FLOAT64) and logits.ndim:
        flags, n_classes = logits.flags, logits.shape[-1]
        if n_classes and flags.c_contiguous and flags.aligned:  # already a kernel buffer: a view
            return logits.reshape(-1, n_classes), logits.shape[:-1]
    arr = np.asarray(logits)
    dtype = compute_dtype(arr.dtype, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dimension (the class axis is last), got a scalar")
    if arr.shape[-1] == 0:
        raise ValueError(f"{name} has 0 classes (shape {arr.shape}); the last axis must be at least 1")
    if keep_columns and is_column_major(arr, dtype):
        return arr, arr.shape[:-1]
    z = as_kernel_rows(arr, dtype, backend, n_threads).reshape(-1, arr.shape[-1])
    return z, arr.shape[:-1]


def is_column_major(values, dtype):
    """True for a large 2-D array of ``dtype`` (float32/float64) whose columns are contiguous (Fortran
    order, or rows sliced from it): the arrays `as_kernel_rows` gives to the ``transpose`` kernel."""
    return (type(values) is np.ndarray and values.ndim == 2 and values.dtype == dtype and values.flags.aligned
            and values.strides[0] == values.itemsize and not values.flags.c_contiguous
            and values.size >= TRANSPOSE_MIN_ELEMENTS)


def row_blocks(arrays, block_rows, kernels, n_threads):
    """``(start, stop, blocks)`` over the rows of 2-D ``arrays`` (None entries stay None), ``block_rows``
    rows at a time: a C-contiguous array's block is a view, a column-major one's a copy made by
    ``kernels.transpose`` (on ``n_threads``) into one buffer reused from block to block."""
    n_rows = next(a.shape[0] for a in arrays if a is not None)
    buffers = [None if a is None or a.flags.c_contiguous else
               np.empty((min(block_rows, n_rows), a.shape[1]), dtype=a.dtype) for a in arrays]
    for start in range(0, n_rows, block_rows):
        stop = min(start + block_rows, n_rows)
        blocks = []
        for array, buffer in zip(arrays, buffers):
            if buffer is None:
                blocks.append(None if array is None else array[start:stop])
            else:
                kernels.transpose(array[start:stop].T, buffer[:stop - start], n_threads)
                blocks.append(buffer[:stop - start])
        yield start, stop, blocks


def as_kernel_rows(values, dtype, backend="auto", n_threads=None):
    """`as_kernel_array`, but a column-major array (`is_column_major`) is copied into rows by the
    backend's ``transpose`` kernel, with the call's ``n_threads``."""
    if is_column_major(values, dtype):
        rows = np.empty(values.shape, dtype=dtype)
        n_panels = -(-values.shape[0] // 16)  # the kernels share out panels of 8-16 rows
        resolve_backend(backend).transpose(values.T, rows, resolve_n_threads(n_threads, values.size, n_panels))
        return rows
    return as_kernel_array(values, dtype)


def _describe_row(flat_index, batch_shape):
    if len(batch_shape) <= 1:
        return f"row {flat_index}"
    return f"position {tuple(int(i) for i in np.unravel_index(flat_index, batch_shape))}"


def as_labels(target, batch_shape, n_classes, ignore_index):
    """Integer class labels of shape ``batch_shape`` as a flat C-contiguous int64 array, range-checked
    (``ignore_index`` None: every label must be in ``[0, n_classes)``)."""
    return as_labels_checked(target, batch_shape, n_classes, ignore_index)[0]


def as_labels_checked(target, batch_shape, n_classes, ignore_index):
    """`as_labels`, and whether every label is in ``[0, n_classes)``.

    Returns
    -------
    labels : ndarray, shape (N,)
        C-contiguous int64.
    all_in_range : bool
        True when every label is in ``[0, n_classes)``; when False, the others equal ``ignore_index``
        (anything else raises ValueError).
    """
    labels = np.asarray(target)
    if labels.shape != tuple(batch_shape):
        raise ValueError(f"target holds class indices of shape {labels.shape}, but logits of batch shape "
                         f"{tuple(batch_shape)} need labels of shape {tuple(batch_shape)}")
    flat = labels.reshape(-1)
    all_in_range = _all_in_range(flat, n_classes)
    if not all_in_range:
        bad = (flat < 0) | (flat >= n_classes)
        info = np.iinfo(flat.dtype)
        # Compared in the labels' own dtype (unsigned ones may exceed int64); an ignore_index the
        # dtype cannot hold equals no label.
        if ignore_index is not None and info.min <= ignore_index <= info.max:
            bad &= flat != flat.dtype.type(ignore_index)
        if bad.any():
            first = int(np.argmax(bad))
            ignored = "" if ignore_index is None else f" and is not ignore_index ({ignore_index})"
            raise ValueError(f"target: label {int(flat[first])} at {_describe_row(first, batch_shape)} "
                             f"is outside [0, {n_classes}){ignored}")
    return as_kernel_array(flat, np.int64), all_in_range


def _all_in_range(flat, n_classes):
    """True when every integer of the 1-D ``flat`` is in ``[0, n_classes)``."""
    if not flat.size:
        return True
    if flat.dtype is _INT64:
        # One reduction instead of a min and a max: seen as unsigned, a negative label is >= 2**63,
        # so every label is in [0, C) exactly when the unsigned maximum is below C.
        return int(_max_reduce(flat.view(np.uint64))) < n_classes
    return int(flat.min()) >= 0 and int(flat.max()) < n_classes


def classify_target(target, logits_shape):
    """Return "labels" or "probs" for ``target``, or raise naming what is wrong with it."""
    arr = np.asarray(target)
    kind = arr.dtype.kind
    batch_shape = tuple(logits_shape[:-1])
    if kind in "iu":
        return "labels"
    if kind == "f":
        if arr.shape == tuple(logits_shape):
            return "probs"
        if arr.shape == batch_shape:
            raise TypeError(f"target has the shape of class labels {arr.shape} but a floating dtype "
                            f"({arr.dtype}); pass integer class indices, e.g. target.astype(np.int64)")
        raise ValueError(f"target of shape {arr.shape} matches neither class labels (shape "
                         f"{batch_shape}) nor class probabilities (shape {tuple(logits_shape)})")
    raise TypeError(f"target must be integer class indices or floating class probabilities, "
                    f"got dtype {arr.dtype}")


def as_probs(target, logits_shape, dtype):
    """Class-probability targets as a C-contiguous ``(N, C)`` array of ``dtype``: finite, non-negative."""
    t = as_kernel_array(target, dtype).reshape(-1, logits_shape[-1])
    if t.size:
        low, high = t.min(), t.max()
        if not low >= 0:  # also catches NaN
            bad = int(np.argmax(~(t >= 0).all(axis=1)))
            raise ValueError(f"target probabilities must be non-negative and not NaN; row {bad} is not")
        if not np.isfinite(high):
            bad = int(np.argmax(~np.isfinite(t).all(axis=1)))
            raise ValueError(f"target probabilities must be finite; row {bad} holds inf")
    return t


def as_weights(weight, shape, name, what):
    """A C-contiguous float64 weight array of exactly ``shape``: finite and non-negative; if None,
    ones shared between calls (`_scratch.ones`: never write them)."""
    if weight is None:
        return _scratch.ones(math.prod(shape)).reshape(shape)
    w = np.asarray(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {w.dtype}")
    if w.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} ({what}), got {w.shape}")
    w = as_kernel_array(w, np.float64).reshape(-1)
    if w.size and not (np.isfinite(w).all() and w.min() >= 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return w


# Below it, 1 / denominator (the gradient's scale for a mean) times a weight may overflow.
_SMALL_DENOMINATOR = 2.0**-1000


def exponent_for_mean(denominator, weight, names):
    """The exponent ``k`` such that multiplying ``weight`` by ``2**k`` (exact, and the mean is
    unchanged, being a ratio linear in ``weight``) lifts a tiny mean ``denominator`` (subnormal
    weights) to about 1, so that the gradient's scale ``1 / denominator`` is finite; 0 when it is.

    Raises ValueError naming ``names`` when ``weight``'s largest value leaves no room for that."""
    if not 0 < denominator < _SMALL_DENOMINATOR:
        return 0
    largest = float(np.max(weight))
    k = min(-math.frexp(denominator)[1], 900 - math.frexp(largest)[1])
    if math.ldexp(denominator, k) < _SMALL_DENOMINATOR:
        raise ValueError(f"{names}: the mean's total weight {denominator:.3g} is too small next to the "
                         f"largest weight {largest:.3g} for its reciprocal to be finite; rescale the weights")
    return k


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def check_label_smoothing(label_smoothing):
    # float and int are Real; the ABC test (~0.4 us) is for the other types (bool is refused).
    if type(label_smoothing) not in (float, int) and (
            isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real)):
        raise TypeError(f"label_smoothing must be a real number, got {type(label_smoothing).__name__}")
    value = float(label_smoothing)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return value


_INT64_RANGE = np.iinfo(np.int64)


def check_ignore_index(ignore_index):
    if type(ignore_index) is not int and (  # int is Integral; the ABC test is for the other types
            isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral)):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    value = int(ignore_index)
    if not _INT64_RANGE.min <= value <= _INT64_RANGE.max:  # the kernels compare int64 labels with it
        raise ValueError(f"ignore_index must be in the int64 range [-2**63, 2**63), got {value}")
    return value


def check_out(out, shape, dtype, inputs, *, name="out", buffer_shape=None, may_alias_first=True):
    """Validate a user's output array and pick the C-contiguous 2-D buffer the kernel writes into
    (``out`` None: a new buffer, which `finish_out` returns in ``shape``).

    ``out`` may be the first input (the logits: the kernels read each row before overwriting it)
    unless ``may_alias_first`` is False. When ``out`` is not C-contiguous or overlaps an input it
    may not alias, the kernel writes into a temporary that ``finish_out`` copies into ``out``.

    Parameters
    ----------
    shape : tuple
        The shape ``out`` must have.
    inputs : sequence of ndarray
        The kernel's inputs, the first of them 2-D of the buffer's shape.
    buffer_shape : tuple, optional
        The 2-D shape of the kernel's buffer (default ``(-1, shape[-1])``).

    Returns
    -------
    buffer : ndarray, shape buffer_shape
    is_temporary : bool
    """
    if buffer_shape is None:
        buffer_shape = (math.prod(shape) // shape[-1], shape[-1])
    if out is None:
        return np.empty(buffer_shape, dtype=dtype), False
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"{name} must have dtype {dtype} (the computation's dtype), got {out.dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    if out.flags.c_contiguous and out.flags.aligned:
        buffer = out.reshape(buffer_shape)
        first, *others = inputs
        overlaps = False
        # may_share_memory (a bounds test) settles the usual disjoint case without the exact search,
        # and without the data-pointer comparison (``__array_interface__`` builds a dict, ~1.5 us).
        if np.may_share_memory(buffer, first):
            is_first = (may_alias_first and buffer.shape == first.shape
                        and buffer.__array_interface__["data"][0] == first.__array_interface__["data"][0])
            overlaps = not is_first and np.shares_memory(buffer, first)
        overlaps = overlaps or any(
            np.may_share_memory(buffer, other) and np.shares_memory(buffer, other) for other in others)
        if not overlaps:
            return buffer, False
    return np.empty(buffer_shape, dtype=dtype), True


def finish_out(out, buffer, is_temporary, shape):
    """The result: ``buffer`` in ``shape`` when no ``out`` was given; else ``out``, with the kernel's
    temporary ``buffer`` copied into it when one was used."""
    if out is None:
        return buffer.reshape(shape)
    if is_temporary:
        out[...] = buffer.reshape(out.shape)
    return out
