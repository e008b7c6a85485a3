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
 * float: log1p(u) = u P(u), P a degree-8 fit of log1p(u) / u on [0, 1] (relative error 3e-8;
 * < 2 ulp in float32 with rounding), evaluated by Estrin's scheme, independently of the division:
 * the two run in parallel (the loop is latency-bound; measured 1.24 -> 0.87 ns per element).
 * double: log(w) + (u - (w - 1)) / w with w = fl(1 + u) (w - 1 is exact; tiny u give u). */
FX_INLINE float fx_log1p_recip_unit_f32(float u, float *recip)
{
    const float u2 = u * u, u4 = u2 * u2;
    const float p01 = 0.99999997f + -0.49999493f * u, p23 = 0.33319094f + -0.24842964f * u;
    const float p45 = 0.19105935f + -0.13663093f * u, p67 = 0.07822415f + -0.02950413f * u;
    const float p03 = p01 + p23 * u2, p47 = p45 + p67 * u2;
    *recip = 1.0f / (1.0f + u);
    return u * ((p03 + p47 * u4) + 0.00523242f * (u4 * u4));
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
