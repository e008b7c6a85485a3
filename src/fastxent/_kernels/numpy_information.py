"""NumPy reference kernels of the information measures (surprisal, entropy, cross-entropy, KL);
the contract is in ``numpy_ref``.

The terms follow ``scipy.special.entr`` / ``rel_entr``: a term with ``p_c == 0`` counts 0
(``0 log 0 = 0``, and ``0 log(0 / 0) = 0``), ``q_c == 0 < p_c`` gives ``+inf``, and a NaN in
``p_c`` or ``q_c`` makes the term, hence its row, NaN (also where ``p_c == 0``).
"""

import numpy as np

KERNELS = (
    "surprisal_elems",
    "entropy_rows",
    "cross_entropy_rows",
    "kl_divergence_rows",
)

__all__ = list(KERNELS)


def _zero_where_p_is_zero(terms, p, q):
    """``terms`` with 0 where ``p == 0`` (``0 * inf`` there is NaN), unless ``q`` is NaN there."""
    return np.where((p == 0) & ~np.isnan(q), 0.0, terms)


def surprisal_elems(p, scale, out, n_threads):
    """``out[i] = -scale * log(p[i])`` for 1-D ``p`` and ``out`` of one dtype (``+inf`` at 0)."""
    with np.errstate(divide="ignore"):
        out[:] = -scale * np.log(np.asarray(p, dtype=np.float64))


def entropy_rows(p, scale, out, n_threads):
    """``out[i] = scale * sum_c -p_ic log p_ic`` (float64 ``(N,)``), ``0 log 0 = 0``."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = _zero_where_p_is_zero(-p * np.log(p), p, p)
    out[:] = scale * np.sum(terms, axis=1)


def cross_entropy_rows(p, q, scale, out, n_threads):
    """``out[i] = scale * sum_c -p_ic log q_ic``; terms with ``p_ic == 0`` count 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = _zero_where_p_is_zero(-p * np.log(q), p, q)
    out[:] = scale * np.sum(terms, axis=1)


def kl_divergence_rows(p, q, scale, out, n_threads):
    """``out[i] = scale * sum_c p_ic log(p_ic / q_ic)``; terms with ``p_ic == 0`` count 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = _zero_where_p_is_zero(p * np.log(p / q), p, q)
    out[:] = scale * np.sum(terms, axis=1)
