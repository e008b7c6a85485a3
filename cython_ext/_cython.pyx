# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP kernels of fastxent (``fastxent._cython``).

Implements the kernel contract of ``fastxent._kernels.numpy_ref`` (same names, same positional
parameters, same results within floating-point rounding).  Rows are distributed over OpenMP
threads with a static schedule; each row is computed by the same code whatever the thread count,
so results never depend on ``n_threads``.  The per-row loops are vectorised C (``fx_math.h``,
``fx_rows.inc``); sums are accumulated in float64 whatever the logits' dtype.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport NAN
from libc.stdint cimport int64_t

cdef extern from "fx_math.h" nogil:
    int FX_SMALL_MAXROWS
    int fx_all_equal(const double *w, Py_ssize_t n)
    void fx_row_exp_f32(const float *x, float *out, Py_ssize_t n)
    void fx_row_exp_f64(const double *x, double *out, Py_ssize_t n)
    float fx_row_shift_f32(const float *z, Py_ssize_t n)
    double fx_row_shift_f64(const double *z, Py_ssize_t n)
    double fx_row_sumexp_f32(const float *z, float *out, Py_ssize_t n, float m)
    double fx_row_sumexp_f64(const double *z, double *out, Py_ssize_t n, double m)
    double fx_row_logsumexp_f32(const float *z, Py_ssize_t n)
    double fx_row_logsumexp_f64(const double *z, Py_ssize_t n)
    void fx_row_log_softmax_f32(const float *z, float *out, Py_ssize_t n)
    void fx_row_log_softmax_f64(const double *z, double *out, Py_ssize_t n)
    void fx_row_softmax_f32(const float *z, float *out, Py_ssize_t n)
    void fx_row_softmax_f64(const double *z, double *out, Py_ssize_t n)
    void fx_row_fill_f32(float *out, Py_ssize_t n, float v)
    void fx_row_fill_f64(double *out, Py_ssize_t n, double v)
    double fx_row_ce_label_f32(const float *z, float *g, Py_ssize_t n, Py_ssize_t y,
                               const double *w, int w_uniform, double W, double eps, double s,
                               double gscale, unsigned char *top1)
    double fx_row_ce_label_f64(const double *z, double *g, Py_ssize_t n, Py_ssize_t y,
                               const double *w, int w_uniform, double W, double eps, double s,
                               double gscale, unsigned char *top1)
    double fx_row_ce_probs_f32(const float *z, const float *t, float *g, Py_ssize_t n,
                               const double *w, double eps, double s, double gscale)
    double fx_row_ce_probs_f64(const double *z, const double *t, double *g, Py_ssize_t n,
                               const double *w, double eps, double s, double gscale)

    Py_ssize_t fx_block_ce_label_f32(const float *z, float *g, Py_ssize_t nr, Py_ssize_t n,
                                     const int64_t *labels, int64_t ignore, const double *sw,
                                     double *loss_out, const double *w, int w_uniform, double W,
                                     double eps, double gscale)
    Py_ssize_t fx_block_ce_label_f64(const double *z, double *g, Py_ssize_t nr, Py_ssize_t n,
                                     const int64_t *labels, int64_t ignore, const double *sw,
                                     double *loss_out, const double *w, int w_uniform, double W,
                                     double eps, double gscale)
    void fx_row_ce_label_grad_hess_f32(const float *z, float *g, float *h, Py_ssize_t n,
                                       Py_ssize_t y, double s)
    void fx_row_ce_label_grad_hess_f64(const double *z, double *g, double *h, Py_ssize_t n,
                                       Py_ssize_t y, double s)
    void fx_row_ce_probs_grad_hess_f32(const float *z, const float *t, float *g, float *h,
                                       Py_ssize_t n, double s)
    void fx_row_ce_probs_grad_hess_f64(const double *z, const double *t, double *g, double *h,
                                       Py_ssize_t n, double s)
    int fx_row_label_is_argmax_f32(const float *z, Py_ssize_t n, Py_ssize_t y)
    int fx_row_label_is_argmax_f64(const double *z, Py_ssize_t n, Py_ssize_t y)
    Py_ssize_t fx_small_rows(Py_ssize_t n)
    int FX_SMALL_C

    int fx_openmp_max_threads()
    int FX_OPENMP_ENABLED
    long FX_OPENMP_SPEC
    int FX_BUILD_NATIVE
    int FX_TILE16_AVAILABLE
    const char *FX_BUILD_COMPILER_ID
    const char *FX_BUILD_COMPILER_VERSION
    const char *FX_BUILD_C_FLAGS
    const char *FX_BUILD_OPENMP_VERSION
    const char *FX_BUILD_TYPE


OPENMP_ENABLED = bool(FX_OPENMP_ENABLED)

# The sample weights of a block of the small-C kernels when the caller gave none (blocks have at
# most FX_SMALL_MAXROWS rows): read instead of N ones.
cdef double _ones_block[256]
if FX_SMALL_MAXROWS > 256:
    raise ImportError(f"fastxent._cython: FX_SMALL_MAXROWS = {FX_SMALL_MAXROWS} > 256 ones")
for _i in range(256):
    _ones_block[_i] = 1.0
del _i

BUILD_INFO = {
    "compiler_id": FX_BUILD_COMPILER_ID.decode("utf-8", "replace"),
    "compiler_version": FX_BUILD_COMPILER_VERSION.decode("utf-8", "replace"),
    "build_type": FX_BUILD_TYPE.decode("utf-8", "replace"),
    "c_flags": FX_BUILD_C_FLAGS.decode("utf-8", "replace"),
    "native": bool(FX_BUILD_NATIVE),
    "openmp": bool(FX_OPENMP_ENABLED),
    "openmp_version": FX_BUILD_OPENMP_VERSION.decode("utf-8", "replace") or None,
    "openmp_spec_date": int(FX_OPENMP_SPEC) or None,
    # float32 labels with <= 16 classes: 16-row AVX-512 tiles (fx_tile16.h), else row by row
    "avx512_small_class_tiles": bool(FX_TILE16_AVAILABLE),
}


def openmp_max_threads():
    """``omp_get_max_threads()`` of the OpenMP runtime (1 for a build without OpenMP)."""
    return fx_openmp_max_threads()


# --------------------------------------------------------------------------- argument checks

cdef inline int _check_threads(int n_threads) except -1:
    if n_threads < 1:
        raise ValueError(f"n_threads must be a positive int, got {n_threads}")
    return 0


cdef inline int _check_len(Py_ssize_t got, Py_ssize_t want, str what) except -1:
    if got != want:
        raise ValueError(f"{what} has length {got}, expected {want}")
    return 0


cdef inline const double *_sample_weights(const double[::1] sample_weight, Py_ssize_t n) except? NULL:
    """The first of ``n`` sample weights, NULL for None (all ones), after a length check."""
    if sample_weight is None:
        return NULL
    _check_len(sample_weight.shape[0], n, "sample_weight")
    return &sample_weight[0] if n > 0 else NULL


cdef inline double _weight(const double *sw, Py_ssize_t i) noexcept nogil:
    """Row ``i``'s sample weight (`_sample_weights`: NULL means all ones)."""
    return sw[i] if sw != NULL else 1.0


cdef inline int _check_2d(Py_ssize_t n0, Py_ssize_t n1, Py_ssize_t m0, Py_ssize_t m1,
                          str what) except -1:
    if n0 != m0 or n1 != m1:
        raise ValueError(f"{what} has shape ({n0}, {n1}), expected ({m0}, {m1})")
    return 0


# --------------------------------------------------------------------------- elementwise / rows

def exp_rows(const floating[:, ::1] x, floating[:, ::1] out, int n_threads):
    """``out[i, c] = exp(x[i, c])`` (``out`` may be ``x``).

    The vectorised exp of ``fx_math.h`` (fx_expf / fx_exp), exposed for the accuracy tests.  The
    row kernels' exp pass is ``_shifted_exp_rows``.
    """
    cdef Py_ssize_t n = x.shape[0], k = x.shape[1], i
    _check_threads(n_threads)
    _check_2d(out.shape[0], out.shape[1], n, k, "out")
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            fx_row_exp_f32(&x[i, 0], &out[i, 0], k)
        else:
            fx_row_exp_f64(&x[i, 0], &out[i, 0], k)


def _shifted_exp_rows(const floating[:, ::1] x, floating[:, ::1] out, double[::1] sums):
    """``out[i, c] = exp(x[i, c] - max_c x[i, c])``, ``sums[i] = sum_c out[i, c]`` in float64.

    The row kernels' exp pass (``fx_row_sumexp``: with AVX-512, float32 rows take the table-driven
    ``fx_expf_nonpos_x16``), exposed for the accuracy tests; one thread, not part of the kernel
    contract.  Rows must not be empty.
    """
    cdef Py_ssize_t n = x.shape[0], k = x.shape[1], i
    _check_2d(out.shape[0], out.shape[1], n, k, "out")
    _check_len(sums.shape[0], n, "sums")
    if k == 0:
        raise ValueError("x has no columns")
    with nogil:
        for i in range(n):
            if floating is float:
                sums[i] = fx_row_sumexp_f32(&x[i, 0], &out[i, 0], k, fx_row_shift_f32(&x[i, 0], k))
            else:
                sums[i] = fx_row_sumexp_f64(&x[i, 0], &out[i, 0], k, fx_row_shift_f64(&x[i, 0], k))


def logsumexp_rows(const floating[:, ::1] logits, floating[::1] out, int n_threads):
    """``out[i] = log(sum_c exp(logits[i, c]))``; ``out`` is ``(N,)`` of the logits' dtype."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i
    _check_threads(n_threads)
    _check_len(out.shape[0], n, "out")
    if n == 0:
        return
    if k == 0:
        out[:] = -float("inf")
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            out[i] = <float>fx_row_logsumexp_f32(&logits[i, 0], k)
        else:
            out[i] = fx_row_logsumexp_f64(&logits[i, 0], k)


def log_softmax_rows(const floating[:, ::1] logits, floating[:, ::1] out, int n_threads):
    """``out[i, c] = logits[i, c] - logsumexp(logits[i])``; ``out`` may be ``logits``."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i
    _check_threads(n_threads)
    _check_2d(out.shape[0], out.shape[1], n, k, "out")
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            fx_row_log_softmax_f32(&logits[i, 0], &out[i, 0], k)
        else:
            fx_row_log_softmax_f64(&logits[i, 0], &out[i, 0], k)


def softmax_rows(const floating[:, ::1] logits, floating[:, ::1] out, int n_threads):
    """``out[i, c] = exp(logits[i, c]) / sum_k exp(logits[i, k])``; ``out`` may be ``logits``."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i
    _check_threads(n_threads)
    _check_2d(out.shape[0], out.shape[1], n, k, "out")
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            fx_row_softmax_f32(&logits[i, 0], &out[i, 0], k)
        else:
            fx_row_softmax_f64(&logits[i, 0], &out[i, 0], k)


# --------------------------------------------------------------------------- cross-entropy

cdef inline double _sum_weights(const double[::1] w) noexcept nogil:
    cdef double W = 0.0
    cdef Py_ssize_t c
    for c in range(w.shape[0]):
        W += w[c]
    return W


cdef inline void _top1_rows(const floating *z, Py_ssize_t k, const int64_t *labels, int64_t ignore_index,
                            Py_ssize_t nr, unsigned char *top1) noexcept nogil:
    """``top1[r] = argmax(z[r]) == labels[r]`` for the ``nr`` rows of ``k`` logits at ``z`` (0 for ignored
    and out-of-range labels); called right after those rows' losses, while they are in cache.
    (Pointers, not memoryviews: a memoryview argument costs an atomic reference count per call,
    which the two threads then fight over.)"""
    cdef Py_ssize_t r
    cdef int64_t y
    for r in range(nr):
        y = labels[r]
        if y == ignore_index or y < 0 or y >= k:
            top1[r] = 0
        elif floating is float:
            top1[r] = fx_row_label_is_argmax_f32(z + r * k, k, <Py_ssize_t>y)
        else:
            top1[r] = fx_row_label_is_argmax_f64(z + r * k, k, <Py_ssize_t>y)


cdef Py_ssize_t _ce_labels(const floating[:, ::1] logits, const int64_t[::1] labels,
                           const double[::1] class_weight, const double[::1] sample_weight,
                           int64_t ignore_index, double label_smoothing, double grad_scale,
                           double[::1] loss_out, floating[:, ::1] grad_out, bint with_grad,
                           unsigned char *top1, int n_threads) except -1:
    """Shared body of the labels kernels (``grad_out`` is unused unless ``with_grad``; ``top1``,
    when not NULL, receives the rows' top-1 flags)."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i, bad = 0
    cdef Py_ssize_t rb, n_blocks, b, r0, nr
    cdef int64_t y
    cdef double W, s
    cdef bint uniform
    cdef floating *g
    cdef const double *sw
    _check_threads(n_threads)
    _check_len(labels.shape[0], n, "labels")
    _check_len(class_weight.shape[0], k, "class_weight")
    sw = _sample_weights(sample_weight, n)
    _check_len(loss_out.shape[0], n, "loss_out")
    if with_grad:
        _check_2d(grad_out.shape[0], grad_out.shape[1], n, k, "grad_out")
    if n == 0:
        return 0
    W = _sum_weights(class_weight)
    uniform = k > 0 and fx_all_equal(&class_weight[0], k)
    if 0 < k <= FX_SMALL_C:
        # Few classes: blocks of rb rows (a function of k only), each done by one thread with long
        # vector loops over the whole block (fx_block_ce_label).
        rb = fx_small_rows(k)
        n_blocks = (n + rb - 1) // rb
        for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
            r0 = b * rb
            nr = n - r0 if n - r0 < rb else rb
            g = &grad_out[r0, 0] if with_grad else NULL
            if floating is float:
                bad += fx_block_ce_label_f32(&logits[r0, 0], g, nr, k, &labels[r0], ignore_index,
                                             sw + r0 if sw != NULL else _ones_block, &loss_out[r0],
                                             &class_weight[0],
                                             uniform, W, label_smoothing, grad_scale)
            else:
                bad += fx_block_ce_label_f64(&logits[r0, 0], g, nr, k, &labels[r0], ignore_index,
                                             sw + r0 if sw != NULL else _ones_block, &loss_out[r0],
                                             &class_weight[0],
                                             uniform, W, label_smoothing, grad_scale)
            if top1 != NULL:
                _top1_rows(&logits[r0, 0], k, &labels[r0], ignore_index, nr, top1 + r0)
        return bad
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        y = labels[i]
        s = _weight(sw, i)
        g = &grad_out[i, 0] if with_grad else NULL
        if y == ignore_index:
            loss_out[i] = s * 0.0
            if top1 != NULL:
                top1[i] = 0
            if with_grad and k > 0:
                if floating is float:
                    fx_row_fill_f32(g, k, 0.0)
                else:
                    fx_row_fill_f64(g, k, 0.0)
        elif y < 0 or y >= k:
            bad += 1
            loss_out[i] = NAN
            if top1 != NULL:
                top1[i] = 0
            if with_grad and k > 0:
                if floating is float:
                    fx_row_fill_f32(g, k, NAN)
                else:
                    fx_row_fill_f64(g, k, NAN)
        elif floating is float:  # (top1 != NULL: the loss kernel's top-1 flags, from its max pass)
            loss_out[i] = fx_row_ce_label_f32(&logits[i, 0], g, k, <Py_ssize_t>y, &class_weight[0],
                                              uniform, W, label_smoothing, s, grad_scale,
                                              top1 + i if top1 != NULL else NULL)
        else:
            loss_out[i] = fx_row_ce_label_f64(&logits[i, 0], g, k, <Py_ssize_t>y, &class_weight[0],
                                              uniform, W, label_smoothing, s, grad_scale,
                                              top1 + i if top1 != NULL else NULL)
    return bad


cdef int _ce_probs(const floating[:, ::1] logits, const floating[:, ::1] target,
                   const double[::1] class_weight, const double[::1] sample_weight,
                   double label_smoothing, double grad_scale, double[::1] loss_out,
                   floating[:, ::1] grad_out, bint with_grad, int n_threads) except -1:
    """Shared body of the two probability-target kernels."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i
    cdef floating *g
    cdef const double *sw
    _check_threads(n_threads)
    _check_2d(target.shape[0], target.shape[1], n, k, "target")
    _check_len(class_weight.shape[0], k, "class_weight")
    sw = _sample_weights(sample_weight, n)
    _check_len(loss_out.shape[0], n, "loss_out")
    if with_grad:
        _check_2d(grad_out.shape[0], grad_out.shape[1], n, k, "grad_out")
    if n == 0:
        return 0
    if k == 0:
        # No class: every loss is an empty sum (0) and there is no gradient to write.
        for i in range(n):
            loss_out[i] = _weight(sw, i) * 0.0
        return 0
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        g = &grad_out[i, 0] if with_grad else NULL
        if floating is float:
            loss_out[i] = fx_row_ce_probs_f32(&logits[i, 0], &target[i, 0], g, k,
                                              &class_weight[0], label_smoothing,
                                              _weight(sw, i), grad_scale)
        else:
            loss_out[i] = fx_row_ce_probs_f64(&logits[i, 0], &target[i, 0], g, k,
                                              &class_weight[0], label_smoothing,
                                              _weight(sw, i), grad_scale)
    return 0


def softmax_ce_labels_loss(const floating[:, ::1] logits, const int64_t[::1] labels,
                           const double[::1] class_weight, const double[::1] sample_weight,
                           int64_t ignore_index, double label_smoothing, double[::1] loss_out,
                           int n_threads):
    """Weighted per-row softmax cross-entropy for integer labels into ``loss_out`` (N,) float64.

    Returns the number of rows whose label is neither in ``[0, C)`` nor ``ignore_index`` (those
    rows get a NaN loss).
    """
    # No gradient: a None memoryview typed like the logits, never indexed (with_grad=False).
    cdef floating[:, ::1] no_grad
    no_grad = None
    return int(_ce_labels(logits, labels, class_weight, sample_weight, ignore_index,
                          label_smoothing, 0.0, loss_out, no_grad, False, NULL, n_threads))


def softmax_ce_labels_loss_top1(const floating[:, ::1] logits, const int64_t[::1] labels,
                                const double[::1] class_weight, const double[::1] sample_weight,
                                int64_t ignore_index, double label_smoothing, double[::1] loss_out,
                                unsigned char[::1] top1_out, int n_threads):
    """``softmax_ce_labels_loss`` plus ``top1_out`` (N,) uint8: 1 where the label is the row's
    argmax (NumPy's rule: the first maximum, a NaN counting as the maximum), else 0."""
    cdef floating[:, ::1] no_grad
    no_grad = None
    _check_len(top1_out.shape[0], logits.shape[0], "top1_out")
    if logits.shape[0] == 0:
        return 0
    return int(_ce_labels(logits, labels, class_weight, sample_weight, ignore_index,
                          label_smoothing, 0.0, loss_out, no_grad, False, &top1_out[0], n_threads))


def softmax_ce_labels_loss_grad(const floating[:, ::1] logits, const int64_t[::1] labels,
                                const double[::1] class_weight, const double[::1] sample_weight,
                                int64_t ignore_index, double label_smoothing, double grad_scale,
                                double[::1] loss_out, floating[:, ::1] grad_out, int n_threads):
    """Fused ``softmax_ce_labels_loss`` plus the scaled gradient into ``grad_out`` (N, C).

    ``grad_out`` may be ``logits`` itself.  Returns the number of bad-label rows (NaN loss and
    NaN gradient row).
    """
    return int(_ce_labels(logits, labels, class_weight, sample_weight, ignore_index,
                          label_smoothing, grad_scale, loss_out, grad_out, True, NULL, n_threads))


def softmax_ce_probs_loss(const floating[:, ::1] logits, const floating[:, ::1] target,
                          const double[::1] class_weight, const double[::1] sample_weight,
                          double label_smoothing, double[::1] loss_out, int n_threads):
    """Weighted per-row softmax cross-entropy for probability targets (N, C)."""
    cdef floating[:, ::1] no_grad
    no_grad = None
    _ce_probs(logits, target, class_weight, sample_weight, label_smoothing, 0.0, loss_out,
              no_grad, False, n_threads)


def softmax_ce_probs_loss_grad(const floating[:, ::1] logits, const floating[:, ::1] target,
                               const double[::1] class_weight, const double[::1] sample_weight,
                               double label_smoothing, double grad_scale, double[::1] loss_out,
                               floating[:, ::1] grad_out, int n_threads):
    """Fused ``softmax_ce_probs_loss`` plus the scaled gradient into ``grad_out`` (N, C).

    ``grad_out`` may be ``logits`` itself.
    """
    _ce_probs(logits, target, class_weight, sample_weight, label_smoothing, grad_scale,
              loss_out, grad_out, True, n_threads)


def softmax_ce_labels_grad_hess(const floating[:, ::1] logits, const int64_t[::1] labels,
                                const double[::1] sample_weight, floating[:, ::1] grad_out,
                                floating[:, ::1] hess_out, int n_threads):
    """Per-element gradient ``s_i (p - onehot(y_i))`` and diagonal hessian ``s_i p (1 - p)``
    (unreduced; ``grad_out``/``hess_out`` must not be ``logits``). Returns the number of labels
    outside ``[0, C)`` (their rows are NaN)."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i, bad = 0
    cdef int64_t y
    cdef const double *sw
    _check_threads(n_threads)
    _check_len(labels.shape[0], n, "labels")
    sw = _sample_weights(sample_weight, n)
    _check_2d(grad_out.shape[0], grad_out.shape[1], n, k, "grad_out")
    _check_2d(hess_out.shape[0], hess_out.shape[1], n, k, "hess_out")
    if n == 0 or k == 0:
        return 0
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        y = labels[i]
        if y < 0 or y >= k:
            bad += 1
            if floating is float:
                fx_row_fill_f32(&grad_out[i, 0], k, NAN)
                fx_row_fill_f32(&hess_out[i, 0], k, NAN)
            else:
                fx_row_fill_f64(&grad_out[i, 0], k, NAN)
                fx_row_fill_f64(&hess_out[i, 0], k, NAN)
        elif floating is float:
            fx_row_ce_label_grad_hess_f32(&logits[i, 0], &grad_out[i, 0], &hess_out[i, 0], k,
                                          <Py_ssize_t>y, _weight(sw, i))
        else:
            fx_row_ce_label_grad_hess_f64(&logits[i, 0], &grad_out[i, 0], &hess_out[i, 0], k,
                                          <Py_ssize_t>y, _weight(sw, i))
    return int(bad)


def softmax_ce_probs_grad_hess(const floating[:, ::1] logits, const floating[:, ::1] target,
                               const double[::1] sample_weight, floating[:, ::1] grad_out,
                               floating[:, ::1] hess_out, int n_threads):
    """``s (A p - t)`` and ``s A p (1 - p)`` with ``A = sum_c t_c`` for probability targets."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i
    cdef const double *sw
    _check_threads(n_threads)
    _check_2d(target.shape[0], target.shape[1], n, k, "target")
    sw = _sample_weights(sample_weight, n)
    _check_2d(grad_out.shape[0], grad_out.shape[1], n, k, "grad_out")
    _check_2d(hess_out.shape[0], hess_out.shape[1], n, k, "hess_out")
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        if floating is float:
            fx_row_ce_probs_grad_hess_f32(&logits[i, 0], &target[i, 0], &grad_out[i, 0],
                                          &hess_out[i, 0], k, _weight(sw, i))
        else:
            fx_row_ce_probs_grad_hess_f64(&logits[i, 0], &target[i, 0], &grad_out[i, 0],
                                          &hess_out[i, 0], k, _weight(sw, i))


# --------------------------------------------------------------------------- docstrings
# embedsignature writes the fused-type dispatcher's own signature ("(signatures, args, kwargs,
# defaults, _fused_sigindex={})") at the head of a fused function's docstring; put the real
# positional parameters there instead (inspect.signature already reports them correctly).
def _fix_fused_docstrings():
    cdef str name, head, sep, rest
    for name in ("exp_rows", "_shifted_exp_rows", "logsumexp_rows", "log_softmax_rows", "softmax_rows",
                 "softmax_ce_labels_loss", "softmax_ce_labels_loss_top1", "softmax_ce_labels_loss_grad",
                 "softmax_ce_probs_loss", "softmax_ce_probs_loss_grad",
                 "softmax_ce_labels_grad_hess", "softmax_ce_probs_grad_hess"):
        f = globals()[name]
        head, sep, rest = (f.__doc__ or "").partition("\n")
        if "_fused_sigindex" in head:
            code = f.__code__
            params = ", ".join(code.co_varnames[:code.co_argcount])
            try:
                f.__doc__ = f"{name}({params})" + sep + rest
            except (AttributeError, TypeError):
                pass


_fix_fused_docstrings()
del _fix_fused_docstrings
