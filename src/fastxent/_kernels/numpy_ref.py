"""The NumPy reference backend: the readable twin of the compiled backends and the oracle of the tests.

Every backend (this module, ``numba_backend`` and ``cython_backend``) exposes the kernels listed in
``KERNELS`` under the same names with the same positional parameters. They live in one module per
concept (``numpy_softmax``, ``numpy_binary``, ``numpy_information``, ``numpy_layout``, and their
``numba_*`` and ``_cython_*`` twins); this module gathers them. All arithmetic in the reference is
float64 whatever the input dtype; results are cast to the output's dtype.

The contract, common to all kernels:

* Kernels are dumb: inputs are validated, coerced and allocated by the Python layer above them.
  Floating input arrays are C-contiguous float32 or float64 (possibly read-only); arrays that go
  together (logits and probability targets, p and q, an output and its input) share one dtype.
  Weight arrays are C-contiguous float64. ``n_threads`` (last) is a positive int.
* Results never depend on ``n_threads``: each output element, row sum or chunk sum is computed by
  one thread with the same code whatever the thread count. Loss kernels write per-row (or
  per-chunk) float64 sums, never a total; the caller reduces them with NumPy's pairwise sum.
* Nothing outside the given arrays is ever read or written, even for bad values (e.g. labels out
  of range are counted and NaN-ed, never used as an index).

Softmax family (``numpy_softmax``; class axis last, arrays ``(N, C)``):

* ``labels`` is a C-contiguous ``(N,)`` int64 array; ``class_weight`` ``(C,)`` is float64 (ones when
  the caller gave none); ``sample_weight`` is ``(N,)`` float64 or None (all ones: with few classes
  reading N ones is a sixth of the memory traffic of the fused call).
* ``loss_out`` is a C-contiguous ``(N,)`` float64 array receiving each row's *weighted* loss
  ``sample_weight[i] * loss_i`` in nats (0 for an ignored row).
* ``softmax_ce_labels_loss_top1`` also writes ``top1_out``, a C-contiguous ``(N,)`` uint8 array: 1
  where the label is the row's argmax with NumPy's rule (the first maximum; a NaN counts as the
  maximum), else 0 (also for ignored and out-of-range labels). The check runs on each row right
  after its loss, while the row is in cache: batch scoring gets its accuracy without a second pass.
* ``grad_out`` is a writable ``(N, C)`` array of the logits' dtype; it may be ``logits`` itself. It
  receives ``grad_scale * sample_weight[i] * d loss_i / d logits[i]``.
* A row whose target weights are all zero (an ignored row, or zero weights) has loss 0 and a zero
  gradient row even if its logits hold NaN or inf.
* The labels kernels return the number of rows whose label is neither in ``[0, C)`` nor
  ``ignore_index``. Such rows get a NaN loss and a NaN gradient row. (The public API rejects bad
  labels before any kernel runs.)
* ``softmax_ce_{labels,probs}_grad_hess`` write the unreduced per-element gradient
  ``sample_weight[i] * (A p - a)`` and diagonal hessian ``sample_weight[i] * A p (1 - p)``.

Binary family (``numpy_binary``; elementwise, arrays ``(R, L)``: R rows of L labels):

* ``logits``/``probs`` and ``target`` are ``(R, L)`` of one dtype; ``weight`` is None or ``(R, L)`` of
  that dtype (elementwise weight); ``pos_weight`` is ``(L,)`` float64 (ones when the caller gave
  none); ``sample_weight`` is None or ``(R,)`` float64. The multiplier of element ``(i, l)`` is
  ``k_il = sample_weight[i] * weight[i, l]`` (a missing array counts as ones).
* Rows are processed in chunks of ``chunk_rows`` rows (the caller's choice: ``fastxent.binary.chunk_rows_for(L)``).
  ``loss_mode`` 0: ``loss_out`` ``(ceil(R / chunk_rows),)`` receives each chunk's summed loss;
  1: ``loss_out`` ``(R,)`` the row sums over the labels; 2: ``loss_out`` ``(R * L,)`` every
  element's loss. Always float64 and weighted by ``k_il``.
* Element loss (logits ``z``, target ``y`` in [0, 1]): ``k (pw y softplus(-z) + (1 - y) softplus(z))``;
  (probabilities ``p``): ``k (-pw y log(pc) - (1 - y) log(1 - pc))`` with ``pc = clip(p, eps, 1 - eps)``.
  A term whose coefficient (``pw y`` or ``1 - y``) is 0 counts 0, and an element with ``k == 0``
  has loss 0 and gradient 0 whatever its logit holds (NaN, inf).
* ``grad_out`` (``(R, L)``, the input's dtype, may be the input itself) receives ``grad_scale`` times
  the derivative of the element loss: ``k ((1 - y) sigmoid(z) - pw y sigmoid(-z))`` for logits,
  ``k (-pw y / pc + (1 - y) / (1 - pc))`` for probabilities (evaluated at the clipped ``pc``).
* ``binary_ce_logits_grad_hess`` (rows in chunks of ``chunk_rows`` too) writes that gradient (scale 1)
  and the hessian ``k (pw y + 1 - y) sigmoid(z) sigmoid(-z)``.
* Every ``binary_ce_*`` kernel range-checks its inputs in the same pass (free there, where a
  separate check would be one more read of arrays as big as the logits) and returns the count of
  elements whose target is NaN or outside [0, 1], or (probabilities) whose ``p`` is outside [0, 1].
  The public layer raises ValueError when it is not 0; the outputs are then unspecified (finite
  or not), but nothing outside them was written.
* ``sigmoid_elems`` / ``log_sigmoid_elems`` map a 1-D array into a 1-D output of its dtype (which may
  be the input).

Information measures (``numpy_information``; distributions along the last axis, arrays ``(N, C)``):

* ``p`` and ``q`` are ``(N, C)`` of one dtype, validated non-negative (NaN propagates); ``scale`` is
  the float64 factor ``1 / ln(base)`` (1 for nats); ``out`` is ``(N,)`` float64.
* ``entropy_rows``: ``scale * sum_c -p_c log p_c``; ``cross_entropy_rows``: ``scale * sum_c -p_c log q_c``;
  ``kl_divergence_rows``: ``scale * sum_c p_c log(p_c / q_c)``. Terms with ``p_c == 0`` count 0
  (``0 log 0 = 0``); ``q_c == 0 < p_c`` gives ``+inf``.
* ``surprisal_elems(p, scale, out, n_threads)``: 1-D ``p`` and ``out`` of one dtype,
  ``out = -scale * log(p)`` (``+inf`` at 0).

Layout (``numpy_layout``):

* ``transpose(x, out, n_threads)``: ``out[j, i] = x[i, j]``, an exact copy. ``x`` is ``(R, K)``
  float32/float64 whose rows are contiguous but may lie any distance apart (the one input of the
  contract that need not be C-contiguous: the transpose of column-major ``(K, R)`` logits, or of a
  slice of rows of them); ``out`` is a C-contiguous ``(K, R)`` array of its dtype, not overlapping
  ``x``. The Python layer uses it to turn column-major logits into the rows the other kernels read.
"""

from .numpy_binary import *  # noqa: F401,F403
from .numpy_binary import KERNELS as _BINARY
from .numpy_information import *  # noqa: F401,F403
from .numpy_information import KERNELS as _INFORMATION
from .numpy_layout import *  # noqa: F401,F403
from .numpy_layout import KERNELS as _LAYOUT
from .numpy_softmax import *  # noqa: F401,F403
from .numpy_softmax import KERNELS as _SOFTMAX

KERNELS = _SOFTMAX + _BINARY + _INFORMATION + _LAYOUT

__all__ = list(KERNELS)
