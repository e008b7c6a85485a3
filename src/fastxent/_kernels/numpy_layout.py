"""NumPy reference of the layout kernel: the transposing copy that turns column-major logits into
rows (the readable twin of ``numba_layout`` and ``fastxent._cython_layout``).

The contract is documented in ``numpy_ref``.
"""

KERNELS = ("transpose",)

__all__ = list(KERNELS)


def transpose(x, out, n_threads):
    """``out[j, i] = x[i, j]``: ``x`` (R, K) with contiguous rows (any row stride), ``out`` (K, R)."""
    out[...] = x.T
