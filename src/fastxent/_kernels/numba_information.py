"""Numba kernels of the information measures (contract: ``numpy_ref``).

Rows are distributed over threads (``prange``); each row is summed by one thread in float64 with
the vectorisable ``vlog`` (float32 inputs are widened element by element) and a reassociable add
(``radd``), so the inner loops vectorise and the result does not depend on the thread count.
A term with ``p_c == 0`` is replaced by 0 with a select, not a branch (its ``0 * inf`` would be
NaN), unless ``q_c`` is NaN there, as in the NumPy reference.
"""

import numpy as np
from numba import prange

from ._jit import inline_helper, threaded
from ._numba_math import as_dtype_of, radd, vlog
from .numpy_information import KERNELS

__all__ = list(KERNELS)


@inline_helper
def _entropy_term(pc, qc):
    term = -pc * vlog(pc)
    return 0.0 if pc == 0.0 else term


@inline_helper
def _cross_entropy_term(pc, qc):
    term = -pc * vlog(qc)
    return 0.0 if (pc == 0.0) & (qc == qc) else term


@inline_helper
def _kl_divergence_term(pc, qc):
    term = pc * vlog(pc / qc)
    return 0.0 if (pc == 0.0) & (qc == qc) else term


@inline_helper
def _row_sum(term, p, q):
    """``sum_c term(p_c, q_c)`` in float64 (one vectorised loop)."""
    s = 0.0
    for c in range(p.shape[0]):
        s = radd(s, term(np.float64(p[c]), np.float64(q[c])))
    return s


@threaded
def surprisal_elems(p, scale, out, n_threads):
    """``out[i] = -scale * log(p[i])`` (``+inf`` at 0), in ``out``'s dtype."""
    for i in prange(p.shape[0]):
        out[i] = as_dtype_of(out, -scale * vlog(np.float64(p[i])))


@threaded
def entropy_rows(p, scale, out, n_threads):
    """``out[i] = scale * sum_c -p_ic log p_ic``."""
    for i in prange(p.shape[0]):
        out[i] = scale * _row_sum(_entropy_term, p[i], p[i])


@threaded
def cross_entropy_rows(p, q, scale, out, n_threads):
    """``out[i] = scale * sum_c -p_ic log q_ic``."""
    for i in prange(p.shape[0]):
        out[i] = scale * _row_sum(_cross_entropy_term, p[i], q[i])


@threaded
def kl_divergence_rows(p, q, scale, out, n_threads):
    """``out[i] = scale * sum_c p_ic log(p_ic / q_ic)``."""
    for i in prange(p.shape[0]):
        out[i] = scale * _row_sum(_kl_divergence_term, p[i], q[i])
