"""Numba layout kernel (contract: ``numpy_ref``): the transposing copy of column-major logits.

Output rows are cut in panels of ``PANEL`` rows, distributed over threads (``prange``); a panel is
copied in ``PANEL x PANEL`` tiles, so it writes its output rows from start to end and reads a short
run of every input row at a time (cache lines are used whole, where an element-by-element copy
would fetch a line of the input for each element it writes).
"""

from numba import prange

from ._jit import threaded
from .numpy_layout import KERNELS

__all__ = list(KERNELS)

# 8 x 8 tiles, which LLVM turns into vector shuffles (interleaved medians, float32):
#   tiles                                         16 x 16   8 x 8    4 x 4
#   4,194 x 1,000 from memory, one thread         6.3 ms    3.4 ms   3.1 ms
#   4 MiB blocks, two threads: 1,048 x 1,000      255 us    158 us   205 us
#                              10,480 x 100       274 us    193 us   200 us
#                              104,848 x 10       273 us    323 us   356 us
# (float64, 2,097 x 1,000 from memory: 3.9, 3.25 and 2.35 ms.)
PANEL = 8


@threaded
def transpose(x, out, n_threads):
    """``out[j, i] = x[i, j]``: ``x`` (R, K) with contiguous rows (any row stride), ``out`` (K, R)."""
    r, k = x.shape
    for p in prange((k + PANEL - 1) // PANEL):
        j0 = p * PANEL
        width = min(PANEL, k - j0)
        i0 = 0
        if width == PANEL:  # whole tiles: constant trip counts, which LLVM unrolls
            while i0 + PANEL <= r:
                for j in range(PANEL):
                    for i in range(PANEL):
                        out[j0 + j, i0 + i] = x[i0 + i, j0 + j]
                i0 += PANEL
        for j in range(j0, j0 + width):  # a narrower last panel, or the rows after the last whole tile
            for i in range(i0, r):
                out[j, i] = x[i, j]
