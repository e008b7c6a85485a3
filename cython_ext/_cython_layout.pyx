# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, binding=True, embedsignature=True
"""Cython/OpenMP layout kernel (``fastxent._cython_layout``): the transposing copy that turns
column-major logits into rows; contract: ``fastxent._kernels.numpy_ref``.

Panels of output rows (``fx_layout.h``) are distributed over OpenMP threads with a static
schedule; every element is copied, so the result never depends on ``n_threads``.
"""

from cython cimport floating
from cython.parallel cimport prange

cdef extern from "fx_layout.h" nogil:
    enum:
        FX_PANEL_F32
        FX_PANEL_F64
    void fx_transpose_panel_f32(const float *x, Py_ssize_t ldx, Py_ssize_t r, float *out,
                                Py_ssize_t j0, Py_ssize_t w, Py_ssize_t k)
    void fx_transpose_panel_f64(const double *x, Py_ssize_t ldx, Py_ssize_t r, double *out,
                                Py_ssize_t j0, Py_ssize_t w, Py_ssize_t k)

__all__ = ["transpose"]


def transpose(const floating[:, :] x, floating[:, ::1] out, int n_threads):
    """``out[j, i] = x[i, j]``: ``x`` (R, K) with contiguous rows (any row stride), ``out`` (K, R)."""
    cdef Py_ssize_t r = x.shape[0], k = x.shape[1], ldx, p, n_panels, j0, width
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    if out.shape[0] != k or out.shape[1] != r:
        raise ValueError(f"out has shape ({out.shape[0]}, {out.shape[1]}), expected ({k}, {r})")
    if r == 0 or k == 0:
        return
    if k > 1 and x.strides[1] != sizeof(floating) or x.strides[0] % <Py_ssize_t>sizeof(floating):
        raise ValueError(f"x: rows must be contiguous (strides {x.strides[0]}, {x.strides[1]})")
    ldx = x.strides[0] // <Py_ssize_t>sizeof(floating)
    width = FX_PANEL_F32 if floating is float else FX_PANEL_F64
    n_panels = (k + width - 1) // width
    for p in prange(n_panels, nogil=True, schedule="static", num_threads=n_threads):
        j0 = p * width
        if floating is float:
            fx_transpose_panel_f32(&x[0, 0], ldx, r, &out[0, 0], j0, min(width, k - j0), k)
        else:
            fx_transpose_panel_f64(&x[0, 0], ldx, r, &out[0, 0], j0, min(width, k - j0), k)
