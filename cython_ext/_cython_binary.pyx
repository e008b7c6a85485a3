# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP kernels of the binary family (``fastxent._cython_binary``).

Implements the binary kernels of the contract in ``fastxent._kernels.numpy_ref``: chunks of
``chunk_rows`` rows are distributed over OpenMP threads (static schedule), each chunk computed by
one thread with the vector loops of ``fx_binary.h``, so results never depend on ``n_threads``.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from "fx_binary.h" nogil:
    int fx_all_equal(const double *w, Py_ssize_t n)
    Py_ssize_t fx_bce_chunk_f32(const float *x, const float *t, const float *w, const double *pw,
                          const double *sw, Py_ssize_t n_rows, Py_ssize_t n_labels,
                          Py_ssize_t chunk_rows, Py_ssize_t ch, int loss_mode, int probs, double eps,
                          double gscale, double *loss_out, float *g, float *h, int pw_uniform)
    Py_ssize_t fx_bce_chunk_f64(const double *x, const double *t, const double *w, const double *pw,
                          const double *sw, Py_ssize_t n_rows, Py_ssize_t n_labels,
                          Py_ssize_t chunk_rows, Py_ssize_t ch, int loss_mode, int probs,
                          double eps, double gscale, double *loss_out, double *g, double *h,
                          int pw_uniform)
    void fx_sigmoid_run_f32(const float *x, float *out, Py_ssize_t n, int log_sigmoid)
    void fx_sigmoid_run_f64(const double *x, double *out, Py_ssize_t n, int log_sigmoid)

__all__ = ["sigmoid_elems", "log_sigmoid_elems", "binary_ce_logits_loss", "binary_ce_logits_loss_grad",
           "binary_ce_probs_loss", "binary_ce_probs_loss_grad", "binary_ce_logits_grad_hess"]

cdef enum:
    ELEMENTS_PER_CHUNK = 16384  # sigmoid / log_sigmoid: work unit of one prange iteration


cdef int _check_shape(str name, Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t m0, Py_ssize_t m1) except -1:
    if n0 != m0 or n1 != m1:
        raise ValueError(f"{name} has shape ({n0}, {n1}), expected ({m0}, {m1})")
    return 0


cdef int _check_len(str name, Py_ssize_t got, Py_ssize_t want) except -1:
    if got != want:
        raise ValueError(f"{name} has length {got}, expected {want}")
    return 0


cdef Py_ssize_t _bce(const floating[:, ::1] x, const floating[:, ::1] target, const floating[:, ::1] weight,
              const double[::1] pos_weight, const double[::1] sample_weight, Py_ssize_t chunk_rows,
              int loss_mode, int probs, double eps, double grad_scale, double[::1] loss_out,
              floating[:, ::1] grad_out, floating[:, ::1] hess_out, int n_threads) except -1:
    """Shared body of every binary cross-entropy kernel (None memoryviews: that array is absent);
    returns the count of out-of-range inputs."""
    cdef Py_ssize_t n = target.shape[0], k = target.shape[1], n_chunks, ch, n_bad = 0
    cdef Py_ssize_t n_out
    cdef int pw_uniform
    cdef const floating *w = NULL
    cdef const double *sw = NULL
    cdef double *lo = NULL
    cdef floating *g = NULL
    cdef floating *h = NULL
    if n_threads < 1:
        raise ValueError(f"n_threads must be a positive int, got {n_threads}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    _check_shape("logits", x.shape[0], x.shape[1], n, k)
    _check_len("pos_weight", pos_weight.shape[0], k)
    n_chunks = (n + chunk_rows - 1) // chunk_rows
    if weight is not None:
        _check_shape("weight", weight.shape[0], weight.shape[1], n, k)
        if n and k:
            w = &weight[0, 0]
    if sample_weight is not None:
        _check_len("sample_weight", sample_weight.shape[0], n)
        if n:
            sw = &sample_weight[0]
    if loss_out is not None:
        if loss_mode == 0:
            n_out = n_chunks
        elif loss_mode == 1:
            n_out = n
        elif loss_mode == 2:
            n_out = n * k
        else:
            raise ValueError(f"loss_mode must be 0, 1 or 2, got {loss_mode}")
        _check_len("loss_out", loss_out.shape[0], n_out)
        if n_out:
            lo = &loss_out[0]
    if grad_out is not None:
        _check_shape("grad_out", grad_out.shape[0], grad_out.shape[1], n, k)
        if n and k:
            g = &grad_out[0, 0]
    if hess_out is not None:
        _check_shape("hess_out", hess_out.shape[0], hess_out.shape[1], n, k)
        if n and k:
            h = &hess_out[0, 0]
    if n == 0:
        return 0
    if k == 0:  # rows without labels: every sum is empty
        if lo != NULL and loss_mode != 2:
            loss_out[:] = 0.0
        return 0
    pw_uniform = fx_all_equal(&pos_weight[0], k)
    for ch in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            n_bad += fx_bce_chunk_f32(&x[0, 0], &target[0, 0], w, &pos_weight[0], sw, n, k, chunk_rows,
                                      ch, loss_mode, probs, eps, grad_scale, lo, g, h, pw_uniform)
        else:
            n_bad += fx_bce_chunk_f64(&x[0, 0], &target[0, 0], w, &pos_weight[0], sw, n, k, chunk_rows,
                                      ch, loss_mode, probs, eps, grad_scale, lo, g, h, pw_uniform)
    return n_bad


def binary_ce_logits_loss(const floating[:, ::1] logits, const floating[:, ::1] target,
                          const floating[:, ::1] weight, const double[::1] pos_weight,
                          const double[::1] sample_weight, Py_ssize_t chunk_rows, int loss_mode,
                          double[::1] loss_out, int n_threads):
    """Weighted binary cross-entropy from logits into ``loss_out`` (float64, per ``loss_mode``)."""
    cdef floating[:, ::1] none = None
    return _bce(logits, target, weight, pos_weight, sample_weight, chunk_rows, loss_mode, False, 0.0, 1.0,
                loss_out, none, none, n_threads)


def binary_ce_logits_loss_grad(const floating[:, ::1] logits, const floating[:, ::1] target,
                               const floating[:, ::1] weight, const double[::1] pos_weight,
                               const double[::1] sample_weight, Py_ssize_t chunk_rows, int loss_mode,
                               double grad_scale, double[::1] loss_out, floating[:, ::1] grad_out,
                               int n_threads):
    """Fused ``binary_ce_logits_loss`` plus ``grad_scale`` times the gradient into ``grad_out``
    (which may be ``logits``)."""
    cdef floating[:, ::1] none = None
    return _bce(logits, target, weight, pos_weight, sample_weight, chunk_rows, loss_mode, False, 0.0,
                grad_scale, loss_out, grad_out, none, n_threads)


def binary_ce_probs_loss(const floating[:, ::1] probs, const floating[:, ::1] target,
                         const floating[:, ::1] weight, const double[::1] pos_weight,
                         const double[::1] sample_weight, double eps, Py_ssize_t chunk_rows,
                         int loss_mode, double[::1] loss_out, int n_threads):
    """Weighted binary cross-entropy from probabilities clipped to ``[eps, 1 - eps]``."""
    cdef floating[:, ::1] none = None
    return _bce(probs, target, weight, pos_weight, sample_weight, chunk_rows, loss_mode, True, eps, 1.0,
                loss_out, none, none, n_threads)


def binary_ce_probs_loss_grad(const floating[:, ::1] probs, const floating[:, ::1] target,
                              const floating[:, ::1] weight, const double[::1] pos_weight,
                              const double[::1] sample_weight, double eps, Py_ssize_t chunk_rows,
                              int loss_mode, double grad_scale, double[::1] loss_out,
                              floating[:, ::1] grad_out, int n_threads):
    """Fused ``binary_ce_probs_loss`` plus ``grad_scale`` times d loss / d probs into ``grad_out``."""
    cdef floating[:, ::1] none = None
    return _bce(probs, target, weight, pos_weight, sample_weight, chunk_rows, loss_mode, True, eps,
                grad_scale, loss_out, grad_out, none, n_threads)


def binary_ce_logits_grad_hess(const floating[:, ::1] logits, const floating[:, ::1] target,
                               const floating[:, ::1] weight, const double[::1] pos_weight,
                               const double[::1] sample_weight, Py_ssize_t chunk_rows,
                               floating[:, ::1] grad_out, floating[:, ::1] hess_out, int n_threads):
    """Unreduced gradient and hessian of the element losses w.r.t. the logits."""
    cdef double[::1] no_loss = None
    if grad_out is None or hess_out is None:
        raise ValueError("grad_out and hess_out are required")
    return _bce(logits, target, weight, pos_weight, sample_weight, chunk_rows, 0, False, 0.0, 1.0, no_loss,
                grad_out, hess_out, n_threads)


cdef int _sigmoid(const floating[::1] x, floating[::1] out, int log_sigmoid, int n_threads) except -1:
    cdef Py_ssize_t n = x.shape[0], ch, start
    if n_threads < 1:
        raise ValueError(f"n_threads must be a positive int, got {n_threads}")
    _check_len("out", out.shape[0], n)
    for ch in prange((n + ELEMENTS_PER_CHUNK - 1) // ELEMENTS_PER_CHUNK, nogil=True,
                     schedule="static", num_threads=n_threads):
        start = ch * ELEMENTS_PER_CHUNK
        if floating is float:
            fx_sigmoid_run_f32(&x[start], &out[start], min(ELEMENTS_PER_CHUNK, n - start), log_sigmoid)
        else:
            fx_sigmoid_run_f64(&x[start], &out[start], min(ELEMENTS_PER_CHUNK, n - start), log_sigmoid)
    return 0


def sigmoid_elems(const floating[::1] x, floating[::1] out, int n_threads):
    """``out = 1 / (1 + exp(-x))`` elementwise (``out`` may be ``x``)."""
    _sigmoid(x, out, False, n_threads)


def log_sigmoid_elems(const floating[::1] x, floating[::1] out, int n_threads):
    """``out = log(sigmoid(x)) = -softplus(-x)`` elementwise (``out`` may be ``x``)."""
    _sigmoid(x, out, True, n_threads)
