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

/* Elements per block of a one-label chunk (fx_bce_chunk). */
#define FX_BCE_BLOCK 1024

/* (log1p(u), 1 / (1 + u)) for u in [0, 1] or NaN.
 * float: log1p(u) = 2 atanh(s), s = u / (2 + u) in [0, 1/3]: 2s + 2s t R(t) with t = s^2 and R a
 * degree-3 fit of (atanh(s) / s - 1) / t on [0, 1/9] (relative error 4.5e-9; < 2 ulp in float32
 * with rounding, measured over 22M arguments).  Six multiplies and a division where a degree-8 fit
 * of log1p(u) / u on [0, 1] took twelve multiplies: the loop is bound by the FMA units, and the
 * divisions run beside them (measured on one thread, 50M float32: loss only 35.3 -> 33.8 ms, fused
 * 45.5 -> 45.1 ms, where the two divisions come close to the divider's throughput).
 * double: log(w) + (u - (w - 1)) / w with w = fl(1 + u) (w - 1 is exact; tiny u give u). */
FX_INLINE float fx_log1p_recip_unit_f32(float u, float *recip)
{
    const float s = u / (2.0f + u), t = s * s, s2 = s + s;
    *recip = 1.0f / (1.0f + u);
    const float r = ((0.14006001f * t + 0.14000902f) * t + 0.20010763f) * t + 0.33333209f;
    return s2 + (s2 * t) * r;
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
#define FX_ABS fabsf
#include "fx_binary.inc"
#undef FX_T
#undef FX_SUF
#undef FX_EXPNP
#undef FX_LOG1P_RECIP
#undef FX_ABS

#define FX_T double
#define FX_SUF f64
#define FX_EXPNP fx_exp_nonpos
#define FX_LOG1P_RECIP fx_log1p_recip_unit_f64
#define FX_ABS fabs
#include "fx_binary.inc"
#undef FX_T
#undef FX_SUF
#undef FX_EXPNP
#undef FX_LOG1P_RECIP
#undef FX_ABS

#endif /* FASTXENT_FX_BINARY_H */
