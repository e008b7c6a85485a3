"""Optional arrays in Numba kernels: helpers that are specialised on whether an argument is None.

A kernel argument that may be None (no weights, no gradient output, or an input that is the output
array itself in an in-place call) is typed ``none`` by Numba, and each helper below compiles to
the right code for that case with no runtime test: ``store(None, ...)`` is nothing,
``at(None, i)`` is the constant 1.0. The loops calling them therefore vectorise as if the
optional part were not written at all.
"""

from numba import types
from numba.extending import overload

from ._jit import helper_options

__all__ = ["at", "flat_or", "row_or", "row_or_none", "slice_or", "slice_or_none", "store"]


def row_or(src, i, out_row):
    """``src[i]``, or ``out_row`` when ``src`` is None: the in-place call of a kernel, where the
    ``threaded(inplace=...)`` wrapper passes None for an input that is the output array."""
    return out_row if src is None else src[i]


@overload(row_or, inline="always", jit_options=helper_options())
def _row_or_overload(src, i, out_row):
    if isinstance(src, types.NoneType):
        return lambda src, i, out_row: out_row
    return lambda src, i, out_row: src[i]


def flat_or(src, out_flat):
    """``src`` flattened, or ``out_flat`` when ``src`` is None (in-place call)."""
    return out_flat if src is None else src.reshape(src.size)


@overload(flat_or, inline="always", jit_options=helper_options())
def _flat_or_overload(src, out_flat):
    if isinstance(src, types.NoneType):
        return lambda src, out_flat: out_flat
    return lambda src, out_flat: src.reshape(src.size)


def slice_or(src, start, stop, out_slice):
    """``src[start:stop]``, or ``out_slice`` when ``src`` is None (in-place call)."""
    return out_slice if src is None else src[start:stop]


@overload(slice_or, inline="always", jit_options=helper_options())
def _slice_or_overload(src, start, stop, out_slice):
    if isinstance(src, types.NoneType):
        return lambda src, start, stop, out_slice: out_slice
    return lambda src, start, stop, out_slice: src[start:stop]


def store(out, c, value):
    """``out[c] = value``, or nothing when ``out`` is None (e.g. a loss-only kernel writes no row)."""
    if out is not None:
        out[c] = value


@overload(store, inline="always", jit_options=helper_options())
def _store_overload(out, c, value):
    if isinstance(out, types.NoneType):
        return lambda out, c, value: None

    def store_impl(out, c, value):
        out[c] = value
    return store_impl


def at(values, i):
    """``values[i]`` for an array, ``values`` itself for a scalar, 1.0 for None (a missing weight)."""
    if values is None:
        return 1.0
    return values if isinstance(values, float) else values[i]


@overload(at, inline="always", jit_options=helper_options())
def _at_overload(values, i):
    if isinstance(values, types.NoneType):
        return lambda values, i: 1.0
    if isinstance(values, types.Number):
        return lambda values, i: values
    return lambda values, i: values[i]


def row_or_none(values, i):
    """``values[i]`` (a row), or None when ``values`` is None."""
    return None if values is None else values[i]


@overload(row_or_none, inline="always", jit_options=helper_options())
def _row_or_none_overload(values, i):
    if isinstance(values, types.NoneType):
        return lambda values, i: None
    return lambda values, i: values[i]


def slice_or_none(values, start, stop):
    """``values[start:stop]``, or None when ``values`` is None."""
    return None if values is None else values[start:stop]


@overload(slice_or_none, inline="always", jit_options=helper_options())
def _slice_or_none_overload(values, start, stop):
    if isinstance(values, types.NoneType):
        return lambda values, start, stop: None
    return lambda values, start, stop: values[start:stop]
