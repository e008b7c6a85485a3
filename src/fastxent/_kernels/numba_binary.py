"""Numba backend of the binary family: the kernels of ``numpy_binary.KERNELS``, same contract
(``numpy_ref``), parallel over fixed chunks of rows (``chunk_rows`` from the caller, so each chunk
sum is the same whatever the thread count).

One loop, ``_run``, serves every kernel: over a contiguous run of elements it computes each
element's loss (``_element``, specialised at compile time on ``eps``: None for logits, a float for
probabilities), adds the weighted loss to a float64 sum, and stores what the kernel asks for
(gradient, hessian, element losses; the others are None and compile to nothing). With one label
per row (the binary case) a chunk is one run with a per-element sample weight; with L labels it is
one run per row with the row's sample weight.

float32 logits stay in float32 in the loop (``vexp``, ``vlog1p_recip_unit``, no libm call),
so it vectorises 16 lanes wide on AVX-512; losses are accumulated in float64.
"""

import numpy as np
from numba import prange, types
from numba.extending import overload

from ._jit import compiled_helper, helper_options, inline_helper, threaded
from ._numba_math import as_dtype_of, radd, vexp, vlog, vlog1p_recip_unit
from ._numba_optional import at, flat_or, slice_or, slice_or_none, store
from .numpy_binary import KERNELS

__all__ = list(KERNELS)

_ELEMENTS_PER_CHUNK = 16384  # elementwise kernels (sigmoid): work unit of a prange iteration
_BLOCK = 1024  # one-label chunks are summed in runs of this many elements (inputs stay in L1)


@inline_helper
def _sigmoid_parts(z):
    """``(sigmoid(z), sigmoid(-z), log1p(exp(-|z|)))`` in the dtype of ``z``, without overflow."""
    e = vexp(-abs(z))
    log1p_e, inv = vlog1p_recip_unit(e)
    tail = e * inv
    positive = z >= as_dtype_of(z, 0.0)
    return (inv if positive else tail), (tail if positive else inv), log1p_e


@inline_helper
def _logits_element(x, y, a_pos):
    """Unweighted ``(loss, d loss / dx, d2 loss / dx2)`` of logit ``x`` with target ``y`` and
    positive-term coefficient ``a_pos = pos_weight * y``, in the dtype of ``x``."""
    zero = as_dtype_of(x, 0.0)
    a_neg = as_dtype_of(x, 1.0) - y
    sig, sig_neg, log1p_e = _sigmoid_parts(x)
    # a_pos softplus(-x) + a_neg softplus(x) = (a_pos + a_neg) log1p(exp(-|x|)) + a |x|, a the
    # coefficient of the side |x| comes from; a zero coefficient's term counts 0 (no 0 * inf at
    # infinite logits, no 0 * NaN)
    a = a_neg if x >= zero else a_pos
    a_sum = a_pos + a_neg
    loss = (a_sum * log1p_e if a_sum != zero else zero) + (a * abs(x) if a != zero else zero)
    return loss, a_neg * sig - a_pos * sig_neg, a_sum * (sig * sig_neg)


@inline_helper
def _probs_element(x, y, a_pos, eps):
    """``_logits_element`` for a probability ``x`` clipped to ``[eps, 1 - eps]``: float64 loss,
    gradient in the dtype of ``x``, hessian 0 (not provided)."""
    low = as_dtype_of(x, eps)
    high = as_dtype_of(x, 1.0 - eps)
    above_low = low if x < low else x  # NaN stays NaN
    p = np.float64(high if above_low > high else above_low)
    a_pos64 = np.float64(a_pos)
    a_neg = 1.0 - np.float64(y)
    q = 1.0 - p
    # log(1 - p) = log(q) + ((1 - q) - p) / q: q = fl(1 - p), and 1 - q is exact (no correction at
    # q == 0, where log(q) is -inf and the correction would be 0/0).
    log_q = vlog(q) + (((1.0 - q) - p) / q if q > 0.0 else 0.0)
    loss = ((a_pos64 * -vlog(p) if a_pos64 != 0.0 else 0.0)
            + (a_neg * -log_q if a_neg != 0.0 else 0.0))
    return loss, as_dtype_of(x, a_neg / q - a_pos64 / p), as_dtype_of(x, 0.0)


def _element(x, y, a_pos, eps):
    """``_logits_element`` when ``eps`` is None, else ``_probs_element`` (chosen at compile time)."""


@overload(_element, jit_options=helper_options())
def _element_overload(x, y, a_pos, eps):
    if isinstance(eps, types.NoneType):
        return lambda x, y, a_pos, eps: _logits_element(x, y, a_pos)
    return lambda x, y, a_pos, eps: _probs_element(x, y, a_pos, eps)


def _out_of_range(x, y, eps):
    """1 when target ``y`` is NaN or outside [0, 1], or (``eps`` not None: ``x`` is a probability)
    ``x`` is outside [0, 1]; else 0."""


@overload(_out_of_range, jit_options=helper_options())
def _out_of_range_overload(x, y, eps):
    if isinstance(eps, types.NoneType):
        return lambda x, y, eps: 0 if (y >= 0.0) & (y <= 1.0) else 1
    return lambda x, y, eps: 0 if (y >= 0.0) & (y <= 1.0) & ~((x < 0.0) | (x > 1.0)) else 1


@inline_helper
def _run(x, t, w, pw, sw, eps, grad_scale, g, h, loss_elems):
    """Summed weighted loss (float64) of the 1-D runs ``x``, ``t`` (and ``w``, or None), and the
    count of out-of-range inputs (``_out_of_range``: the inputs' range check, free here).

    ``pw``/``sw`` are per-element arrays or scalars (``at``); ``g``, ``h``, ``loss_elems`` receive
    ``grad_scale * k * grad``, ``k * hess`` and ``k * loss`` per element, or are None. ``g`` may be
    ``x`` itself (in place): each element is read before it is written.
    """
    zero = as_dtype_of(x, 0.0)
    acc = 0.0
    n_bad = 0
    for j in range(x.shape[0]):
        y = t[j]
        xj = x[j]
        n_bad += _out_of_range(xj, y, eps)
        loss, grad, hess = _element(xj, y, as_dtype_of(x, at(pw, j)) * y, eps)
        k = at(sw, j) * at(w, j)
        active = k != 0.0  # a zero-weight element has loss 0 and gradient 0 whatever x holds
        weighted = k * np.float64(loss)
        weighted = weighted if active else 0.0
        acc = radd(acc, weighted)
        store(loss_elems, j, weighted)
        store(g, j, as_dtype_of(x, grad_scale * k) * grad if active else zero)
        store(h, j, as_dtype_of(x, k) * hess if active else zero)
    return acc, n_bad


@compiled_helper
def _chunk(ch, xf, tf, wf, pw, pw_uniform, sw, eps, n_rows, n_labels, chunk_rows, loss_mode, grad_scale,
           loss_out, gf, hf):
    """Rows ``ch * chunk_rows ..`` of the flat (R * L) arrays; writes ``loss_out`` per ``loss_mode``
    (``loss_out`` None: no loss wanted); returns the chunk's count of out-of-range inputs.
    ``pw_uniform``: every label has the same ``pos_weight``."""
    r0 = ch * chunk_rows
    r1 = min(r0 + chunk_rows, n_rows)
    acc = 0.0
    n_bad = 0
    # One label per row (element == row), or rows that need not be told apart (no sample weight, one
    # pos_weight, no row sums wanted): runs of _BLOCK elements, the Cython backend's blocks
    if n_labels == 1 or (sw is None and pw_uniform and loss_mode != 1):
        for b0 in range(r0 * n_labels, r1 * n_labels, _BLOCK):
            b1 = min(b0 + _BLOCK, r1 * n_labels)
            xs, ts, ws, ss = xf[b0:b1], tf[b0:b1], slice_or_none(wf, b0, b1), slice_or_none(sw, b0, b1)
            gs, hs = slice_or_none(gf, b0, b1), slice_or_none(hf, b0, b1)
            if loss_mode == 0:
                s, bad = _run(xs, ts, ws, pw[0], ss, eps, grad_scale, gs, hs, None)
            else:
                s, bad = _run(xs, ts, ws, pw[0], ss, eps, grad_scale, gs, hs, slice_or_none(loss_out, b0, b1))
            acc += s
            n_bad += bad
        if loss_mode == 0:
            store(loss_out, ch, acc)
        return n_bad
    for i in range(r0, r1):
        e0 = i * n_labels
        e1 = e0 + n_labels
        xs, ts, ws = xf[e0:e1], tf[e0:e1], slice_or_none(wf, e0, e1)
        gs, hs = slice_or_none(gf, e0, e1), slice_or_none(hf, e0, e1)
        if loss_mode == 2:
            s, bad = _run(xs, ts, ws, pw, at(sw, i), eps, grad_scale, gs, hs, slice_or_none(loss_out, e0, e1))
        else:
            s, bad = _run(xs, ts, ws, pw, at(sw, i), eps, grad_scale, gs, hs, None)
        if loss_mode == 1:
            store(loss_out, i, s)
        acc += s
        n_bad += bad
    if loss_mode == 0:
        store(loss_out, ch, acc)
    return n_bad


def _flat_or_none(values):
    """``values`` flattened (C order), or None."""


@overload(_flat_or_none, inline="always", jit_options=helper_options())
def _flat_or_none_overload(values):
    if isinstance(values, types.NoneType):
        return lambda values: None
    return lambda values: values.reshape(values.size)


@inline_helper
def _all_chunks(x, t, w, pw, sw, eps, chunk_rows, loss_mode, grad_scale, loss_out, g, h):
    """Run every chunk of the (R, L) problem in parallel; ``x`` None means read ``g`` (in place).
    Returns the count of out-of-range inputs."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be >= 1")
    n_rows, n_labels = t.shape
    n_chunks = (n_rows + chunk_rows - 1) // chunk_rows
    tf = t.reshape(t.size)
    gf = _flat_or_none(g)
    xf = flat_or(x, gf)
    wf = _flat_or_none(w)
    hf = _flat_or_none(h)
    pw_uniform = True
    for label in range(1, pw.shape[0]):
        pw_uniform = pw_uniform and pw[label] == pw[0]
    n_bad = 0
    for ch in prange(n_chunks):
        n_bad += _chunk(ch, xf, tf, wf, pw, pw_uniform, sw, eps, n_rows, n_labels, chunk_rows, loss_mode,
                        grad_scale, loss_out, gf, hf)
    return n_bad


@threaded
def binary_ce_logits_loss(logits, target, weight, pos_weight, sample_weight, chunk_rows, loss_mode,
                          loss_out, n_threads):
    """Weighted binary cross-entropy from logits into ``loss_out`` (float64, per ``loss_mode``)."""
    return _all_chunks(logits, target, weight, pos_weight, sample_weight, None, chunk_rows, loss_mode, 1.0,
                       loss_out, None, None)


@threaded(inplace=("logits", "grad_out"))
def binary_ce_logits_loss_grad(logits, target, weight, pos_weight, sample_weight, chunk_rows,
                               loss_mode, grad_scale, loss_out, grad_out, n_threads):
    """Fused ``binary_ce_logits_loss`` plus ``grad_scale`` times the gradient into ``grad_out``."""
    return _all_chunks(logits, target, weight, pos_weight, sample_weight, None, chunk_rows, loss_mode,
                       grad_scale, loss_out, grad_out, None)


@threaded
def binary_ce_probs_loss(probs, target, weight, pos_weight, sample_weight, eps, chunk_rows,
                         loss_mode, loss_out, n_threads):
    """Weighted binary cross-entropy from probabilities into ``loss_out`` (float64)."""
    return _all_chunks(probs, target, weight, pos_weight, sample_weight, eps, chunk_rows, loss_mode, 1.0,
                       loss_out, None, None)


@threaded(inplace=("probs", "grad_out"))
def binary_ce_probs_loss_grad(probs, target, weight, pos_weight, sample_weight, eps, chunk_rows,
                              loss_mode, grad_scale, loss_out, grad_out, n_threads):
    """Fused ``binary_ce_probs_loss`` plus ``grad_scale`` times d loss / d probs into ``grad_out``."""
    return _all_chunks(probs, target, weight, pos_weight, sample_weight, eps, chunk_rows, loss_mode,
                       grad_scale, loss_out, grad_out, None)


@threaded
def binary_ce_logits_grad_hess(logits, target, weight, pos_weight, sample_weight, chunk_rows, grad_out,
                               hess_out, n_threads):
    """Unreduced gradient and hessian of the element losses w.r.t. the logits."""
    return _all_chunks(logits, target, weight, pos_weight, sample_weight, None, chunk_rows, 0, 1.0, None,
                       grad_out, hess_out)


@inline_helper
def _sigmoid_chunks(x, out, log):
    """``out = sigmoid(x)``, or ``log(sigmoid(x))`` when ``log`` (loop-invariant: LLVM unswitches it),
    in parallel chunks; ``x`` None means read ``out`` (in place)."""
    n = out.shape[0]
    for ch in prange((n + _ELEMENTS_PER_CHUNK - 1) // _ELEMENTS_PER_CHUNK):
        e0 = ch * _ELEMENTS_PER_CHUNK
        o = out[e0:min(e0 + _ELEMENTS_PER_CHUNK, n)]
        xs = slice_or(x, e0, e0 + o.shape[0], o)
        zero = as_dtype_of(o, 0.0)
        for j in range(o.shape[0]):
            z = xs[j]
            sig, _, log1p_u = _sigmoid_parts(z)
            o[j] = -((zero if z > zero else -z) + log1p_u) if log else sig


@threaded(inplace=("x", "out"))
def sigmoid_elems(x, out, n_threads):
    """``out = 1 / (1 + exp(-x))`` elementwise (1-D; ``out`` may be ``x``)."""
    _sigmoid_chunks(x, out, False)


@threaded(inplace=("x", "out"))
def log_sigmoid_elems(x, out, n_threads):
    """``out = log(sigmoid(x)) = -softplus(-x)`` elementwise (1-D; ``out`` may be ``x``)."""
    _sigmoid_chunks(x, out, True)
