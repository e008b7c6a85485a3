"""fastxent: fast, numerically stable, batched cross-entropy losses and gradients on the CPU.

Importing fastxent loads no backend and compiles nothing; the first call that needs a backend imports it.
"""

from fastxent._backends import backends
from fastxent.binary import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_gradient_hessian,
    binary_cross_entropy_with_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_with_logits_with_grad,
    log_sigmoid,
    multilabel_cross_entropy,
    multilabel_cross_entropy_grad,
    multilabel_cross_entropy_with_grad,
    sigmoid,
)
from fastxent._threads import get_num_threads, set_num_threads, threads
from fastxent.information import cross_entropy, entropy, kl_divergence, surprisal
from fastxent.scoring import ScoreReport, score_arrays, score_chunks, score_file
from fastxent.softmax import (
    log_softmax,
    logsumexp,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
    softmax_cross_entropy_gradient_hessian,
    softmax_cross_entropy_with_grad,
)

__version__ = "0.1.0"

__all__ = [
    "ScoreReport",
    "backends",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_gradient_hessian",
    "binary_cross_entropy_with_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_with_grad",
    "cross_entropy",
    "entropy",
    "get_num_threads",
    "kl_divergence",
    "log_sigmoid",
    "log_softmax",
    "logsumexp",
    "multilabel_cross_entropy",
    "multilabel_cross_entropy_grad",
    "multilabel_cross_entropy_with_grad",
    "set_num_threads",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_gradient_hessian",
    "softmax_cross_entropy_with_grad",
    "score_arrays",
    "score_chunks",
    "score_file",
    "surprisal",
    "threads",
]
