/*
 * fx_layout.h -- the transposing copy of fastxent's Cython backend (fastxent._cython_layout).
 *
 * Column-major logits (Fortran order, a pandas frame's values, the columns of a Parquet row group)
 * must become rows before the row kernels read them.  NumPy's transposing copy moves one element
 * at a time (~1.6 ns an element here: 4,194 x 1,000 float32 in 6.8 ms); this one moves 16 x 16
 * float (8 x 8 double) tiles through registers.
 *
 * The work is cut in panels of FX_PANEL_* output rows (input columns): a panel writes its output
 * rows from start to end (contiguous streams) and reads one short run of every input row, asking
 * for the run FX_PANEL_AHEAD panels further on as it goes (1,000 input rows are more streams than
 * the hardware prefetcher follows).  Nothing outside the two arrays is read or written.
 */

#ifndef FASTXENT_FX_LAYOUT_H
#define FASTXENT_FX_LAYOUT_H

#include "fx_math.h"

#define FX_PANEL_F32 16
#define FX_PANEL_F64 8
/* 4,194 x 1,000 float32, one thread: none ahead 1.65 ms, 1 panel 1.67, 2 panels 1.13, 4 panels 1.12 */
#define FX_PANEL_AHEAD 2

#if defined(__AVX512F__)
#include "fx_transpose16.h"
#define FX_LAYOUT_AVX512 1
#else
#define FX_LAYOUT_AVX512 0
#endif

/* A portable tile: out[(j0 + t) * r + i0 + s] = x[(i0 + s) * ldx + j0 + t], s < nv, t < w. */
#define FX_SCALAR_TILE(T)                                                                          \
    FX_INLINE void fx_transpose_tile_scalar_##T(const T *x, ptrdiff_t ldx, ptrdiff_t r, T *out,   \
                                                ptrdiff_t i0, ptrdiff_t nv, ptrdiff_t j0,          \
                                                ptrdiff_t w)                                       \
    {                                                                                              \
        for (ptrdiff_t t = 0; t < w; ++t) {                                                        \
            T *o = out + (j0 + t) * r + i0;                                                        \
            for (ptrdiff_t s = 0; s < nv; ++s) o[s] = x[(i0 + s) * ldx + j0 + t];                  \
        }                                                                                          \
    }
FX_SCALAR_TILE(float)
FX_SCALAR_TILE(double)
#undef FX_SCALAR_TILE

/* One panel: output rows j0 .. j0 + w - 1 (w <= FX_PANEL_F32) of out (k x r), from x (r x k, rows
 * ldx elements apart). */
static void fx_transpose_panel_f32(const float *x, ptrdiff_t ldx, ptrdiff_t r, float *out,
                                   ptrdiff_t j0, ptrdiff_t w, ptrdiff_t k)
{
    const ptrdiff_t ahead = (j0 + FX_PANEL_AHEAD * FX_PANEL_F32 < k ? FX_PANEL_AHEAD * FX_PANEL_F32 : 0)
                            * (ptrdiff_t)sizeof(float);
#if FX_LAYOUT_AVX512
    const __mmask16 wm = (__mmask16)(w >= 16 ? 0xffffu : (1u << w) - 1u);
    __m512 v[16];
    ptrdiff_t i = 0;
    for (; i + 16 <= r; i += 16) {
        const float *xi = x + i * ldx + j0;
        for (int s = 0; s < 16; ++s) {
            v[s] = _mm512_maskz_loadu_ps(wm, xi + s * ldx);
            if (ahead) FX_PREFETCH_READ_L2(xi + s * ldx, ahead);
        }
        fx_transpose16_f32(v);
        for (ptrdiff_t t = 0; t < w; ++t) _mm512_storeu_ps(out + (j0 + t) * r + i, v[t]);
    }
    if (i < r) {
        const ptrdiff_t nv = r - i;
        const __mmask16 rm = (__mmask16)((1u << nv) - 1u);
        for (int s = 0; s < 16; ++s)
            v[s] = s < nv ? _mm512_maskz_loadu_ps(wm, x + (i + s) * ldx + j0) : _mm512_setzero_ps();
        fx_transpose16_f32(v);
        for (ptrdiff_t t = 0; t < w; ++t) _mm512_mask_storeu_ps(out + (j0 + t) * r + i, rm, v[t]);
    }
#else
    for (ptrdiff_t i = 0; i < r; i += FX_PANEL_F32) {
        const ptrdiff_t nv = r - i < FX_PANEL_F32 ? r - i : FX_PANEL_F32;
        if (ahead) {
            for (ptrdiff_t s = 0; s < nv; ++s) FX_PREFETCH_READ_L2(x + (i + s) * ldx + j0, ahead);
        }
        fx_transpose_tile_scalar_float(x, ldx, r, out, i, nv, j0, w);
    }
#endif
}

static void fx_transpose_panel_f64(const double *x, ptrdiff_t ldx, ptrdiff_t r, double *out,
                                   ptrdiff_t j0, ptrdiff_t w, ptrdiff_t k)
{
    const ptrdiff_t ahead = (j0 + FX_PANEL_AHEAD * FX_PANEL_F64 < k ? FX_PANEL_AHEAD * FX_PANEL_F64 : 0)
                            * (ptrdiff_t)sizeof(double);
#if FX_LAYOUT_AVX512
    const __mmask8 wm = (__mmask8)(w >= 8 ? 0xffu : (1u << w) - 1u);
    __m512d v[8];
    ptrdiff_t i = 0;
    for (; i + 8 <= r; i += 8) {
        const double *xi = x + i * ldx + j0;
        for (int s = 0; s < 8; ++s) {
            v[s] = _mm512_maskz_loadu_pd(wm, xi + s * ldx);
            if (ahead) FX_PREFETCH_READ_L2(xi + s * ldx, ahead);
        }
        fx_transpose8_f64(v);
        for (ptrdiff_t t = 0; t < w; ++t) _mm512_storeu_pd(out + (j0 + t) * r + i, v[t]);
    }
    if (i < r) {
        const ptrdiff_t nv = r - i;
        const __mmask8 rm = (__mmask8)((1u << nv) - 1u);
        for (int s = 0; s < 8; ++s)
            v[s] = s < nv ? _mm512_maskz_loadu_pd(wm, x + (i + s) * ldx + j0) : _mm512_setzero_pd();
        fx_transpose8_f64(v);
        for (ptrdiff_t t = 0; t < w; ++t) _mm512_mask_storeu_pd(out + (j0 + t) * r + i, rm, v[t]);
    }
#else
    for (ptrdiff_t i = 0; i < r; i += FX_PANEL_F64) {
        const ptrdiff_t nv = r - i < FX_PANEL_F64 ? r - i : FX_PANEL_F64;
        if (ahead) {
            for (ptrdiff_t s = 0; s < nv; ++s) FX_PREFETCH_READ_L2(x + (i + s) * ldx + j0, ahead);
        }
        fx_transpose_tile_scalar_double(x, ldx, r, out, i, nv, j0, w);
    }
#endif
}

#endif /* FASTXENT_FX_LAYOUT_H */
