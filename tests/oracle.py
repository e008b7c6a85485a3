"""An independent float64 oracle written from torch's documented formulas with SciPy's log_softmax.

It shares no code with fastxent (not even the NumPy backend), so it checks the reference too.
"""

import numpy as np
from scipy.special import log_softmax


def target_weights(logits_shape, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """(N, C) float64 target weights a_ic and the (N,) per-row denominator contribution."""
    n_classes = logits_shape[-1]
    w = np.ones(n_classes) if weight is None else np.asarray(weight, dtype=np.float64)
    target = np.asarray(target)
    if target.dtype.kind in "iu":
        y = target.reshape(-1).astype(np.int64)
        kept = y != ignore_index
        a = np.zeros((y.size, n_classes))
        a[kept] = label_smoothing / n_classes * w
        a[np.flatnonzero(kept), y[kept]] += (1 - label_smoothing) * w[y[kept]]
        denominator = np.where(kept, w[np.where(kept, y, 0)], 0.0)
    else:
        t = np.asarray(target, dtype=np.float64).reshape(-1, n_classes)
        a = w * ((1 - label_smoothing) * t + label_smoothing / n_classes)
        denominator = np.ones(t.shape[0])
    return a, denominator


def expected(logits, target, weight=None, sample_weight=None, ignore_index=-100, label_smoothing=0.0,
             reduction="mean"):
    """(loss, grad) in float64 by the textbook formulas."""
    z = np.asarray(logits, dtype=np.float64)
    shape = z.shape
    z = z.reshape(-1, shape[-1])
    a, denominator = target_weights(shape, target, weight, ignore_index, label_smoothing)
    s = np.ones(z.shape[0]) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        logp = log_softmax(z, axis=1) if z.size else z
        row = s * np.sum(np.where(a != 0, -a * logp, 0.0), axis=1)
        grad = s[:, None] * (a.sum(axis=1, keepdims=True) * np.exp(logp) - a)
    if reduction == "none":
        return row.reshape(shape[:-1]), grad.reshape(shape)
    if reduction == "sum":
        return row.sum(), grad.reshape(shape)
    total = np.sum(s * denominator)
    return row.sum() / total, (grad / total).reshape(shape)
