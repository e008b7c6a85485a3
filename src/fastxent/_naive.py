"""The textbook NumPy computation that users start from: the baseline of the demo and the benchmarks.

Deliberately naive (several N x C temporaries, float work in the input's dtype), but numerically
stable (max-shifted), so its results are comparable with fastxent's.
"""

import numpy as np


def naive_softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy over integer ``labels``, the textbook way (no gradient).

    Parameters
    ----------
    logits : ndarray, shape (N, C), float
    labels : ndarray, shape (N,), int

    Returns
    -------
    float
        Mean loss in nats.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_sums = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_sums - shifted[np.arange(logits.shape[0]), labels]))


def naive_softmax_cross_entropy_with_grad(logits, labels):
    """Mean softmax cross-entropy over integer ``labels`` and its gradient, the textbook way.

    Parameters
    ----------
    logits : ndarray, shape (N, C), float
    labels : ndarray, shape (N,), int

    Returns
    -------
    loss : float
        Mean loss in nats.
    grad : ndarray, shape (N, C)
        ``(softmax(logits) - onehot(labels)) / N``.
    """
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    sums = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, labels]))
    grad = exp / sums
    grad[rows, labels] -= 1
    grad /= n
    return loss, grad


def naive_binary_cross_entropy_with_grad(logits, target, multilabel=False):
    """Mean binary (or multi-label) cross-entropy from logits and its gradient, the textbook way:
    probabilities first, then clipped logs (several N-sized temporaries, in the input's dtype).

    Parameters
    ----------
    logits, target : ndarray, same shape, float
    multilabel : bool
        False: the mean over elements; True: the sum over the last axis, then the mean over rows.

    Returns
    -------
    loss : float
        In nats.
    grad : ndarray, shape of logits
        ``(sigmoid(logits) - target) / scale``.
    """
    p = 1.0 / (1.0 + np.exp(-logits))
    eps = np.finfo(p.dtype).eps
    clipped = np.clip(p, eps, 1 - eps)
    scale = logits.shape[0] if multilabel else logits.size
    loss = float(-np.sum(target * np.log(clipped) + (1 - target) * np.log(1 - clipped)) / scale)
    return loss, (p - target) / scale
