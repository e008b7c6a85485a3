# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP kernels of the information measures (``fastxent._cython_information``); contract:
``fastxent._kernels.numpy_ref``.

Rows (or blocks of elements) are distributed over OpenMP threads with a static schedule; each row
is summed by one thread with the same vectorised C loop (``fx_information.h``), so results never
depend on ``n_threads``.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from "fx_information.h" nogil:
    void fx_surprisal_f32(const float *p, float *out, Py_ssize_t n, double scale)
    void fx_surprisal_f64(const double *p, double *out, Py_ssize_t n, double scale)
    double fx_entropy_row_f32(const float *p, Py_ssize_t n)
    double fx_entropy_row_f64(const double *p, Py_ssize_t n)
    double fx_cross_entropy_row_f32(const float *p, const float *q, Py_ssize_t n)
    double fx_cross_entropy_row_f64(const double *p, const double *q, Py_ssize_t n)
    double fx_kl_divergence_row_f32(const float *p, const float *q, Py_ssize_t n)
    double fx_kl_divergence_row_f64(const double *p, const double *q, Py_ssize_t n)

__all__ = ["surprisal_elems", "entropy_rows", "cross_entropy_rows", "kl_divergence_rows"]

cdef enum:
    ELEMS_PER_BLOCK = 16384  # elements per OpenMP work item of surprisal_elems (long vector loops)


cdef int _check_call(Py_ssize_t n, Py_ssize_t out_len, int n_threads) except -1:
    if n_threads < 1:
        raise ValueError(f"n_threads must be a positive int, got {n_threads}")
    if out_len != n:
        raise ValueError(f"out has length {out_len}, expected {n}")
    return 0


def surprisal_elems(const floating[::1] p, double scale, floating[::1] out, int n_threads):
    """``out[i] = -scale * log(p[i])`` (``+inf`` at 0), in the dtype of ``p``."""
    cdef Py_ssize_t n = p.shape[0], n_blocks = (n + ELEMS_PER_BLOCK - 1) // ELEMS_PER_BLOCK
    cdef Py_ssize_t b, start, length
    _check_call(n, out.shape[0], n_threads)
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        start = b * ELEMS_PER_BLOCK
        length = n - start if n - start < ELEMS_PER_BLOCK else ELEMS_PER_BLOCK
        if floating is float:
            fx_surprisal_f32(&p[start], &out[start], length, scale)
        else:
            fx_surprisal_f64(&p[start], &out[start], length, scale)


def entropy_rows(const floating[:, ::1] p, double scale, double[::1] out, int n_threads):
    """``out[i] = scale * sum_c -p_ic log p_ic`` (``0 log 0 = 0``), float64 ``(N,)``."""
    cdef Py_ssize_t n = p.shape[0], k = p.shape[1], i
    _check_call(n, out.shape[0], n_threads)
    if k == 0:
        out[:] = 0.0  # an empty sum
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            out[i] = scale * fx_entropy_row_f32(&p[i, 0], k)
        else:
            out[i] = scale * fx_entropy_row_f64(&p[i, 0], k)


cdef enum Measure:
    CROSS_ENTROPY
    KL_DIVERGENCE


cdef int _pair_rows(const floating[:, ::1] p, const floating[:, ::1] q, double scale,
                    double[::1] out, Measure measure, int n_threads) except -1:
    """Shared body of the two kernels of a pair of distributions ``p``, ``q``."""
    cdef Py_ssize_t n = p.shape[0], k = p.shape[1], i
    _check_call(n, out.shape[0], n_threads)
    if q.shape[0] != n or q.shape[1] != k:
        raise ValueError(f"q has shape ({q.shape[0]}, {q.shape[1]}), expected ({n}, {k})")
    if k == 0:
        out[:] = 0.0
        return 0
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if measure == CROSS_ENTROPY:
            if floating is float:
                out[i] = scale * fx_cross_entropy_row_f32(&p[i, 0], &q[i, 0], k)
            else:
                out[i] = scale * fx_cross_entropy_row_f64(&p[i, 0], &q[i, 0], k)
        else:
            if floating is float:
                out[i] = scale * fx_kl_divergence_row_f32(&p[i, 0], &q[i, 0], k)
            else:
                out[i] = scale * fx_kl_divergence_row_f64(&p[i, 0], &q[i, 0], k)
    return 0


def cross_entropy_rows(const floating[:, ::1] p, const floating[:, ::1] q, double scale,
                       double[::1] out, int n_threads):
    """``out[i] = scale * sum_c -p_ic log q_ic``; terms with ``p_ic == 0`` count 0."""
    _pair_rows(p, q, scale, out, CROSS_ENTROPY, n_threads)


def kl_divergence_rows(const floating[:, ::1] p, const floating[:, ::1] q, double scale,
                       double[::1] out, int n_threads):
    """``out[i] = scale * sum_c p_ic log(p_ic / q_ic)``; terms with ``p_ic == 0`` count 0."""
    _pair_rows(p, q, scale, out, KL_DIVERGENCE, n_threads)

