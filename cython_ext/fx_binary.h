/*
 * fx_binary.h -- the loops of the binary family (sigmoid, log-sigmoid, binary cross-entropy from
 * logits or probabilities, gradient, hessian) of fastxent's Cython backend (fastxent._cython_binary).
 *
 * Contract: fastxent._kernels.numpy_ref.  A problem is R rows of L labels (C-contiguous); rows are
 * processed in chunks of `chunk_rows` rows (fx_bce_chunk), each chunk by one thread, so chunk and
 * row sums never depend on the thread count.  The element math stays in the element type (float32
 * logits: 16 lanes per AVX-512 vector); losses are accumulated in double.
 *
 * One loop, fx_bce_run, serves every kernel; it is `always_inline` with compile-time flags (which
 * optional inputs exist, which outputs are written, logits or probabilities), and fx_bce_run_any
 * calls it with constant flags in each branch, so GCC/Clang emit one specialised vector loop per
 * combination and none of the flags is tested inside a loop.
 */
#ifndef FASTXENT_FX_BINARY_H
#define FASTXENT_FX_BINARY_H

#include "fx_math.h"

/* (log1p(u), 1 / (1 + u)) for u in [0, 1] or NaN, with one division.
 * float: log1p(u) = 2 atanh(s), s = u / (2 + u) <= 1/3, odd series to s^13 (relative error
 * < 1.4e-8); r = 1 / ((1 + u)(2 + u)) gives both 1 / (1 + u) = (2 + u) r and s = u (1 + u) r.
 * double: log(w) + (u - (w - 1)) / w with w = fl(1 + u) (w - 1 is exact; tiny u give u). */
FX_INLINE float fx_log1p_recip_unit_f32(float u, float *recip)
{
    const float d1 = 1.0f + u, d2 = 2.0f + u;
    const float r = 1.0f / (d1 * d2);
    const float s = u * d1 * r, s2 = s * s;
    float p = 1.0f / 13.0f;
    p = p * s2 + 1.0f / 11.0f;
    p = p * s2 + 1.0f / 9.0f;
    p = p * s2 + 1.0f / 7.0f;
    p = p * s2 + 1.0f / 5.0f;
    p = p * s2 + 1.0f / 3.0f;
    *recip = d2 * r;
    const float two_s = s + s;
    return two_s + two_s * (s2 * p);
}

FX_INLINE double fx_log1p_recip_unit_f64(double u, double *recip)
{
    const double w = 1.0 + u;
    const double inv = 1.0 / w;
    *recip = inv;
    return fx_log(w) + (u - (w - 1.0)) * inv;
}

/* Which optional inputs / outputs a run has (bits of fx_bce_run_any's `flags`). */
enum {
    FX_BCE_WEIGHT = 1,        /* elementwise weight w[j] */
    FX_BCE_SAMPLE = 2,        /* per-element sample weight sw[j] (one label per row) */
    FX_BCE_POS_ARRAY = 4,     /* pos_weight per element pw[j] (else the scalar pw0) */
    FX_BCE_GRAD = 8,          /* write g[j] */
    FX_BCE_HESS = 16,         /* write h[j] */
    FX_BCE_ELEMS = 32,        /* write every element's weighted loss e[j] */
    FX_BCE_PROBS = 64         /* x holds probabilities (clipped to [lo, hi]), not logits */
};

#define FX_T float
#define FX_SUF f32
#define FX_EXPNP fx_expf_nonpos
#define FX_LOG1P_RECIP fx_log1p_recip_unit_f32
#include "fx_binary.inc"
#undef FX_T
#undef FX_SUF
#undef FX_EXPNP
#undef FX_LOG1P_RECIP

#define FX_T double
#define FX_SUF f64
#define FX_EXPNP fx_exp_nonpos
#define FX_LOG1P_RECIP fx_log1p_recip_unit_f64
#include "fx_binary.inc"
#undef FX_T
#undef FX_SUF
#undef FX_EXPNP
#undef FX_LOG1P_RECIP

#endif /* FASTXENT_FX_BINARY_H */
