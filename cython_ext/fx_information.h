/*
 * fx_information.h -- the per-row loops of the information measures (surprisal, entropy,
 * cross-entropy, KL divergence) of fastxent's Cython backend (fastxent._cython_information).
 *
 * Contract: fastxent._kernels.numpy_ref.  Every element is widened to double and its log taken by
 * fx_log (fx_math.h: branch-free, so the `omp simd` loops vectorise without -ffast-math).  Row sums
 * are accumulated in double, in blocks of FX_BLOCK classes (the vector lanes' partial sums of one
 * block, then the blocks' sums, as fx_row_sumexp), so the result depends on the vector width but
 * never on the thread count.
 *
 * Terms (scipy.special.entr / rel_entr semantics): a term with p == 0 counts 0 -- selected, not
 * branched on, because its 0 * inf is NaN -- unless q is NaN there; q == 0 < p gives +inf.
 */
#ifndef FASTXENT_FX_INFORMATION_H
#define FASTXENT_FX_INFORMATION_H

#include "fx_math.h"

FX_INLINE double fx_entropy_term(double p)
{
    const double t = -p * fx_log(p);
    return p == 0.0 ? 0.0 : t;
}

FX_INLINE double fx_cross_entropy_term(double p, double q)
{
    const double t = -p * fx_log(q);
    return (p == 0.0) & (q == q) ? 0.0 : t;
}

FX_INLINE double fx_kl_divergence_term(double p, double q)
{
    const double t = p * fx_log(p / q);
    return (p == 0.0) & (q == q) ? 0.0 : t;
}

/* S = sum over c in [0, n) of TERM (a double expression of the class index c), blockwise. */
#define FX_BLOCKED_ROW_SUM(S, n, TERM)                                                   \
    do {                                                                                 \
        (S) = 0.0;                                                                       \
        for (ptrdiff_t c0_ = 0; c0_ < (n); c0_ += FX_BLOCK) {                            \
            const ptrdiff_t c1_ = (n) - c0_ > FX_BLOCK ? c0_ + FX_BLOCK : (n);           \
            double s_ = 0.0;                                                             \
            FX_PRAGMA(omp simd reduction(+:s_))                                          \
            for (ptrdiff_t c = c0_; c < c1_; ++c) {                                      \
                s_ += (TERM);                                                            \
            }                                                                            \
            (S) += s_;                                                                   \
        }                                                                                \
    } while (0)

/* The kernels of one element type T (float or double), named with suffix SUF (f32 / f64). */
#define FX_INFORMATION_KERNELS(T, SUF)                                                   \
    FX_INLINE void fx_surprisal_##SUF(const T *p, T *out, ptrdiff_t n, double scale)     \
    {                                                                                    \
        FX_PRAGMA(omp simd)                                                              \
        for (ptrdiff_t c = 0; c < n; ++c) {                                              \
            out[c] = (T)(-scale * fx_log((double)p[c]));                                 \
        }                                                                                \
    }                                                                                    \
    FX_INLINE double fx_entropy_row_##SUF(const T *p, ptrdiff_t n)                       \
    {                                                                                    \
        double S;                                                                        \
        FX_BLOCKED_ROW_SUM(S, n, fx_entropy_term((double)p[c]));                         \
        return S;                                                                        \
    }                                                                                    \
    FX_INLINE double fx_cross_entropy_row_##SUF(const T *p, const T *q, ptrdiff_t n)     \
    {                                                                                    \
        double S;                                                                        \
        FX_BLOCKED_ROW_SUM(S, n, fx_cross_entropy_term((double)p[c], (double)q[c]));     \
        return S;                                                                        \
    }                                                                                    \
    FX_INLINE double fx_kl_divergence_row_##SUF(const T *p, const T *q, ptrdiff_t n)     \
    {                                                                                    \
        double S;                                                                        \
        FX_BLOCKED_ROW_SUM(S, n, fx_kl_divergence_term((double)p[c], (double)q[c]));     \
        return S;                                                                        \
    }

FX_INFORMATION_KERNELS(float, f32)
FX_INFORMATION_KERNELS(double, f64)

#undef FX_INFORMATION_KERNELS
#undef FX_BLOCKED_ROW_SUM

#endif /* FASTXENT_FX_INFORMATION_H */
