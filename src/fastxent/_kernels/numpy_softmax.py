"""NumPy reference kernels of the softmax family (softmax, log-softmax, logsumexp, softmax
cross-entropy): the readable float64 twins of ``numba_softmax`` and ``fastxent._cython``.

The contract they follow is documented in ``numpy_ref``.

The row loss, for target weights ``a_c`` (see ``_target_weights_from_labels``) is
``loss_i = sum_c a_c * (logsumexp(z_i) - z_ic)`` with terms where ``a_c == 0`` counting 0 (so a
``-inf`` logit with zero target is allowed), and its gradient is ``A * softmax(z_i) - a`` with
``A = sum_c a_c``.
"""

import numpy as np

KERNELS = (
    "exp_rows",
    "logsumexp_rows",
    "log_softmax_rows",
    "softmax_rows",
    "softmax_ce_labels_loss",
    "softmax_ce_labels_loss_top1",
    "softmax_ce_labels_loss_grad",
    "softmax_ce_probs_loss",
    "softmax_ce_probs_loss_grad",
    "softmax_ce_labels_grad_hess",
    "softmax_ce_probs_grad_hess",
)

__all__ = list(KERNELS)


def _row_max(z):
    """Row maxima with -inf for all--inf rows and NaN propagated (float64, shape (N, 1))."""
    with np.errstate(invalid="ignore"):
        m = np.max(z, axis=1, keepdims=True) if z.shape[1] else np.full((z.shape[0], 1), -np.inf)
    # A row of -inf has no finite shift; shifting by 0 keeps exp(-inf) = 0 and lse = -inf.
    return np.where(np.isneginf(m), 0.0, m)


def _log_softmax64(logits):
    z = np.asarray(logits, dtype=np.float64)
    m = _row_max(z)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        shifted = z - m
        log_sum = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        return shifted - log_sum, m + log_sum


def exp_rows(x, out, n_threads):
    """``out[i, c] = exp(x[i, c])`` (the backends' vectorised exp, exposed so its accuracy is tested)."""
    with np.errstate(over="ignore"):
        out[...] = np.exp(np.asarray(x, dtype=np.float64))


def logsumexp_rows(logits, out, n_threads):
    """``out[i] = log(sum_c exp(logits[i, c]))``; ``out`` is ``(N,)`` of the logits' dtype."""
    _, lse = _log_softmax64(logits)
    out[:] = lse[:, 0]


def log_softmax_rows(logits, out, n_threads):
    """``out[i, c] = logits[i, c] - logsumexp(logits[i])``; ``out`` may be ``logits``."""
    logp, _ = _log_softmax64(logits)
    out[...] = logp


def softmax_rows(logits, out, n_threads):
    """``out[i, c] = exp(logits[i, c]) / sum_k exp(logits[i, k])``; ``out`` may be ``logits``."""
    logp, _ = _log_softmax64(logits)
    out[...] = np.exp(logp)


def _target_weights_from_labels(labels, class_weight, ignore_index, label_smoothing, n_classes):
    """Per-row target weights ``a`` (N, C) for integer labels, torch's label-smoothing rule.

    ``a_ic = (1 - eps) * w_y * [c == y_i] + eps / C * w_c``; ignored rows are all zero; rows with
    an out-of-range label are NaN. Returns ``(a, bad_mask)``.
    """
    n = labels.shape[0]
    ignored = labels == ignore_index
    bad = ~ignored & ((labels < 0) | (labels >= n_classes))
    valid = ~ignored & ~bad
    a = np.zeros((n, n_classes), dtype=np.float64)
    if label_smoothing:
        a[valid] = label_smoothing / n_classes * class_weight
    rows = np.flatnonzero(valid)
    a[rows, labels[rows]] += (1.0 - label_smoothing) * class_weight[labels[rows]]
    a[bad] = np.nan
    return a, bad


def _target_weights_from_probs(target, class_weight, label_smoothing):
    """``a_ic = w_c * ((1 - eps) * t_ic + eps / C)`` for probability targets."""
    t = np.asarray(target, dtype=np.float64)
    n_classes = t.shape[1]
    return class_weight * ((1.0 - label_smoothing) * t + label_smoothing / n_classes)


def _row_weights(sample_weight, n_rows):
    """The sample weights as an (N,) float64 array: ones for None."""
    return np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)


def _weighted_row_loss(logp, a, sample_weight):
    """``sample_weight[i] * sum_c a_ic * (-logp_ic)`` with ``0 * inf`` counted as 0."""
    with np.errstate(invalid="ignore"):
        terms = np.where(a != 0, a * -logp, 0.0)
    terms = np.where(np.isnan(a), np.nan, terms)
    return sample_weight * np.sum(terms, axis=1)


def _weighted_row_grad(logp, a, sample_weight, grad_scale):
    """``grad_scale * sample_weight[i] * (A_i * softmax_i - a_i)``; 0 for a row with no target weight."""
    total = np.sum(a, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        grad = (grad_scale * sample_weight)[:, None] * (total * np.exp(logp) - a)
    # An ignored row (e.g. padding) has a zero gradient whatever garbage its logits hold.
    return np.where(total == 0, 0.0, grad)


def softmax_ce_labels_loss(logits, labels, class_weight, sample_weight, ignore_index,
                           label_smoothing, loss_out, n_threads):
    """Weighted per-row softmax cross-entropy for integer labels into ``loss_out`` (N,) float64."""
    sample_weight = _row_weights(sample_weight, len(logits))
    logp, _ = _log_softmax64(logits)
    a, bad = _target_weights_from_labels(labels, class_weight, ignore_index, label_smoothing,
                                         logits.shape[1])
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)
    return int(np.count_nonzero(bad))


def softmax_ce_labels_loss_top1(logits, labels, class_weight, sample_weight, ignore_index,
                                label_smoothing, loss_out, top1_out, n_threads):
    """``softmax_ce_labels_loss`` plus ``top1_out`` (N,) uint8: 1 where the label is the row's argmax
    (NumPy's: the first maximum, a NaN counting as the maximum), 0 elsewhere and for ignored and
    out-of-range labels."""
    bad = softmax_ce_labels_loss(logits, labels, class_weight, sample_weight, ignore_index,
                                 label_smoothing, loss_out, n_threads)
    n_classes = logits.shape[1]
    valid = (labels != ignore_index) & (labels >= 0) & (labels < n_classes)
    top = np.argmax(logits, axis=1) if n_classes else np.zeros(len(labels), dtype=np.int64)
    top1_out[:] = valid & (top == labels)
    return bad


def softmax_ce_labels_loss_grad(logits, labels, class_weight, sample_weight, ignore_index,
                                label_smoothing, grad_scale, loss_out, grad_out, n_threads):
    """Fused ``softmax_ce_labels_loss`` plus the scaled gradient into ``grad_out`` (N, C)."""
    sample_weight = _row_weights(sample_weight, len(logits))
    logp, _ = _log_softmax64(logits)
    a, bad = _target_weights_from_labels(labels, class_weight, ignore_index, label_smoothing,
                                         logits.shape[1])
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)
    grad_out[...] = _weighted_row_grad(logp, a, sample_weight, grad_scale)
    return int(np.count_nonzero(bad))


def softmax_ce_probs_loss(logits, target, class_weight, sample_weight, label_smoothing,
                          loss_out, n_threads):
    """Weighted per-row softmax cross-entropy for probability targets (N, C)."""
    sample_weight = _row_weights(sample_weight, len(logits))
    logp, _ = _log_softmax64(logits)
    a = _target_weights_from_probs(target, class_weight, label_smoothing)
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)


def softmax_ce_probs_loss_grad(logits, target, class_weight, sample_weight, label_smoothing,
                               grad_scale, loss_out, grad_out, n_threads):
    """Fused ``softmax_ce_probs_loss`` plus the scaled gradient into ``grad_out`` (N, C)."""
    sample_weight = _row_weights(sample_weight, len(logits))
    logp, _ = _log_softmax64(logits)
    a = _target_weights_from_probs(target, class_weight, label_smoothing)
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)
    grad_out[...] = _weighted_row_grad(logp, a, sample_weight, grad_scale)


def _write_grad_hess(p, a, sample_weight, grad_out, hess_out):
    """``grad = s (A p - a)``, ``hess = s A p (1 - p)`` with ``A = sum_c a_c``; zero rows where A = 0."""
    total = np.sum(a, axis=1, keepdims=True)
    s = sample_weight[:, None]
    with np.errstate(invalid="ignore"):
        grad = np.where(total == 0, 0.0, s * (total * p - a))
        hess = np.where(total == 0, 0.0, s * total * p * (1.0 - p))
    grad_out[...] = grad
    hess_out[...] = hess


def softmax_ce_labels_grad_hess(logits, labels, sample_weight, grad_out, hess_out, n_threads):
    """Per-element gradient ``s_i (p - onehot(y_i))`` and diagonal hessian ``s_i p (1 - p)`` of the
    softmax cross-entropy (unreduced). Returns the number of labels outside ``[0, C)`` (NaN rows)."""
    sample_weight = _row_weights(sample_weight, len(logits))
    n, c = np.shape(logits)
    bad = (labels < 0) | (labels >= c)
    a = np.zeros((n, c))
    rows = np.flatnonzero(~bad)
    a[rows, labels[rows]] = 1.0
    a[bad] = np.nan
    _write_grad_hess(np.exp(_log_softmax64(logits)[0]), a, sample_weight, grad_out, hess_out)
    return int(np.count_nonzero(bad))


def softmax_ce_probs_grad_hess(logits, target, sample_weight, grad_out, hess_out, n_threads):
    """``softmax_ce_labels_grad_hess`` for probability targets ``t``: ``s (A p - t)``, ``s A p (1 - p)``."""
    sample_weight = _row_weights(sample_weight, len(logits))
    _write_grad_hess(np.exp(_log_softmax64(logits)[0]), np.asarray(target, dtype=np.float64), sample_weight, grad_out,
                     hess_out)
