/*
 * fx_layout.h -- the transposing copy of fastxent's Cython backend (fastxent._cython_layout).
 *
 * Column-major logits (Fortran order, a pandas frame's values, the columns of a Parquet row group)
 * must become rows before the row kernels read them.  NumPy's transposing copy moves one element
 * at a time (~1 ns an element here: 4,194 x 1,000 float32 in 4.1 ms); this one moves 16 x 16
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

#define FX_LT float
#define FX_LSUF f32
#define FX_LW FX_PANEL_F32
#if FX_LAYOUT_AVX512
#define FX_LV __m512
#define FX_LM __mmask16
#define FX_L_LOADZ _mm512_maskz_loadu_ps
#define FX_L_STORE _mm512_storeu_ps
#define FX_L_MSTORE _mm512_mask_storeu_ps
#define FX_L_ZERO _mm512_setzero_ps
#define FX_L_TRANSPOSE fx_transpose16_f32
#endif
#include "fx_layout_panel.inc"

#define FX_LT double
#define FX_LSUF f64
#define FX_LW FX_PANEL_F64
#if FX_LAYOUT_AVX512
#define FX_LV __m512d
#define FX_LM __mmask8
#define FX_L_LOADZ _mm512_maskz_loadu_pd
#define FX_L_STORE _mm512_storeu_pd
#define FX_L_MSTORE _mm512_mask_storeu_pd
#define FX_L_ZERO _mm512_setzero_pd
#define FX_L_TRANSPOSE fx_transpose8_f64
#endif
#include "fx_layout_panel.inc"

#endif /* FASTXENT_FX_LAYOUT_H */
