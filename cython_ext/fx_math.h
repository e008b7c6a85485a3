/*
 * fx_math.h -- vectorisable exp and the per-row cross-entropy loops of fastxent's Cython backend.
 *
 * Everything here is `static inline` C that GCC and Clang auto-vectorise WITHOUT -ffast-math:
 *
 *  - fx_expf / fx_exp: Cody-Waite range reduction (n = round(x log2 e) by the 1.5*2^k magic-number
 *    trick, no libm call), a polynomial on [-ln2/2, ln2/2], and scaling by 2^n built from exponent
 *    bits (memcpy bitcasts).  NaN -> NaN, x above the overflow threshold -> +inf, underflow -> 0,
 *    with no branch (see "How the special cases work" below).  fx_expf_nonpos / fx_exp_nonpos
 *    are the same functions for arguments <= 0 (all the row kernels need): bitwise equal to
 *    fx_expf / fx_exp down to ~ln(smallest normal), flushed to 0 below, cheaper scaling.
 *    Accuracy measured on x86-64 (AVX-512 + FMA, and SSE2 without FMA): fx_expf is within 1 ulp
 *    of the correctly rounded result for every one of the 2^32 floats (exhaustive; max error
 *    1.01 ulp against the exact value on [-87.3, 88.7]); fx_exp < 1 ulp on [-708, 709.7]
 *    (sampled against np.exp and decimal).
 *
 *  - fx_expf_nonpos_x16 / fx_exp_nonpos_x8 (AVX-512 builds only): table-driven exps of 16 floats /
 *    8 doubles written with intrinsics (a table lookup auto-vectorises into gathers), for the
 *    row kernels' exp pass (fx_expf_nonpos_block_sum) and the small-class tiles.
 *
 *  - the row loops (fx_rows.inc, instantiated once for float and once for double): every loop
 *    over the classes of one row is an `omp simd` loop (needs -fopenmp-simd or -fopenmp; without
 *    either the pragma is ignored and the compiler vectorises what it proves safe).  `omp simd`
 *    also tells the compiler that an output row may be *the same* memory as the input row
 *    (in-place softmax / gradient): each iteration reads its element before writing it.
 *
 * Flags: IEEE semantics are required (NaN/inf guards), so never -ffast-math / -ffinite-math-only
 * (an #error below enforces it).  GCC needs -fno-trapping-math to if-convert the clamp of the exp
 * argument (the clamped path constant-folds, and under the default -ftrapping-math GCC will not
 * speculate the other path's float operations); that flag keeps every IEEE result (NaN, inf,
 * signed zeros, rounding) and only stops treating floating-point exceptions as observable.
 */
#ifndef FASTXENT_FX_MATH_H
#define FASTXENT_FX_MATH_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)
#error "fastxent's kernels need IEEE NaN/inf semantics: do not compile them with -ffast-math/-ffinite-math-only"
#endif
#if defined(__GNUC__) && !defined(__clang__) && !defined(__NO_TRAPPING_MATH__)
#warning "fastxent: compile with -fno-trapping-math, or GCC will not vectorise the exp loops"
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FX_INLINE static inline __attribute__((always_inline))
/* a rarely taken path: not inlined, kept out of the hot code */
#define FX_COLD static __attribute__((noinline, cold))
#else
#define FX_INLINE static inline
#define FX_COLD static
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#define FX_PRAGMA(x) __pragma(x)
#else
#define FX_PRAGMA(x) _Pragma(#x)
#endif

/* Prefetch hints, for data the hardware prefetcher would ask for too late (it follows the demand
 * stream, which pauses while a kernel computes on what it has).  A prefetch never faults, so the
 * address may lie past the array; it is formed as an integer, not as an out-of-range pointer. */
#if defined(__GNUC__) || defined(__clang__)
#define FX_PREFETCH_READ(p, off) \
    __builtin_prefetch((const void *)((uintptr_t)(p) + (uintptr_t)(off)), 0, 3)
#define FX_PREFETCH_WRITE(p, off) \
    __builtin_prefetch((const void *)((uintptr_t)(p) + (uintptr_t)(off)), 1, 3)
/* into L2 only (prefetcht1): for data needed after the current working set has left L1 */
#define FX_PREFETCH_READ_L2(p, off) \
    __builtin_prefetch((const void *)((uintptr_t)(p) + (uintptr_t)(off)), 0, 2)
#else
#define FX_PREFETCH_READ(p, off) ((void)0)
#define FX_PREFETCH_WRITE(p, off) ((void)0)
#define FX_PREFETCH_READ_L2(p, off) ((void)0)
#endif

/* Whether the n >= 1 weights all equal the first, a number (lets the loops skip per-element weight
 * loads: class weights in the softmax kernels, pos_weight in the multi-label ones); 0 for n == 0. */
FX_INLINE int fx_all_equal(const double *w, ptrdiff_t n)
{
    if (n <= 0 || w[0] != w[0]) return 0;
    for (ptrdiff_t i = 1; i < n; ++i)
        if (w[i] != w[0]) return 0;
    return 1;
}

/* ---------------------------------------------------------------- bitcasts */

FX_INLINE uint32_t fx_f32_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
FX_INLINE float fx_bits_f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
FX_INLINE uint64_t fx_f64_bits(double f) { uint64_t u; memcpy(&u, &f, sizeof u); return u; }
FX_INLINE double fx_bits_f64(uint64_t u) { double f; memcpy(&f, &u, sizeof f); return f; }

/* v if keep else +0.0 (a term whose weight is 0 counts 0 even when v is 0 * inf = NaN). */
FX_INLINE double fx_keep_if(double v, int keep)
{
    return keep ? v : 0.0;
}

/* ---------------------------------------------------------------- float32 exp */

/*
 * How the special cases work with no branch (the only conditional is the clamp of the argument):
 *  - the clamps are written `x < LO ? LO : x` / `x > HI ? HI : x`; they keep a NaN (the
 *    comparison is false) and compile to max/min instructions.  A NaN then flows through the
 *    arithmetic; the exponent bits computed from it are some integer (memcpy bitcasts, unsigned
 *    arithmetic, no float->int conversion: no undefined behaviour) and NaN * anything = NaN.
 *  - overflow: the argument is clamped just above ln(MAX); the final multiply rounds to +inf
 *    exactly when exp(x) does (x = +inf included).
 *  - underflow: fx_expf / fx_exp clamp so low that the final multiply rounds to 0 (gradual
 *    underflow in between, like libm); the row kernels' fx_expf_nonpos / fx_exp_nonpos clamp at a
 *    point where n + bias = 0, i.e. the scale 2^n has all-zero bits = +0.0: results below about
 *    ln(smallest normal) - ln2/2 are flushed to 0 with no select at all (so subnormal results,
 *    slow on some CPUs, only come from the narrow band just above that point).
 * 2^n is built from exponent bits: the bias rides in the magic-number shifter (1.5 * 2^23 + 127),
 * whose low mantissa bits then hold n + 127, so the scale's bits are just (bits(u) << 23).
 * fx_expf splits 2^n = 2^n1 * 2^n2 (n1 = round(n/2), by the same trick) so that n = 128 (just
 * below overflow) and n = -150 (deep underflow) never leave the exponent field.
 */

#define FX_EXPF_HI 88.72283172607421875f    /* 0x42b17217: largest x with a finite expf(x) */
#define FX_EXPF_CLAMP_HI 88.75f             /* > HI, < 128.5 ln2: n <= 128 */
#define FX_EXPF_CLAMP_LO (-104.0f)          /* exp(-104) < 2^-150: rounds to 0 */
#define FX_EXPF_NONPOS_LO (-88.0f)          /* n = -127: n + 127 = 0, the scale is +0.0 */
#define FX_EXPF_SHIFT_B 12583039.0f         /* 0x1.8p23 + 127 (bias for exponent bits) */

/* exp(r), r = xc - n ln2, n = round(xc log2 e) = kf, for a clamped (or NaN) xc.
 * Returns p ~ exp(r) and kf; *u = xc log2e + SHIFT_B. */
FX_INLINE float fx_expf_reduce(float xc, float *u_out, float *kf_out)
{
    const float u = xc * 1.44269504088896341f + FX_EXPF_SHIFT_B;
    const float kf = u - FX_EXPF_SHIFT_B;
    /* r = x - n ln2, ln2 split so that kf * LN2_HI is exact (|n| <= 150). */
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    /* Cephes expf polynomial: exp(r) ~ 1 + r + r^2 P(r). */
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    *u_out = u;
    *kf_out = kf;
    return p * r2 + r + 1.0f;
}

/* expf for every float x: NaN -> NaN, x > FX_EXPF_HI -> +inf, gradual underflow to 0. */
FX_INLINE float fx_expf(float x)
{
    float xc = x < FX_EXPF_CLAMP_LO ? FX_EXPF_CLAMP_LO : x;
    xc = xc > FX_EXPF_CLAMP_HI ? FX_EXPF_CLAMP_HI : xc;
    float u, kf;
    const float p = fx_expf_reduce(xc, &u, &kf);
    const float h = kf * 0.5f + FX_EXPF_SHIFT_B;             /* n1 + 127 in its low bits */
    const float n2f = kf - (h - FX_EXPF_SHIFT_B);            /* n2 = n - n1, exact */
    const float v = n2f + FX_EXPF_SHIFT_B;                   /* n2 + 127 in its low bits */
    const float s1 = fx_bits_f32(fx_f32_bits(h) << 23);
    const float s2 = fx_bits_f32(fx_f32_bits(v) << 23);
    return (p * s1) * s2;
}

/* expf for x <= 0 or NaN (the shifted logits z - max z of the row kernels).  Bitwise equal to
 * fx_expf on [-87.68, 0]; below about -87.68 (= -126.5 ln2) the result is flushed to +0. */
FX_INLINE float fx_expf_nonpos(float x)
{
    const float xc = x < FX_EXPF_NONPOS_LO ? FX_EXPF_NONPOS_LO : x;
    float u, kf;
    const float p = fx_expf_reduce(xc, &u, &kf);
    return p * fx_bits_f32(fx_f32_bits(u) << 23);
}

/* ------------------------------------------- table-driven exp of 16 floats / 8 doubles (AVX-512) */

#if defined(__AVX512F__)
#include <immintrin.h>
#define FX_EXP_X_AVAILABLE 1

/* 2^(j/16), j = 0..15, as hi + lo: hi the float nearest, lo the float nearest the rest. */
static const float fx_exp2_16ths_hi[16] = {
    1.000000000e+00f, 1.044273734e+00f, 1.090507746e+00f, 1.138788581e+00f,
    1.189207077e+00f, 1.241857767e+00f, 1.296839595e+00f, 1.354255557e+00f,
    1.414213538e+00f, 1.476826191e+00f, 1.542210817e+00f, 1.610490322e+00f,
    1.681792855e+00f, 1.756252170e+00f, 1.834008098e+00f, 1.915206552e+00f};
static const float fx_exp2_16ths_lo[16] = {
    0.000000000e+00f, 4.833470157e-08f, -1.307753994e-08f, 5.386222313e-08f,
    3.797635273e-08f, 4.496838102e-08f, -4.018999533e-08f, -1.012334927e-08f,
    2.420323497e-08f, -4.500898854e-08f, 8.070904833e-09f, 9.836217174e-09f,
    -2.475532668e-08f, -9.235770371e-09f, -1.123927795e-08f, 9.845328108e-09f};

#define FX_EXPF_X16_SHIFT 12584944.0f  /* 0x1.8p23 + 16 * 127: k + 16 * 127 in the low bits */

/*
 * exp(x) in 16 lanes for x <= 0 or NaN, by a table: x = (16 q + j) ln2/16 + r, |r| <= ln2/32,
 * exp(x) = 2^q 2^(j/16) exp(r); 2^(j/16) comes from the two 16-float tables above (one register
 * each, looked up by vpermps with the low 4 bits of k = 16 q + j), exp(r) - 1 from a degree-3
 * polynomial (truncation < 1e-8).  Why: 8 of its 16 operations use the FMA pipes against 11 in
 * fx_expf_nonpos's degree-7 polynomial, which bound the exp loops (one core of the 2-core AMD
 * EPYC: 0.222 -> 0.182 ns an element, L2-resident); it is also more accurate: at most 0.69 ulp
 * on [-87.3, 0] (every float, against double exp) where fx_expf is at most 1.01.
 * NaN -> NaN (vmaxps with x second keeps it); x < -87.34 (results below FLT_MIN, -inf included)
 * -> +0: the clamp at -88 keeps q + 127 >= 0, and q + 127 = 0 makes the scale's bits +0.0.
 */
FX_INLINE __m512 fx_expf_nonpos_x16(__m512 x)
{
    const __m512 shift = _mm512_set1_ps(FX_EXPF_X16_SHIFT);
    x = _mm512_max_ps(_mm512_set1_ps(-88.0f), x);
    const __m512 u = _mm512_fmadd_ps(x, _mm512_set1_ps(23.0831206542234f), shift);  /* 16/ln2 */
    const __m512 kf = _mm512_sub_ps(u, shift);
    /* ln2/16 split so that kf * hi is exact for |k| < 2^12 */
    __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(0.0433197021484375f), x);
    r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(1.99663645616965e-06f), r);
    const __m512 c = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
    const __m512 q = _mm512_fmadd_ps(_mm512_mul_ps(r, r), c, r);           /* exp(r) - 1 */
    const __m512i ub = _mm512_castps_si512(u);
    const __m512 th = _mm512_permutexvar_ps(ub, _mm512_loadu_ps(fx_exp2_16ths_hi));
    const __m512 tl = _mm512_permutexvar_ps(ub, _mm512_loadu_ps(fx_exp2_16ths_lo));
    const __m512 p = _mm512_add_ps(_mm512_fmadd_ps(th, q, tl), th);        /* 2^(j/16) exp(r) */
    const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_srli_epi32(ub, 4), 23));
    return _mm512_mul_ps(p, scale);
}

/* 2^(j/16), j = 0..15, as hi + lo doubles (as the float tables above). */
static const double fx_exp2_16ths_hi_f64[16] = {
    1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916,
    1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927,
    1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543,
    1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474};
static const double fx_exp2_16ths_lo_f64[16] = {
    0.0, 8.551889705537965e-17, -3.046782079812471e-17, 8.912812676025408e-17,
    3.982015231465646e-17, 4.658027591836937e-17, 2.5382502794888315e-17, 7.70094837980299e-17,
    -9.667293313452913e-17, -3.483994556892796e-17, 7.949834809697621e-17, 2.4707192569797888e-17,
    8.199010020581497e-17, 2.960140695448873e-17, 3.283107224245627e-17, -1.0619946056195963e-16};

#define FX_EXP_X8_SHIFT 6755399441072112.0  /* 0x1.8p52 + 16 * 1023: k + 16 * 1023 in the low bits */

/*
 * exp(x) in 8 lanes for x <= 0 or NaN: fx_expf_nonpos_x16's method in double (vpermt2pd looks up
 * the 16-entry tables held in two registers each), exp(r) - 1 by its Taylor polynomial of degree 7
 * (truncation < 2e-18 for |r| <= ln2/32).  12 FMA-pipe operations against fx_exp_nonpos's 16
 * (one core: 0.607 -> 0.533 ns an element, L2-resident); at most 0.54 ulp against the exact value
 * in 20,000 samples of [-708, 0] (fx_exp: 0.96).  NaN -> NaN; x < -708.40 (results below
 * DBL_MIN, -inf included) -> +0 (the clamp at -709 keeps q + 1023 >= 0).
 */
FX_INLINE __m512d fx_exp_nonpos_x8(__m512d x)
{
    const __m512d shift = _mm512_set1_pd(FX_EXP_X8_SHIFT);
    x = _mm512_max_pd(_mm512_set1_pd(-709.0), x);
    const __m512d u = _mm512_fmadd_pd(x, _mm512_set1_pd(23.083120654223414), shift);  /* 16/ln2 */
    const __m512d kf = _mm512_sub_pd(u, shift);
    /* ln2/16 split so that kf * hi is exact for |k| < 2^20 */
    __m512d r = _mm512_fnmadd_pd(kf, _mm512_set1_pd(0.043321698780346196), x);
    r = _mm512_fnmadd_pd(kf, _mm512_set1_pd(4.650385693757748e-12), r);
    __m512d c = _mm512_set1_pd(1.0 / 5040.0);
    c = _mm512_fmadd_pd(c, r, _mm512_set1_pd(1.0 / 720.0));
    c = _mm512_fmadd_pd(c, r, _mm512_set1_pd(1.0 / 120.0));
    c = _mm512_fmadd_pd(c, r, _mm512_set1_pd(1.0 / 24.0));
    c = _mm512_fmadd_pd(c, r, _mm512_set1_pd(1.0 / 6.0));
    c = _mm512_fmadd_pd(c, r, _mm512_set1_pd(0.5));
    const __m512d q = _mm512_fmadd_pd(_mm512_mul_pd(r, r), c, r);         /* exp(r) - 1 */
    const __m512i ub = _mm512_castpd_si512(u);
    const __m512d th = _mm512_permutex2var_pd(_mm512_loadu_pd(fx_exp2_16ths_hi_f64), ub,
                                              _mm512_loadu_pd(fx_exp2_16ths_hi_f64 + 8));
    const __m512d tl = _mm512_permutex2var_pd(_mm512_loadu_pd(fx_exp2_16ths_lo_f64), ub,
                                              _mm512_loadu_pd(fx_exp2_16ths_lo_f64 + 8));
    const __m512d p = _mm512_add_pd(_mm512_fmadd_pd(th, q, tl), th);      /* 2^(j/16) exp(r) */
    const __m512d scale = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_srli_epi64(ub, 4), 52));
    return _mm512_mul_pd(p, scale);
}

/* the low / high 8 lanes of x in float64 */
FX_INLINE __m512d fx_lo_pd(__m512 x) { return _mm512_cvtps_pd(_mm512_castps512_ps256(x)); }
FX_INLINE __m512d fx_hi_pd(__m512 x)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
}
#else
#define FX_EXP_X_AVAILABLE 0
#endif

/* ---------------------------------------------------------------- float64 exp */

#define FX_EXP_HI 709.782712893384           /* 0x1.62e42fefa39efp+9: largest x with a finite exp(x) */
#define FX_EXP_CLAMP_HI 709.79               /* > HI, < 1024.5 ln2: n <= 1024 */
#define FX_EXP_CLAMP_LO (-745.2)             /* exp(-745.2) < 2^-1075: rounds to 0 */
#define FX_EXP_NONPOS_LO (-709.0)            /* n = -1023: n + 1023 = 0, the scale is +0.0 */
#define FX_EXP_SHIFT_B 6755399441056767.0    /* 0x1.8p52 + 1023 */

FX_INLINE double fx_exp_reduce(double xc, double *u_out, double *kf_out)
{
    const double u = xc * 1.4426950408889634074 + FX_EXP_SHIFT_B;
    const double kf = u - FX_EXP_SHIFT_B;
    /* fdlibm's split of ln2: kf * LN2_HI is exact for |n| < 2^20. */
    double r = xc - kf * 6.93147180369123816490e-01;
    r = r - kf * 1.90821492927058770002e-10;
    /* exp(r) = 1 + r + r^2 (c2 + c3 r + ... + c11 r^9): near-minimax, relative error < 8e-18 on
     * |r| <= ln2/2 (the numba backend's coefficients); two FMAs fewer than the degree-13 Taylor
     * polynomial it replaces (W2 row kernel 2.0 -> 1.7 ns per element on one AVX2 core). */
    double p = 2.5130967294335425223e-08;
    p = p * r + 2.7632656015665298840e-07;
    p = p * r + 2.7557182027499099364e-06;
    p = p * r + 2.4801487322007401767e-05;
    p = p * r + 0.00019841269946590058351;
    p = p * r + 0.0013888888947827370764;
    p = p * r + 0.0083333333332986343183;
    p = p * r + 0.041666666666521959916;
    p = p * r + 0.16666666666666703461;
    p = p * r + 0.5000000000000010228;
    *u_out = u;
    *kf_out = kf;
    return p * (r * r) + r + 1.0;
}

/* exp for every double x: NaN -> NaN, x > FX_EXP_HI -> +inf, gradual underflow to 0. */
FX_INLINE double fx_exp(double x)
{
    double xc = x < FX_EXP_CLAMP_LO ? FX_EXP_CLAMP_LO : x;
    xc = xc > FX_EXP_CLAMP_HI ? FX_EXP_CLAMP_HI : xc;
    double u, kf;
    const double p = fx_exp_reduce(xc, &u, &kf);
    const double h = kf * 0.5 + FX_EXP_SHIFT_B;
    const double n2f = kf - (h - FX_EXP_SHIFT_B);
    const double v = n2f + FX_EXP_SHIFT_B;
    const double s1 = fx_bits_f64(fx_f64_bits(h) << 52);
    const double s2 = fx_bits_f64(fx_f64_bits(v) << 52);
    return (p * s1) * s2;
}

/* exp for x <= 0 or NaN; bitwise equal to fx_exp on [-708.74, 0], flushed to +0 below. */
FX_INLINE double fx_exp_nonpos(double x)
{
    const double xc = x < FX_EXP_NONPOS_LO ? FX_EXP_NONPOS_LO : x;
    double u, kf;
    const double p = fx_exp_reduce(xc, &u, &kf);
    return p * fx_bits_f64(fx_f64_bits(u) << 52);
}

/* ---------------------------------------------------------------- float64 log */

/*
 * fx_log: natural log of a double with no libm call and no branch, so loops over it vectorise
 * (the small-C block kernels take the log of a whole block of row sums at once).  fdlibm's
 * __ieee754_log (k ln2 + log(f), f in [sqrt(2)/2, sqrt(2)), log(f) = 2 atanh(s), s = f/(2+f),
 * with its Lg1..Lg7 minimax polynomial, < 1 ulp), both of its final formulas computed and
 * selected.  Special cases like libm: log(+-0) = -inf, log(x < 0) = NaN, log(+inf) = +inf,
 * log(NaN) = NaN; subnormals are scaled by 2^54 first.
 */
FX_INLINE double fx_log(double x)
{
    const int sub = x < 2.2250738585072014e-308;               /* subnormal (or <= 0, NaN: no) */
    const double xs = sub ? x * 18014398509481984.0 : x;       /* * 2^54 */
    const uint64_t ix = fx_f64_bits(xs);
    const int64_t hx = (int64_t)(ix >> 32);
    const int64_t hm = hx & 0x000fffff;
    const int64_t i = (hm + 0x95f64) & 0x100000;                /* 0x100000 iff mantissa >= sqrt2 */
    const int64_t k = (hx >> 20) - 1023 + (i >> 20) - (sub ? 54 : 0);
    const uint64_t fbits = ((uint64_t)(hm | (i ^ 0x3ff00000)) << 32) | (ix & 0xffffffffu);
    const double f = fx_bits_f64(fbits) - 1.0;
    /* (double)k by the 2^52 magic number (|k| < 2^31, exact): AVX2 has no int64 -> double
     * conversion, and with one GCC does not vectorise fx_log there */
    const double dk = fx_bits_f64((uint64_t)(k + 0x4330000080000000LL)) - 4503601774854144.0;
    const double s = f / (2.0 + f);
    const double z = s * s;
    const double w = z * z;
    const double t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01
                      + w * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
                      + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)));
    const double R = t2 + t1;
    const double hfsq = 0.5 * f * f;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double r_big = dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
    const double r_small = dk * ln2_hi - ((s * (f - R) - dk * ln2_lo) - f);
    const int64_t sel = (hm - 0x6147a) | (0x6b851 - hm);
    double r = sel > 0 ? r_big : r_small;
    r = x > 0.0 ? r : (x == 0.0 ? -INFINITY : NAN);
    r = x == INFINITY ? INFINITY : r;
    return x != x ? x : r;
}

/* ---------------------------------------------------------------- small-C blocks */

/* The labels kernels take rows with at most FX_SMALL_C classes a block at a time
 * (fx_block_ce_label): FX_SMALL_ROWS(C) rows, a fixed function of C (never of the thread count). */
#ifndef FX_SMALL_C
#define FX_SMALL_C 64
#endif
#define FX_SMALL_ELEMS 2048
#define FX_SMALL_MAXROWS 256
FX_INLINE ptrdiff_t fx_small_rows(ptrdiff_t n)
{
    const ptrdiff_t r = FX_SMALL_ELEMS / (n > 0 ? n : 1);
    return r > FX_SMALL_MAXROWS ? FX_SMALL_MAXROWS : r;
}
/* Rows a block's per-row arrays (S, md, zyd, wyv, L, kind) hold for fx_block_losses: nr rounded up
 * to 16 (rows past nr: kind 1, every other entry a number; at most FX_SMALL_MAXROWS). */
FX_INLINE ptrdiff_t fx_block_padded_rows(ptrdiff_t nr) { return (nr + 15) & ~(ptrdiff_t)15; }

/* ---------------------------------------------------------------- row loops */

/* Classes per block of the row sums (a multiple of every vector width). */
#ifndef FX_BLOCK
#define FX_BLOCK 1024
#endif

/* ---------------------------------------------------------------- one block of a row's exps */

/* Asks for the line at ask + off, into L1 or (into_l2) into L2 only. */
FX_INLINE void fx_ask_line(uintptr_t ask, ptrdiff_t off, int into_l2)
{
    if (into_l2) {
        FX_PREFETCH_READ_L2(ask, off);
    } else {
        FX_PREFETCH_READ(ask, off);
    }
}

/* The block sums' requests without AVX-512 (their loops are left to the vectoriser): all at once. */
FX_INLINE void fx_ask_block(uintptr_t ask, ptrdiff_t bytes, int into_l2)
{
    for (ptrdiff_t b = 0; b < bytes; b += 64) fx_ask_line(ask, b, into_l2);
}

/*
 * e_c = exp(z_c - m) for c in [0, n), n <= FX_BLOCK, where every z_c - m <= 0 or is NaN (m is the
 * row's max), stored in e unless e is NULL (e may be z); returns sum_c e_c in float64.
 * ask: the address of the same block of the next row (it may lie past the array), whose lines are
 * asked for a few at a time while the exps are computed, into L1 or (into_l2) L2 only
 * (fx_prefetch_next_row and fx_row_sumexp in fx_rows.inc say why).
 * With AVX-512: fx_expf_nonpos_x16 / fx_exp_nonpos_x8, and the sum in the same loop over four /
 * two float64 accumulators (no add waits on the one before).  Elsewhere, float: the block's exps
 * are stored first (into e or a stack buffer) and summed by a second loop, in L1 (the float64 sum
 * inside the auto-vectorised exp loop made each iteration wait on two dependent adds: 0.68 -> 0.48
 * ns an element on one AVX2 core); double: one loop, the faster one there.
 */
FX_INLINE double fx_expf_nonpos_block_sum(const float *z, float m, float *e, ptrdiff_t n,
                                          uintptr_t ask, int into_l2)
{
#if FX_EXP_X_AVAILABLE
    const __m512 mv = _mm512_set1_ps(m);
    __m512d s0 = _mm512_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
    ptrdiff_t c = 0;
    for (; c + 32 <= n; c += 32) {
        fx_ask_line(ask, c * (ptrdiff_t)sizeof(float), into_l2);
        fx_ask_line(ask, c * (ptrdiff_t)sizeof(float) + 64, into_l2);
        const __m512 e0 = fx_expf_nonpos_x16(_mm512_sub_ps(_mm512_loadu_ps(z + c), mv));
        const __m512 e1 = fx_expf_nonpos_x16(_mm512_sub_ps(_mm512_loadu_ps(z + c + 16), mv));
        if (e) {
            _mm512_storeu_ps(e + c, e0);
            _mm512_storeu_ps(e + c + 16, e1);
        }
        s0 = _mm512_add_pd(s0, fx_lo_pd(e0));
        s1 = _mm512_add_pd(s1, fx_hi_pd(e0));
        s2 = _mm512_add_pd(s2, fx_lo_pd(e1));
        s3 = _mm512_add_pd(s3, fx_hi_pd(e1));
    }
    for (; c < n; c += 16) {
        fx_ask_line(ask, c * (ptrdiff_t)sizeof(float), into_l2);
        const __mmask16 k = n - c >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - c)) - 1u);
        const __m512 x = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, z + c), mv);
        const __m512 ek = _mm512_maskz_mov_ps(k, fx_expf_nonpos_x16(x));
        if (e) _mm512_mask_storeu_ps(e + c, k, ek);
        s0 = _mm512_add_pd(s0, fx_lo_pd(ek));
        s1 = _mm512_add_pd(s1, fx_hi_pd(ek));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3)));
#else
    fx_ask_block(ask, n * (ptrdiff_t)sizeof(float), into_l2);
    float buf[FX_BLOCK];
    float *eb = e ? e : buf;
    double s = 0.0;
    FX_PRAGMA(omp simd)
    for (ptrdiff_t c = 0; c < n; ++c) eb[c] = fx_expf_nonpos(z[c] - m);
    FX_PRAGMA(omp simd reduction(+:s))
    for (ptrdiff_t c = 0; c < n; ++c) s += (double)eb[c];
    return s;
#endif
}

FX_INLINE double fx_exp_nonpos_block_sum(const double *z, double m, double *e, ptrdiff_t n,
                                         uintptr_t ask, int into_l2)
{
#if FX_EXP_X_AVAILABLE
    const __m512d mv = _mm512_set1_pd(m);
    __m512d s0 = _mm512_setzero_pd(), s1 = s0;
    ptrdiff_t c = 0;
    for (; c + 16 <= n; c += 16) {
        fx_ask_line(ask, c * (ptrdiff_t)sizeof(double), into_l2);
        fx_ask_line(ask, c * (ptrdiff_t)sizeof(double) + 64, into_l2);
        const __m512d e0 = fx_exp_nonpos_x8(_mm512_sub_pd(_mm512_loadu_pd(z + c), mv));
        const __m512d e1 = fx_exp_nonpos_x8(_mm512_sub_pd(_mm512_loadu_pd(z + c + 8), mv));
        if (e) {
            _mm512_storeu_pd(e + c, e0);
            _mm512_storeu_pd(e + c + 8, e1);
        }
        s0 = _mm512_add_pd(s0, e0);
        s1 = _mm512_add_pd(s1, e1);
    }
    for (; c < n; c += 8) {
        fx_ask_line(ask, c * (ptrdiff_t)sizeof(double), into_l2);
        const __mmask8 k = n - c >= 8 ? (__mmask8)0xff : (__mmask8)((1u << (n - c)) - 1u);
        const __m512d x = _mm512_sub_pd(_mm512_maskz_loadu_pd(k, z + c), mv);
        const __m512d ek = _mm512_maskz_mov_pd(k, fx_exp_nonpos_x8(x));
        if (e) _mm512_mask_storeu_pd(e + c, k, ek);
        s0 = _mm512_add_pd(s0, ek);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
#else
    fx_ask_block(ask, n * (ptrdiff_t)sizeof(double), into_l2);
    double s = 0.0;
    if (e) {
        FX_PRAGMA(omp simd reduction(+:s))
        for (ptrdiff_t c = 0; c < n; ++c) {
            const double ec = fx_exp_nonpos(z[c] - m);
            e[c] = ec;
            s += ec;
        }
    } else {
        FX_PRAGMA(omp simd reduction(+:s))
        for (ptrdiff_t c = 0; c < n; ++c) s += fx_exp_nonpos(z[c] - m);
    }
    return s;
#endif
}

#define FX_CAT_(a, b) a##_##b
#define FX_CAT(a, b) FX_CAT_(a, b)

/* The AVX-512 16-row tiles for float rows of at most 16 classes (fx_tile16.h); 0 elsewhere. */
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define FX_TILE16_AVAILABLE 1
#else
#define FX_TILE16_AVAILABLE 0
#endif

#define FX_T float
#define FX_TMAX FLT_MAX
#define FX_SUF f32
#define FX_EXPFN fx_expf
#define FX_EXPNP fx_expf_nonpos
#define FX_EXPNP_BLOCK_SUM fx_expf_nonpos_block_sum
#define FX_TILE16 FX_TILE16_AVAILABLE
#include "fx_rows.inc"
#undef FX_T
#undef FX_TMAX
#undef FX_SUF
#undef FX_EXPFN
#undef FX_EXPNP
#undef FX_EXPNP_BLOCK_SUM
#undef FX_TILE16

#define FX_T double
#define FX_TMAX DBL_MAX
#define FX_SUF f64
#define FX_EXPFN fx_exp
#define FX_EXPNP fx_exp_nonpos
#define FX_EXPNP_BLOCK_SUM fx_exp_nonpos_block_sum
#define FX_TILE16 0
#include "fx_rows.inc"
#undef FX_T
#undef FX_TMAX
#undef FX_SUF
#undef FX_EXPFN
#undef FX_EXPNP
#undef FX_EXPNP_BLOCK_SUM
#undef FX_TILE16

/* ---------------------------------------------------------------- build information */

#ifdef _OPENMP
#include <omp.h>
#define FX_OPENMP_ENABLED 1
#define FX_OPENMP_SPEC _OPENMP
FX_INLINE int fx_openmp_max_threads(void) { return omp_get_max_threads(); }
#else
#define FX_OPENMP_ENABLED 0
#define FX_OPENMP_SPEC 0
FX_INLINE int fx_openmp_max_threads(void) { return 1; }
#endif

/* Defined by CMakeLists.txt; defaults for a build by other means. */
#ifndef FX_BUILD_COMPILER_ID
#define FX_BUILD_COMPILER_ID "unknown"
#endif
#ifndef FX_BUILD_COMPILER_VERSION
#define FX_BUILD_COMPILER_VERSION "unknown"
#endif
#ifndef FX_BUILD_C_FLAGS
#define FX_BUILD_C_FLAGS ""
#endif
#ifndef FX_BUILD_OPENMP_VERSION
#define FX_BUILD_OPENMP_VERSION ""
#endif
#ifndef FX_BUILD_NATIVE
#define FX_BUILD_NATIVE 0
#endif
#ifndef FX_BUILD_TYPE
#define FX_BUILD_TYPE ""
#endif

#endif /* FASTXENT_FX_MATH_H */
