"""NumPy reference kernels of the binary family (sigmoid, log-sigmoid, binary cross-entropy from
logits or probabilities, its gradient and hessian): the readable float64 twins of ``numba_binary``
and ``fastxent._cython_binary``. The contract is in ``numpy_ref``.

For a logit ``z``: ``softplus(z) = log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))`` never
overflows, ``-log sigmoid(z) = softplus(-z)`` and ``-log(1 - sigmoid(z)) = softplus(z)``, and
``sigmoid(z)`` / ``sigmoid(-z)`` are both computed from ``e = exp(-|z|) <= 1`` without cancellation.
"""

import numpy as np

KERNELS = (
    "sigmoid_elems",
    "log_sigmoid_elems",
    "binary_ce_logits_loss",
    "binary_ce_logits_loss_grad",
    "binary_ce_probs_loss",
    "binary_ce_probs_loss_grad",
    "binary_ce_logits_grad_hess",
)

__all__ = list(KERNELS)


def _sigmoids(z):
    """``(sigmoid(z), sigmoid(-z), exp(-|z|))`` in float64, each without overflow or cancellation."""
    e = np.exp(-np.abs(z))
    inv = 1.0 / (1.0 + e)
    positive = z >= 0
    return np.where(positive, inv, e * inv), np.where(positive, e * inv, inv), e


def sigmoid_elems(x, out, n_threads):
    """``out = 1 / (1 + exp(-x))`` elementwise (1-D; ``out`` may be ``x``)."""
    out[...] = _sigmoids(np.asarray(x, dtype=np.float64))[0]


def log_sigmoid_elems(x, out, n_threads):
    """``out = log(sigmoid(x)) = -softplus(-x)`` elementwise (1-D; ``out`` may be ``x``)."""
    z = np.asarray(x, dtype=np.float64)
    out[...] = -(np.maximum(-z, 0.0) + np.log1p(np.exp(-np.abs(z))))


def _multiplier(weight, sample_weight, shape):
    """``k_il = sample_weight[i] * weight[i, l]`` (float64, ``shape``); missing arrays count as ones."""
    k = np.ones(shape)
    if weight is not None:
        k = k * weight
    if sample_weight is not None:
        k = k * sample_weight[:, None]
    return k


def _term(coefficient, value):
    """``coefficient * value`` with a zero coefficient counting 0 (so ``0 * inf`` is 0)."""
    with np.errstate(invalid="ignore"):
        return np.where(coefficient != 0, coefficient * value, 0.0)


def _store_loss(element_loss, chunk_rows, loss_mode, loss_out):
    """Write ``element_loss`` (R, L) into ``loss_out`` as chunk sums, row sums or elements."""
    if loss_mode == 2:
        loss_out[:] = element_loss.reshape(-1)
    elif loss_mode == 1:
        loss_out[:] = np.sum(element_loss, axis=1)
    else:
        rows = np.sum(element_loss, axis=1)
        for k in range(loss_out.shape[0]):
            loss_out[k] = np.sum(rows[k * chunk_rows:(k + 1) * chunk_rows])


def _out_of_range(target, probs=None):
    """Count of targets that are NaN or outside [0, 1], plus (``probs`` given) of probabilities
    outside [0, 1] (NaN allowed there)."""
    y = np.asarray(target)
    count = int(np.count_nonzero(~((y >= 0) & (y <= 1))))
    if probs is not None:
        p = np.asarray(probs)
        count += int(np.count_nonzero((p < 0) | (p > 1)))
    return count


def _logits_loss_and_grad(logits, target, weight, pos_weight, sample_weight):
    """Element losses and unscaled gradients (float64, (R, L)) for logits."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    k = _multiplier(weight, sample_weight, z.shape)
    a_pos, a_neg = pos_weight * y, 1.0 - y
    sig, sig_neg, e = _sigmoids(z)
    log1p_e = np.log1p(e)
    with np.errstate(invalid="ignore", over="ignore"):
        softplus_neg = np.maximum(-z, 0.0) + log1p_e  # -log sigmoid(z)
        softplus_pos = np.maximum(z, 0.0) + log1p_e  # -log(1 - sigmoid(z))
        loss = _term(k, _term(a_pos, softplus_neg) + _term(a_neg, softplus_pos))
        grad = _term(k, a_neg * sig - a_pos * sig_neg)
        hess = _term(k, (a_pos + a_neg) * sig * sig_neg)
    return loss, grad, hess


def _probs_loss_and_grad(probs, target, weight, pos_weight, sample_weight, eps):
    """Element losses and unscaled gradients (float64, (R, L)) for probabilities clipped to
    ``[eps, 1 - eps]`` (the clip is done in the probabilities' dtype, like the compiled kernels)."""
    dtype = np.asarray(probs).dtype
    clipped = np.clip(probs, dtype.type(eps), dtype.type(1.0 - eps)).astype(np.float64)
    y = np.asarray(target, dtype=np.float64)
    k = _multiplier(weight, sample_weight, clipped.shape)
    a_pos, a_neg = pos_weight * y, 1.0 - y
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = _term(k, _term(a_pos, -np.log(clipped)) + _term(a_neg, -np.log1p(-clipped)))
        grad = _term(k, a_neg / (1.0 - clipped) - a_pos / clipped)
    return loss, grad


def binary_ce_logits_loss(logits, target, weight, pos_weight, sample_weight, chunk_rows, loss_mode,
                          loss_out, n_threads):
    """Weighted binary cross-entropy from logits into ``loss_out`` (float64, per ``loss_mode``)."""
    loss, _, _ = _logits_loss_and_grad(logits, target, weight, pos_weight, sample_weight)
    _store_loss(loss, chunk_rows, loss_mode, loss_out)
    return _out_of_range(target)


def binary_ce_logits_loss_grad(logits, target, weight, pos_weight, sample_weight, chunk_rows,
                               loss_mode, grad_scale, loss_out, grad_out, n_threads):
    """Fused ``binary_ce_logits_loss`` plus ``grad_scale`` times the gradient into ``grad_out``."""
    n_bad = _out_of_range(target)  # before grad_out (which may be logits) is written
    loss, grad, _ = _logits_loss_and_grad(logits, target, weight, pos_weight, sample_weight)
    _store_loss(loss, chunk_rows, loss_mode, loss_out)
    grad_out[...] = grad_scale * grad
    return n_bad


def binary_ce_probs_loss(probs, target, weight, pos_weight, sample_weight, eps, chunk_rows,
                         loss_mode, loss_out, n_threads):
    """Weighted binary cross-entropy from probabilities into ``loss_out`` (float64)."""
    loss, _ = _probs_loss_and_grad(probs, target, weight, pos_weight, sample_weight, eps)
    _store_loss(loss, chunk_rows, loss_mode, loss_out)
    return _out_of_range(target, probs)


def binary_ce_probs_loss_grad(probs, target, weight, pos_weight, sample_weight, eps, chunk_rows,
                              loss_mode, grad_scale, loss_out, grad_out, n_threads):
    """Fused ``binary_ce_probs_loss`` plus ``grad_scale`` times d loss / d probs into ``grad_out``."""
    n_bad = _out_of_range(target, probs)
    loss, grad = _probs_loss_and_grad(probs, target, weight, pos_weight, sample_weight, eps)
    _store_loss(loss, chunk_rows, loss_mode, loss_out)
    grad_out[...] = grad_scale * grad
    return n_bad


def binary_ce_logits_grad_hess(logits, target, weight, pos_weight, sample_weight, chunk_rows, grad_out,
                               hess_out, n_threads):
    """Unreduced gradient and hessian (second derivative) of the element losses w.r.t. the logits."""
    n_bad = _out_of_range(target)
    _, grad, hess = _logits_loss_and_grad(logits, target, weight, pos_weight, sample_weight)
    grad_out[...] = grad
    hess_out[...] = hess
    return n_bad
