"""NumPy reference kernels: the readable twin of the compiled backends and the oracle of the tests.

Every backend module (this one, ``numba_softmax`` and the Cython extension ``fastxent._cython``) exposes
the kernels listed in ``KERNELS`` under the same names with the same positional parameters. The contract:

* ``logits`` is a C-contiguous ``(N, C)`` float32 or float64 array (possibly read-only); every other
  floating array of shape ``(N, C)`` has the dtype of ``logits`` and is C-contiguous.
* ``labels`` is a C-contiguous ``(N,)`` int64 array; ``class_weight`` ``(C,)`` and ``sample_weight``
  ``(N,)`` are C-contiguous float64 arrays (ones when the caller gave none).
* ``loss_out`` is a C-contiguous ``(N,)`` float64 array receiving each row's *weighted* loss
  ``sample_weight[i] * loss_i`` in nats (0 for an ignored row), never reduced: the caller reduces it
  with a deterministic pairwise sum.
* ``grad_out`` is a writable ``(N, C)`` array of the logits' dtype; it may be ``logits`` itself. It
  receives ``grad_scale * sample_weight[i] * d loss_i / d logits[i]``.
* ``n_threads`` (last) is a positive int; results never depend on it.
* A row whose target weights are all zero (an ignored row, or zero weights) has loss 0 and a zero
  gradient row even if its logits hold NaN or inf.
* The labels kernels return the number of rows whose label is neither in ``[0, C)`` nor
  ``ignore_index``. Such rows get a NaN loss and a NaN gradient row; nothing outside the arrays is
  ever read or written. (The public API rejects bad labels before any kernel runs.)

The row loss, for target weights ``a_c`` (see ``_target_weights_from_labels``) is
``loss_i = sum_c a_c * (logsumexp(z_i) - z_ic)`` with terms where ``a_c == 0`` counting 0 (so a
``-inf`` logit with zero target is allowed), and its gradient is ``A * softmax(z_i) - a`` with
``A = sum_c a_c``.

All arithmetic here is float64 whatever the input dtype; results are cast to the output dtype.
"""

import numpy as np

KERNELS = (
    "exp_rows",
    "logsumexp_rows",
    "log_softmax_rows",
    "softmax_rows",
    "softmax_ce_labels_loss",
    "softmax_ce_labels_loss_grad",
    "softmax_ce_probs_loss",
    "softmax_ce_probs_loss_grad",
)


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
    logp, _ = _log_softmax64(logits)
    a, bad = _target_weights_from_labels(labels, class_weight, ignore_index, label_smoothing,
                                         logits.shape[1])
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)
    return int(np.count_nonzero(bad))


def softmax_ce_labels_loss_grad(logits, labels, class_weight, sample_weight, ignore_index,
                                label_smoothing, grad_scale, loss_out, grad_out, n_threads):
    """Fused ``softmax_ce_labels_loss`` plus the scaled gradient into ``grad_out`` (N, C)."""
    logp, _ = _log_softmax64(logits)
    a, bad = _target_weights_from_labels(labels, class_weight, ignore_index, label_smoothing,
                                         logits.shape[1])
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)
    grad_out[...] = _weighted_row_grad(logp, a, sample_weight, grad_scale)
    return int(np.count_nonzero(bad))


def softmax_ce_probs_loss(logits, target, class_weight, sample_weight, label_smoothing,
                          loss_out, n_threads):
    """Weighted per-row softmax cross-entropy for probability targets (N, C)."""
    logp, _ = _log_softmax64(logits)
    a = _target_weights_from_probs(target, class_weight, label_smoothing)
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)


def softmax_ce_probs_loss_grad(logits, target, class_weight, sample_weight, label_smoothing,
                               grad_scale, loss_out, grad_out, n_threads):
    """Fused ``softmax_ce_probs_loss`` plus the scaled gradient into ``grad_out`` (N, C)."""
    logp, _ = _log_softmax64(logits)
    a = _target_weights_from_probs(target, class_weight, label_smoothing)
    loss_out[:] = _weighted_row_loss(logp, a, sample_weight)
    grad_out[...] = _weighted_row_grad(logp, a, sample_weight, grad_scale)
