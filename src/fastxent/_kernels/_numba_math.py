"""Vectorisable elementary functions for the Numba kernels.

Numba without Intel SVML lowers ``np.exp``/``math.exp`` to scalar libm calls, which LLVM cannot
vectorise (5-10x slower than the memory traffic of a softmax). ``vexp`` is a branch-free exp made
of plain arithmetic, selects and bit manipulation, so the loops calling it vectorise (AVX2/AVX-512):

* ``n = round(x * log2(e))`` by the shifter trick: ``t = x * log2(e) + 1.5 * 2**m`` (``m`` mantissa
  bits) rounds to an integer, which then sits in the low bits of ``t``; ``n = t - 1.5 * 2**m``;
* the Cody-Waite reduction ``r = x - n*ln2_hi - n*ln2_lo`` (``ln2_hi`` has trailing zero bits, so
  ``n*ln2_hi`` is exact), ``|r| <= ln(2)/2``;
* ``exp(r) = 1 + r + r^2 q(r)`` by Horner (all FMAs), with minimax coefficients computed for this
  package (Remez on the relative error): degree 6 for float32 (approximation error 3e-9), degree 11
  for float64 (< 8e-18);
* ``exp(x) = exp(r) * 2**n`` by adding ``n << m`` (taken from the bits of ``t``) to the bits of
  ``exp(r)`` (``_scale_exp2``, an LLVM bitcast intrinsic). This is exact whenever the result is a
  normal number, including the top of the range (``n = 128`` for float32 comes with
  ``exp(r) < 1``, so the exponent field does not overflow) and the bottom (``n = -126`` comes
  with ``exp(r) >= 1``);
* selects on ``x``: ``x`` below ``ln(smallest normal)`` -> 0 (subnormal results are flushed to
  zero), above the overflow threshold -> +inf, NaN -> NaN. There is no clamp and no float -> int
  conversion at all: out-of-range lanes compute meaningless but well-defined values (IEEE float
  ops and wrapping integer adds, no LLVM poison) which the selects discard.

Measured accuracy (round-to-nearest reference): float32 at most 1 ulp over every float32 in
[-87.3, 88.7]; float64 at most 1 ulp on 10^8 random points in [-708, 709.7].

These implementations are compiled with ``_jit.math_options()``: no ``reassoc`` (it would let LLVM
merge the two Cody-Waite steps and the shifter trick) and no ``nnan``/``ninf``. They are separate
functions that LLVM inlines into the kernels' loops.

``vlog`` is a branch-free float64 log (fdlibm's ``__ieee754_log``: exponent from the bits,
``log(f) = 2 atanh(s)`` with the Lg1..Lg7 minimax polynomial, < 1 ulp) so that a loop taking the
log of a block of row sums vectorises; special cases like libm (log(0) = -inf, log(x < 0) = NaN,
log(inf) = inf, log(NaN) = NaN; subnormals scaled by 2^54 first). ``vlog1p_recip_unit`` gives
``log1p(u)`` and ``1 / (1 + u)`` on [0, 1] (softplus and sigmoid from ``u = exp(-|z|)``): a float32
polynomial beside one division, and ``vlog`` with a rounding correction in float64.

Also here: ``vmax`` (NaN-propagating max that vectorises as a reduction), ``radd`` (the one add
that carries ``reassoc``, for the row sums), ``as_dtype_of`` (cast to an array's dtype) and
``prefetch_next_row`` (``llvm.prefetch`` of the next row of a 2-D array, as the Cython row kernels do).
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from ._jit import REDUCTION_FASTMATH, inline_helper, math_options

__all__ = ["vexp", "vlog", "vlog1p_recip_unit", "vmax", "radd", "as_dtype_of", "prefetch_next_row"]


@intrinsic
def _scale_exp2(typingctx, p, t):
    """``p * 2**n`` where ``t = n + 1.5 * 2**m`` holds the integer ``n`` in its low mantissa bits
    (``m`` = 23 for float32, 52 for float64): ``bitcast(bits(p) + (bits(t) << m))``.

    Shifting ``bits(t)`` left by ``m`` keeps exactly ``n << m`` (the other bits of the magic
    constant fall off the top, two's complement takes care of ``n < 0``), which is added to the
    exponent field of ``p``. Exact when ``p`` and the result are normal numbers; otherwise the
    value is meaningless (but defined: plain integer arithmetic, no poison) and the caller
    replaces it with a select.
    """
    if not (isinstance(p, types.Float) and p == t and p.bitwidth in (32, 64)):
        return None
    width = p.bitwidth
    mantissa_bits = 23 if width == 32 else 52

    def codegen(context, builder, signature, args):
        value, magic_n = args
        int_type = ir.IntType(width)
        shift = builder.shl(builder.bitcast(magic_n, int_type),
                            ir.Constant(int_type, mantissa_bits))
        bits = builder.add(builder.bitcast(value, int_type), shift)
        return builder.bitcast(bits, value.type)

    return p(p, t), codegen


@intrinsic
def _maximum(typingctx, a, b):
    """``llvm.maximum``: IEEE-754 2019 maximum (NaN-propagating), which LLVM vectorises as a
    reduction without needing the ``nnan`` flag."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, signature, args):
        ftype = args[0].type
        name = "llvm.maximum.f32" if ftype == ir.FloatType() else "llvm.maximum.f64"
        fnty = ir.FunctionType(ftype, [ftype, ftype])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        return builder.call(fn, args)

    return a(a, b), codegen


@intrinsic
def _prefetch(typingctx, array, byte_offset):
    """``llvm.prefetch`` (read, keep in all levels) of the byte at ``array.data + byte_offset``. A
    prefetch never faults, so the address may lie past the array; it is formed as an integer."""
    if not (isinstance(array, types.Array) and isinstance(byte_offset, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i64, i32, i8_ptr = ir.IntType(64), ir.IntType(32), ir.IntType(8).as_pointer()
        offset = context.cast(builder, args[1], signature.args[1], types.int64)
        address = builder.inttoptr(builder.add(builder.ptrtoint(data, i64), offset), i8_ptr)
        fnty = ir.FunctionType(ir.VoidType(), [i8_ptr, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, byte_offset), codegen


# Rows up to this size ask for the next row (as the Cython kernels' fx_prefetch_next_row)
PREFETCH_ROW_BYTES = 16384


@inline_helper
def prefetch_next_row(row):
    """Ask for the row that follows ``row`` (a C-contiguous row of a 2-D array) in memory, when it is
    at most `PREFETCH_ROW_BYTES`: called after a row's first pass, so that its loads overlap this
    row's exps (the hardware prefetcher follows the demand stream, which pauses meanwhile)."""
    nbytes = row.size * row.itemsize
    if nbytes <= PREFETCH_ROW_BYTES:
        for b in range(0, nbytes, 64):
            _prefetch(row, nbytes + b)


def radd(acc, x):
    """``acc + x`` as a *reassociable* add: use it for the accumulation of a reduction loop
    (``s = radd(s, term)``) so that LLVM may vectorise the loop into partial sums. Only this
    ``fadd`` gets the ``reassoc`` flag; the rest of the kernel keeps its written order."""
    return acc + x


@intrinsic
def _radd(typingctx, acc, x):
    """``fadd reassoc contract nsz``: the flags are set on the instruction itself, so Numba's
    fast-math pass (which only flags instructions that have none) leaves them as they are."""
    if not (isinstance(acc, types.Float) and acc == x):
        return None

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1], flags=tuple(sorted(REDUCTION_FASTMATH)))

    return acc(acc, x), codegen


@overload(radd, inline="always")
def _radd_overload(acc, x):
    if isinstance(acc, types.Float) and acc == x:
        return lambda acc, x: _radd(acc, x)
    return None


# float32 constants (np.float32 module globals: numba freezes them as float32, so no float64 math).
_F32_LOG2E = np.float32(1.4426950408889634)
_F32_SHIFTER = np.float32(12582912.0)  # 1.5 * 2**23: x + SHIFTER rounds x (|x| < 2**22) to an int
_F32_LN2_HI = np.float32(0.693359375)  # 355/512: n * ln2_hi is exact for |n| < 2**15
_F32_LN2_LO = np.float32(-2.12194440e-4)  # ln(2) - ln2_hi
_F32_HI = np.float32(88.72283)  # largest float32 with exp(x) < FLT_MAX
_F32_LO = np.float32(-87.33654)  # smallest float32 with exp(x) >= FLT_MIN
_F32_ONE = np.float32(1.0)
_F32_ZERO = np.float32(0.0)
_F32_INF = np.float32(np.inf)
# Minimax (Remez, relative error 3.1e-9 before rounding the coefficients) for
# exp(r) = 1 + r + r^2 (c2 + c3 r + ... + c6 r^4), |r| <= ln(2)/2.
_F32_C2 = np.float32(0.499999934478241926)
_F32_C3 = np.float32(0.166665206316143542)
_F32_C4 = np.float32(0.0416683880386501734)
_F32_C5 = np.float32(0.00836871688852338747)
_F32_C6 = np.float32(0.00138145990178091390)


def _vexp_f32(x):
    # n = round(x / ln 2) sits in the low bits of t. No clamp is needed: outside [LO, HI] (and for
    # NaN) the lanes compute garbage through defined float/int operations and are replaced below.
    t = x * _F32_LOG2E + _F32_SHIFTER
    n = t - _F32_SHIFTER
    r = x - n * _F32_LN2_HI  # exact
    r = r - n * _F32_LN2_LO
    p = _F32_C6 * r + _F32_C5
    p = p * r + _F32_C4
    p = p * r + _F32_C3
    p = p * r + _F32_C2
    p = p * r + _F32_ONE
    p = p * r + _F32_ONE
    y = _scale_exp2(p, t)
    y = y if x >= _F32_LO else _F32_ZERO  # also NaN -> 0 here ...
    y = y if x <= _F32_HI else _F32_INF  # ... -> inf here ...
    return y if x == x else x  # ... -> NaN here.


_F64_LOG2E = 1.4426950408889634
_F64_SHIFTER = 6755399441055744.0  # 1.5 * 2**52
_F64_LN2_HI = 6.93147180369123816490e-01  # fdlibm: 32 significant bits, n * ln2_hi exact
_F64_LN2_LO = 1.90821492927058770002e-10
_F64_HI = 709.782712893384  # largest float64 with exp(x) < DBL_MAX
_F64_LO = -708.3964185322641  # smallest float64 with exp(x) >= DBL_MIN
# Near-minimax (relative error < 8e-18) for exp(r) = 1 + r + r^2 (c2 + ... + c11 r^9).
_F64_C2 = 0.5000000000000010228
_F64_C3 = 0.16666666666666703461
_F64_C4 = 0.041666666666521959916
_F64_C5 = 0.0083333333332986343183
_F64_C6 = 0.0013888888947827370764
_F64_C7 = 0.00019841269946590058351
_F64_C8 = 2.4801487322007401767e-05
_F64_C9 = 2.7557182027499099364e-06
_F64_C10 = 2.7632656015665298840e-07
_F64_C11 = 2.5130967294335425223e-08


def _vexp_f64(x):
    t = x * _F64_LOG2E + _F64_SHIFTER
    n = t - _F64_SHIFTER
    r = x - n * _F64_LN2_HI
    r = r - n * _F64_LN2_LO
    p = _F64_C11 * r + _F64_C10
    p = p * r + _F64_C9
    p = p * r + _F64_C8
    p = p * r + _F64_C7
    p = p * r + _F64_C6
    p = p * r + _F64_C5
    p = p * r + _F64_C4
    p = p * r + _F64_C3
    p = p * r + _F64_C2
    p = p * r + 1.0
    p = p * r + 1.0
    y = _scale_exp2(p, t)
    y = y if x >= _F64_LO else 0.0
    y = y if x <= _F64_HI else np.inf
    return y if x == x else x


def vexp(x):
    """``exp(x)`` for a float32 or float64 scalar, in that dtype (vectorisable in Numba loops).

    Called from Python it is just ``np.exp``; in jitted code it dispatches on the dtype.
    """
    return np.exp(x)


@overload(vexp, jit_options=math_options())
def _vexp_overload(x):
    if isinstance(x, types.Float):
        if x.bitwidth == 32:
            return _vexp_f32
        if x.bitwidth == 64:
            return _vexp_f64
    return None


def vmax(a, b):
    """NaN-propagating maximum of two floats of one dtype (vectorises as a reduction)."""
    return np.maximum(a, b)


@overload(vmax, jit_options=math_options(), inline="always")
def _vmax_overload(a, b):
    if isinstance(a, types.Float) and a == b:
        def impl(a, b):
            return _maximum(a, b)
        return impl
    return None


def as_dtype_of(array, value):
    """``value`` converted to the dtype of ``array`` (an array or a float scalar; in jitted code: a
    plain numeric cast)."""
    return np.asarray(array).dtype.type(value)


@overload(as_dtype_of, jit_options=math_options(), inline="always")
def _as_dtype_of_overload(array, value):
    dtype = array.dtype if isinstance(array, types.Array) else array
    if isinstance(dtype, types.Float):
        cast = np.dtype(str(dtype)).type

        def impl(array, value):
            return cast(value)
        return impl
    return None


def gs_last_limit_of(array):
    """A quarter of the largest finite value of ``array``'s dtype, as a float64: a gradient row
    whose factor ``gs A`` exceeds it is written as ``gs (A / S e_c - a_c)`` (see
    ``numba_softmax._grad_needs_gs_last``)."""
    return 0.25 * float(np.finfo(np.asarray(array).dtype).max)


@overload(gs_last_limit_of, jit_options=math_options(), inline="always")
def _gs_last_limit_of_overload(array):
    dtype = array.dtype if isinstance(array, types.Array) else array
    if isinstance(dtype, types.Float):
        limit = 0.25 * float(np.finfo(np.dtype(str(dtype))).max)

        def impl(array):
            return limit
        return impl
    return None


@intrinsic
def _f64_to_i64(typingctx, x):
    """The bits of a float64 as an int64 (LLVM bitcast)."""
    if not (isinstance(x, types.Float) and x.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def _i64_to_f64(typingctx, x):
    """The float64 whose bits are the int64 ``x`` (LLVM bitcast)."""
    if not (isinstance(x, types.Integer) and x.bitwidth == 64):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(x), codegen


_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_TWO54 = 18014398509481984.0
_DBL_MIN = 2.2250738585072014e-308
_MASK_LO32 = np.int64(0xFFFFFFFF)


def _vlog_f64(x):
    sub = x < _DBL_MIN  # subnormal (or <= 0 / discarded below)
    xs = x * _TWO54 if sub else x
    ix = _f64_to_i64(xs)
    hx = (ix >> np.int64(32)) & _MASK_LO32
    hm = hx & np.int64(0x000FFFFF)
    i = (hm + np.int64(0x95F64)) & np.int64(0x100000)  # 0x100000 iff the mantissa >= sqrt(2)
    k = (hx >> np.int64(20)) - np.int64(1023) + (i >> np.int64(20))
    k = k - np.int64(54) if sub else k
    fbits = ((hm | (i ^ np.int64(0x3FF00000))) << np.int64(32)) | (ix & _MASK_LO32)
    f = _i64_to_f64(fbits) - 1.0
    dk = np.float64(k)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r_ = t2 + t1
    hfsq = 0.5 * f * f
    r_big = dk * _F64_LN2_HI - ((hfsq - (s * (hfsq + r_) + dk * _F64_LN2_LO)) - f)
    r_small = dk * _F64_LN2_HI - ((s * (f - r_) - dk * _F64_LN2_LO) - f)
    sel = (hm - np.int64(0x6147A)) | (np.int64(0x6B851) - hm)
    r = r_big if sel > 0 else r_small
    r = r if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    r = np.inf if x == np.inf else r
    return r if x == x else x


# An IR-level inlined jitted function, not an @overload: the overload version stays an out-of-line
# call inside loops (too big for LLVM's inliner), which then do not vectorise (measured 5x slower).
vlog = inline_helper(_vlog_f64)
vlog.__doc__ = """``log(x)`` of a float64 scalar, vectorisable in Numba loops (callable from Python too)."""


# log1p(u) = 2 atanh(s), s = u / (2 + u) in [0, 1/3]: 2s + 2s t R(t), t = s^2, R a degree-3 fit of
# (atanh(s) / s - 1) / t on [0, 1/9] (relative error 4.5e-9, < 2 ulp in float32 with rounding): six
# multiplies and a division beside the division 1 / (1 + u) (the same as the Cython backend's
# fx_log1p_recip_unit_f32).
_L1P_R = tuple(np.float32(c) for c in (0.33333209, 0.20010763, 0.14000902, 0.14006001))
_L1P_R1, _L1P_R2, _L1P_R3, _L1P_R4 = _L1P_R
_F32_TWO = np.float32(2.0)


def _log1p_recip_unit_f32(u):
    s = u / (_F32_TWO + u)
    t = s * s
    s2 = s + s
    r = ((_L1P_R4 * t + _L1P_R3) * t + _L1P_R2) * t + _L1P_R1
    return s2 + (s2 * t) * r, _F32_ONE / (_F32_ONE + u)


def _log1p_recip_unit_f64(u):
    # log(1 + u) = log(w) + (u - (w - 1)) / w, w = fl(1 + u): the second term restores what the
    # rounding of 1 + u lost (w - 1 is exact), so tiny u give u, not 0.
    w = 1.0 + u
    inv = 1.0 / w
    return vlog(w) + (u - (w - 1.0)) * inv, inv


def vlog1p_recip_unit(u):
    """``(log(1 + u), 1 / (1 + u))`` for ``u`` in [0, 1] (or NaN), float32 or float64,
    vectorisable in Numba loops: softplus's ``log1p(exp(-|z|))`` and the sigmoid
    ``1 / (1 + exp(-|z|))`` of the same ``u``. From Python: NumPy."""
    return np.log1p(u), 1.0 / (1.0 + u)


@overload(vlog1p_recip_unit, jit_options=math_options())
def _vlog1p_recip_unit_overload(u):
    if isinstance(u, types.Float):
        if u.bitwidth == 32:
            return _log1p_recip_unit_f32
        if u.bitwidth == 64:
            return _log1p_recip_unit_f64
    return None
