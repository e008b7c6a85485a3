"""fastxent: fast, numerically stable, batched cross-entropy losses and gradients on the CPU.

Importing fastxent loads no backend and compiles nothing; the first call that needs a backend imports it.
"""

from fastxent._backends import backends
from fastxent._threads import get_num_threads, set_num_threads, threads
from fastxent.information import cross_entropy, entropy, kl_divergence, surprisal
from fastxent.softmax import (
    log_softmax,
    logsumexp,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
    softmax_cross_entropy_with_grad,
)

__version__ = "0.1.0"

__all__ = [
    "backends",
    "cross_entropy",
    "entropy",
    "get_num_threads",
    "kl_divergence",
    "log_softmax",
    "logsumexp",
    "set_num_threads",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
    "surprisal",
    "threads",
]
