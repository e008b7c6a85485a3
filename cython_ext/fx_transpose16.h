/*
 * fx_transpose16.h -- in-register transposes of AVX-512 tiles: 16 x 16 floats, 8 x 8 doubles.
 * Used by the 16-row label tiles (fx_tile16.h) and the layout kernel (fx_layout.h).  Needs FX_INLINE
 * (fx_math.h) and AVX-512 F at compile time.
 */

#ifndef FASTXENT_FX_TRANSPOSE16_H
#define FASTXENT_FX_TRANSPOSE16_H

#include <immintrin.h>

/* 16 x 16 float transpose in registers: in, v[i] is row i; out, v[j] is column j. */
FX_INLINE void fx_transpose16_f32(__m512 v[16])
{
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
        v[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        v[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        v[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        v[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 4; ++j) {
            t[8 * i + j] = _mm512_shuffle_f32x4(v[8 * i + j], v[8 * i + 4 + j], 0x88);
            t[8 * i + 4 + j] = _mm512_shuffle_f32x4(v[8 * i + j], v[8 * i + 4 + j], 0xdd);
        }
    }
    for (int j = 0; j < 8; ++j) {
        v[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        v[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

/* 8 x 8 double transpose in registers: in, v[i] is row i; out, v[j] is column j. */
FX_INLINE void fx_transpose8_f64(__m512d v[8])
{
    __m512d t[8];
    for (int i = 0; i < 4; ++i) {
        t[2 * i] = _mm512_unpacklo_pd(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_pd(v[2 * i], v[2 * i + 1]);
    }
    /* 128-bit lanes: u[4 h + 0] rows 4h..4h+3 of columns 0 | 4, [1] of 2 | 6, [2] of 1 | 5, [3] of 3 | 7 */
    __m512d u[8];
    for (int h = 0; h < 2; ++h) {
        u[4 * h + 0] = _mm512_shuffle_f64x2(t[4 * h + 0], t[4 * h + 2], 0x88);
        u[4 * h + 1] = _mm512_shuffle_f64x2(t[4 * h + 0], t[4 * h + 2], 0xdd);
        u[4 * h + 2] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0x88);
        u[4 * h + 3] = _mm512_shuffle_f64x2(t[4 * h + 1], t[4 * h + 3], 0xdd);
    }
    static const int column_of[4][2] = {{0, 4}, {2, 6}, {1, 5}, {3, 7}};
    for (int q = 0; q < 4; ++q) {
        v[column_of[q][0]] = _mm512_shuffle_f64x2(u[q], u[4 + q], 0x88);
        v[column_of[q][1]] = _mm512_shuffle_f64x2(u[q], u[4 + q], 0xdd);
    }
}

#endif /* FASTXENT_FX_TRANSPOSE16_H */
