"""The textbook NumPy computation that users start from: the baseline of the demo and the benchmarks.

Deliberately naive (several N x C temporaries, float work in the input's dtype), but numerically
stable (max-shifted), so its results are comparable with fastxent's.
"""

import numpy as np


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
