/*
 * fx_tile16.h -- the labels cross-entropy of float32 rows with at most 16 classes, AVX-512:
 * 16 rows at a time turned into 16 lanes.
 *
 * Included by fx_rows.inc in its float instantiation when FX_TILE16 is set (AVX-512 F + DQ at
 * compile time); it uses fx_math.h's fx_expf_nonpos_x16 and that instantiation's fx_block_losses_f32.
 *
 * Why: with few classes a row is shorter than a vector, so the row-wise kernel
 * (fx_block_ce_label_n) spends its time in per-row work: a max and a float64 sum over 10
 * elements are scalar chains, and half of every vector op is a partial epilogue.  Here the 16
 * rows of a group are loaded (masked, n elements each), transposed in registers (16 x 16), and
 * every per-row quantity (max, label logit, float64 sum, smoothing sum, the gradient's factors)
 * becomes one vector op per class over 16 rows.  The gradient is transposed back and stored with
 * an n-element mask, so nothing outside the block's rows is read or written (the block may be
 * the logits themselves: every row of the block is read before any is written).
 *
 * Memory: at C = 10 the compute of one block overlaps the loads of the next only if they are
 * asked for early (the hardware prefetcher follows the demand stream, which stops during the
 * exp phase), so each group prefetches the next block's rows and labels and its own gradient
 * rows (for writing).  2,000,000 x 10 on 2 cores: 12.5-13.9 -> 6.7-7.2 ms (kernel alone, in a C
 * harness, when this file was written; docs/benchmarks.md has the current numbers).
 *
 * Results: the same contract and special rows as fx_block_ce_label_n (ignored rows and rows
 * without target weight: loss s * 0 and a zero gradient; labels outside [0, n): NaN loss and
 * gradient, counted).  Sums run over the classes in order (c = 0 .. n-1) in float64.
 */

#ifndef FASTXENT_FX_TILE16_H
#define FASTXENT_FX_TILE16_H

#include <immintrin.h>

#include "fx_transpose16.h"

#define FX_TILE_ROWS 16

/* Two float64 vectors (lanes 0-7, 8-15) as 16 floats (fx_math.h's fx_lo_pd / fx_hi_pd go the other way). */
FX_INLINE __m512 fx_join_ps(__m512d lo, __m512d hi)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}

/* Lane r of class c's vector is row r0 + r; valid rows (nv of them) are read with an n-lane
 * mask, the others are -inf (a row of -inf: m = 0, S = 0, never stored). */
FX_INLINE void fx_tile16_load(const float *z, ptrdiff_t n, ptrdiff_t nv, __m512 v[16])
{
    const __mmask16 km = (__mmask16)((1u << n) - 1u);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < 16; ++i) v[i] = i < nv ? _mm512_mask_loadu_ps(ninf, km, z + i * n) : ninf;
    fx_transpose16_f32(v);
}

FX_INLINE ptrdiff_t fx_tile16_ce_label_n(const float *z, float *g, ptrdiff_t nr, ptrdiff_t n,
                                         const int64_t *labels, int64_t ignore, const double *sw,
                                         double *loss_out, const double *w, int w_uniform,
                                         double W, double eps, double gscale)
{
    enum { R = FX_SMALL_MAXROWS };
    const ptrdiff_t ng = (nr + FX_TILE_ROWS - 1) / FX_TILE_ROWS, rp = ng * FX_TILE_ROWS;
    /* d = z - m, then e = exp(d): class c of row r at tile[c * rp + r] */
    _Alignas(64) float tile[FX_TILE_ROWS * R];
    _Alignas(64) double md[R], zyd[R], L[R], S[R], wyv[R], yk[R], ge[R], coef[R];
    _Alignas(64) int32_t kind[R], yi[R];
    const double ke = eps / (double)n;
    const double wu = w[0];
    const int smooth = eps != 0.0;
    const __mmask16 km = (__mmask16)((1u << n) - 1u);
    ptrdiff_t bad = 0;
    __m512d gs_max = _mm512_setzero_pd();  /* the largest gs of the valid rows (gs >= 0) */

    /* Per row: the label's kind (0: normal, 1: zero loss / grad, 2: bad label), its target
     * weight wy, the gradient's smoothing factor gs ke and label-entry constant gs (wy + ke w_y)
     * (gs = gscale * sample weight); padding rows are kind 1.  Eight rows per step in int64
     * lanes (the scalar loop with its branches took ~3 % more of the kernel at C = 10). */
    const __m512i ignore8 = _mm512_set1_epi64(ignore), n8 = _mm512_set1_epi64(n);
    const __m512d zero8 = _mm512_setzero_pd(), keW8 = _mm512_set1_pd(ke * W);
    for (ptrdiff_t r = 0; r < rp; r += 8) {
        const __mmask8 live = r >= nr ? 0 : nr - r >= 8 ? 0xff : (__mmask8)((1u << (nr - r)) - 1u);
        const ptrdiff_t at = live ? r : 0;  /* no pointer past the block's rows is formed */
        const __m512i y = _mm512_maskz_loadu_epi64(live, labels + at);
        const __mmask8 ign = _mm512_mask_cmpeq_epi64_mask(live, y, ignore8);
        /* unsigned: a negative label is >= n */
        const __mmask8 inr = _mm512_mask_cmplt_epu64_mask(live, y, n8);
        const __mmask8 valid = inr & (__mmask8)~ign, badm = live & (__mmask8)~(inr | ign);
        bad += __builtin_popcount((unsigned)badm);
        /* the gather reads w only at valid labels */
        const __m512d wc = w_uniform ? _mm512_set1_pd(wu) : _mm512_mask_i64gather_pd(zero8, valid, y, w, 8);
        const __m512d wy = _mm512_maskz_mul_pd(valid, _mm512_set1_pd(1.0 - eps), wc);
        const __mmask8 normal = _mm512_mask_cmp_pd_mask(valid, _mm512_add_pd(wy, keW8), zero8, _CMP_NEQ_UQ);
        __m512i kd = _mm512_mask_mov_epi64(_mm512_set1_epi64(1), normal, _mm512_setzero_si512());
        kd = _mm512_mask_mov_epi64(kd, badm, _mm512_set1_epi64(2));
        const __m512d gs = _mm512_mul_pd(_mm512_set1_pd(gscale), _mm512_maskz_loadu_pd(live, sw + at));
        gs_max = _mm512_mask_max_pd(gs_max, valid, gs, gs_max);
        const __m512d gk = _mm512_maskz_mul_pd(valid, gs, _mm512_set1_pd(ke));
        __m512d k = _mm512_maskz_mul_pd(valid, gs, wy);
        if (smooth) k = _mm512_add_pd(k, _mm512_mul_pd(gk, wc));
        _mm256_store_si256((__m256i *)(kind + r), _mm512_cvtepi64_epi32(kd));
        _mm256_store_si256((__m256i *)(yi + r),
                           _mm512_cvtepi64_epi32(_mm512_mask_mov_epi64(_mm512_set1_epi64(-1), valid, y)));
        _mm512_store_pd(wyv + r, wy);
        _mm512_store_pd(yk + r, k);
        _mm512_store_pd(ge + r, gk);
        _mm512_store_pd(coef + r, zero8);
        _mm512_store_pd(L + r, zero8);
    }

    /* A: per group, m, z_y, the smoothing sum L, and d = z - m into the tile */
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (ptrdiff_t q = 0; q < ng; ++q) {
        const ptrdiff_t r0 = q * FX_TILE_ROWS;
        const ptrdiff_t nv = nr - r0 < FX_TILE_ROWS ? nr - r0 : FX_TILE_ROWS;
        if (g) {
            for (ptrdiff_t b = 0; b < FX_TILE_ROWS * n * (ptrdiff_t)sizeof(float); b += 64)
                FX_PREFETCH_WRITE(g, r0 * n * (ptrdiff_t)sizeof(float) + b);
        }
        __m512 v[16];
        fx_tile16_load(z + r0 * n, n, nv, v);
        /* NaN-ignoring max, as fx_row_shift (max_ps returns its second operand on a NaN) */
        __m512 m = ninf;
        for (int c = 0; c < n; ++c) m = _mm512_max_ps(v[c], m);
        m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(m, ninf, _CMP_EQ_OQ), _mm512_setzero_ps());
        const __m512d m0 = fx_lo_pd(m), m1 = fx_hi_pd(m);
        _mm512_store_pd(md + r0, m0);
        _mm512_store_pd(md + r0 + 8, m1);
        const __m512i yv = _mm512_load_si512((const void *)(yi + r0));
        __m512 zy = _mm512_setzero_ps();
        for (int c = 0; c < n; ++c)
            zy = _mm512_mask_mov_ps(zy, _mm512_cmpeq_epi32_mask(yv, _mm512_set1_epi32(c)), v[c]);
        _mm512_store_pd(zyd + r0, fx_lo_pd(zy));
        _mm512_store_pd(zyd + r0 + 8, fx_hi_pd(zy));
        if (smooth && (!w_uniform || wu != 0.0)) {
            /* L = sum_c w_c (m - z_c) over classes with w_c != 0, in order, as fx_row_ce_label */
            __m512d l0 = _mm512_setzero_pd(), l1 = _mm512_setzero_pd();
            for (int c = 0; c < n; ++c) {
                const double wc = w_uniform ? 1.0 : w[c];
                if (wc == 0.0) continue;
                const __m512d a0 = _mm512_sub_pd(m0, fx_lo_pd(v[c]));
                const __m512d a1 = _mm512_sub_pd(m1, fx_hi_pd(v[c]));
                l0 = _mm512_add_pd(l0, w_uniform ? a0 : _mm512_mul_pd(_mm512_set1_pd(wc), a0));
                l1 = _mm512_add_pd(l1, w_uniform ? a1 : _mm512_mul_pd(_mm512_set1_pd(wc), a1));
            }
            if (w_uniform) {
                l0 = _mm512_mul_pd(l0, _mm512_set1_pd(wu));
                l1 = _mm512_mul_pd(l1, _mm512_set1_pd(wu));
            }
            const __mmask16 normal = _mm512_cmpeq_epi32_mask(
                _mm512_load_si512((const void *)(kind + r0)), _mm512_setzero_si512());
            _mm512_store_pd(L + r0, _mm512_maskz_mov_pd((__mmask8)normal, l0));
            _mm512_store_pd(L + r0 + 8, _mm512_maskz_mov_pd((__mmask8)(normal >> 8), l1));
        }
        for (int c = 0; c < n; ++c) _mm512_store_ps(tile + c * rp + r0, _mm512_sub_ps(v[c], m));
    }

    /* B: e = exp(d) (fx_expf_nonpos_x16, as the row kernels'), and S = sum_c e_c in float64 */
    for (ptrdiff_t q = 0; q < ng; ++q) {
        const ptrdiff_t r0 = q * FX_TILE_ROWS;
        for (ptrdiff_t b = 0; b < FX_TILE_ROWS * n * (ptrdiff_t)sizeof(float); b += 64)
            FX_PREFETCH_READ(z, (nr + r0) * n * (ptrdiff_t)sizeof(float) + b);
        FX_PREFETCH_READ(labels, (nr + r0) * (ptrdiff_t)sizeof(int64_t));
        FX_PREFETCH_READ(labels, (nr + r0 + 8) * (ptrdiff_t)sizeof(int64_t));
        FX_PREFETCH_READ(sw, (nr + r0) * (ptrdiff_t)sizeof(double));
        FX_PREFETCH_READ(sw, (nr + r0 + 8) * (ptrdiff_t)sizeof(double));
        __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
        for (int c = 0; c < n; ++c) {
            float *t = tile + c * rp + r0;
            const __m512 e = fx_expf_nonpos_x16(_mm512_load_ps(t));
            _mm512_store_ps(t, e);
            s0 = _mm512_add_pd(s0, fx_lo_pd(e));
            s1 = _mm512_add_pd(s1, fx_hi_pd(e));
        }
        _mm512_store_pd(S + r0, s0);
        _mm512_store_pd(S + r0 + 8, s1);
    }

    /* Whether a row may need the gradient with gs last (fx_grad_needs_gs_last_f32): A <= W, since
     * A = (1 - eps) w_y + eps / n W; then each row is checked in D. */
    const int gs_last = g && fx_grad_needs_gs_last_f32(_mm512_reduce_max_pd(gs_max), W);

    /* C: the losses and the gradient's row factors (one vector loop over the block's rows) */
    fx_block_losses_f32(nr, S, md, zyd, wyv, L, kind, sw, loss_out, W, eps, ke, gscale,
                        g ? coef : NULL);
    if (!g) return bad;

    /* D: per group, the gradient in lanes, transposed back to rows */
    for (ptrdiff_t q = 0; q < ng; ++q) {
        const ptrdiff_t r0 = q * FX_TILE_ROWS;
        const ptrdiff_t nv = nr - r0 < FX_TILE_ROWS ? nr - r0 : FX_TILE_ROWS;
        const __m512d c0 = _mm512_load_pd(coef + r0), c1 = _mm512_load_pd(coef + r0 + 8);
        const __m512 cf = fx_join_ps(c0, c1);
        const __m512i yv = _mm512_load_si512((const void *)(yi + r0));
        const __m512i kv = _mm512_load_si512((const void *)(kind + r0));
        /* the smoothing term gs ke w_c: per row (uniform weights) or per row and class */
        const __m512d ge0 = _mm512_load_pd(ge + r0), ge1 = _mm512_load_pd(ge + r0 + 8);
        const __m512 gk = fx_join_ps(_mm512_mul_pd(ge0, _mm512_set1_pd(wu)),
                                     _mm512_mul_pd(ge1, _mm512_set1_pd(wu)));
        __m512 v[16], ey = _mm512_setzero_ps();
        for (int c = 0; c < n; ++c) {
            const __m512 e = _mm512_load_ps(tile + c * rp + r0);
            ey = _mm512_mask_mov_ps(ey, _mm512_cmpeq_epi32_mask(yv, _mm512_set1_epi32(c)), e);
            if (smooth && !w_uniform) {
                const __m512d wc = _mm512_set1_pd(w[c]);
                v[c] = fx_join_ps(_mm512_fmsub_pd(c0, fx_lo_pd(e), _mm512_mul_pd(ge0, wc)),
                                  _mm512_fmsub_pd(c1, fx_hi_pd(e), _mm512_mul_pd(ge1, wc)));
            } else if (smooth && wu != 0.0) {
                v[c] = _mm512_fmsub_ps(e, cf, gk);
            } else {
                v[c] = _mm512_mul_ps(e, cf);
            }
        }
        for (int c = (int)n; c < 16; ++c) v[c] = _mm512_setzero_ps();
        /* the label's entry, in float64: coef e_y - gs (wy + ke w_y) */
        const __m512 gy = fx_join_ps(
            _mm512_fmsub_pd(c0, fx_lo_pd(ey), _mm512_load_pd(yk + r0)),
            _mm512_fmsub_pd(c1, fx_hi_pd(ey), _mm512_load_pd(yk + r0 + 8)));
        const __mmask16 zero = _mm512_cmpeq_epi32_mask(kv, _mm512_set1_epi32(1));
        const __mmask16 nan = _mm512_cmpeq_epi32_mask(kv, _mm512_set1_epi32(2));
        for (int c = 0; c < n; ++c) {
            __m512 t = _mm512_mask_mov_ps(v[c], _mm512_cmpeq_epi32_mask(yv, _mm512_set1_epi32(c)), gy);
            t = _mm512_mask_mov_ps(t, zero, _mm512_setzero_ps());
            v[c] = _mm512_mask_mov_ps(t, nan, _mm512_set1_ps(NAN));
        }
        fx_transpose16_f32(v);
        for (int i = 0; i < nv; ++i) _mm512_mask_storeu_ps(g + (r0 + i) * n, km, v[i]);
        if (!gs_last) continue;
        for (int i = 0; i < nv; ++i) {
            const ptrdiff_t r = r0 + i;
            const double gs = gscale * sw[r];
            if (kind[r] != 0 || !fx_grad_needs_gs_last_f32(gs, wyv[r] + ke * W)) continue;
            float *gr = g + r * n;
            for (int c = 0; c < n; ++c) gr[c] = tile[c * rp + r];
            fx_row_grad_label_gs_last_f32(gr, n, yi[r], gs, wyv[r] + ke * W, S[r], ke, w, w_uniform,
                                          wyv[r]);
        }
    }
    return bad;
}

/* With the class count a compile-time constant (the per-class loops unroll). */
static ptrdiff_t fx_tile16_ce_label(const float *z, float *g, ptrdiff_t nr, ptrdiff_t n,
                                    const int64_t *labels, int64_t ignore, const double *sw,
                                    double *loss_out, const double *w, int w_uniform, double W,
                                    double eps, double gscale)
{
#define FX_TILE_CASE(N) case N: return fx_tile16_ce_label_n(z, g, nr, N, labels, ignore, sw, \
                                                             loss_out, w, w_uniform, W, eps, gscale);
    switch (n) {
    FX_TILE_CASE(1) FX_TILE_CASE(2) FX_TILE_CASE(3) FX_TILE_CASE(4) FX_TILE_CASE(5)
    FX_TILE_CASE(6) FX_TILE_CASE(7) FX_TILE_CASE(8) FX_TILE_CASE(9) FX_TILE_CASE(10)
    FX_TILE_CASE(11) FX_TILE_CASE(12) FX_TILE_CASE(13) FX_TILE_CASE(14) FX_TILE_CASE(15)
    default:
        return fx_tile16_ce_label_n(z, g, nr, 16, labels, ignore, sw, loss_out, w, w_uniform, W,
                                    eps, gscale);
    }
#undef FX_TILE_CASE
}

#endif /* FASTXENT_FX_TILE16_H */
