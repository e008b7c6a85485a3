"""Softmax, log-softmax, logsumexp and softmax cross-entropy with fused gradients (class axis last).

Every function validates and coerces its inputs here, then calls one kernel of the chosen backend
over preallocated buffers. Losses are in nats.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from fastxent import _scratch
from fastxent import _validation as v
from fastxent._backends import resolve_backend
from fastxent._threads import resolve_n_threads

_FLOAT32_MAX = float(np.finfo(np.float32).max)

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
    "softmax_cross_entropy_gradient_hessian",
]


def _rowwise(kernel_name, logits, out, backend, n_threads):
    z, batch_shape = v.as_logits_2d(logits, backend=backend, n_threads=n_threads)
    kernels, n_threads = resolve_backend(backend), resolve_n_threads(n_threads, z.size, z.shape[0])
    shape = (*batch_shape, z.shape[1])
    buffer, is_temporary = v.check_out(out, shape, z.dtype, (z,))
    getattr(kernels, kernel_name)(z, buffer, n_threads)
    return v.finish_out(out, buffer, is_temporary, shape)


def softmax(logits, *, out=None, backend="auto", n_threads=None):
    """Softmax over the last axis, ``exp(z - logsumexp(z))``.

    Parameters
    ----------
    logits : array_like, shape (..., C)
        Real scores. float32 and float64 are computed in their dtype, float16 as float32, integer and
        bool as float64. ``-inf`` entries get probability 0; a row with a NaN is all NaN.
    out : ndarray, shape (..., C), optional
        Where to write the result (dtype of the computation); may be ``logits`` itself.
    backend : {"auto", "cython", "numba", "numpy"}
    n_threads : int, optional
        Threads for this call; None uses ``fastxent.get_num_threads()``, ``-k`` all cores but k-1.

    Returns
    -------
    ndarray, shape (..., C)
        Probabilities; each finite row sums to 1.
    """
    return _rowwise("softmax_rows", logits, out, backend, n_threads)


def log_softmax(logits, *, out=None, backend="auto", n_threads=None):
    """Log-softmax over the last axis, ``z - logsumexp(z)``, computed without overflow.

    Parameters and dtype rules are those of `softmax`.

    Returns
    -------
    ndarray, shape (..., C)
        Log-probabilities in nats (``-inf`` where ``logits`` is ``-inf``).
    """
    return _rowwise("log_softmax_rows", logits, out, backend, n_threads)


def logsumexp(logits, *, backend="auto", n_threads=None):
    """``log(sum(exp(logits), axis=-1))`` without overflow.

    Parameters
    ----------
    logits : array_like, shape (..., C)
        See `softmax` for dtype rules.
    backend, n_threads
        See `softmax`.

    Returns
    -------
    ndarray, shape (...)
        In the computation's dtype; ``-inf`` for an all ``-inf`` row, ``inf`` when it overflows.
    """
    z, batch_shape = v.as_logits_2d(logits, backend=backend, n_threads=n_threads)
    kernels, n_threads = resolve_backend(backend), resolve_n_threads(n_threads, z.size, z.shape[0])
    out = np.empty(z.shape[0], dtype=z.dtype)
    kernels.logsumexp_rows(z, out, n_threads)
    return out.reshape(batch_shape)


@dataclass
class _Problem:
    """A validated softmax cross-entropy call, ready for a kernel."""

    logits: np.ndarray          # (N, C) float32/float64, C-contiguous (column-major: loss_only calls)
    batch_shape: tuple
    target: np.ndarray          # (N,) int64 labels or (N, C) probabilities
    has_labels: bool
    class_weight: np.ndarray    # (C,) float64
    sample_weight: object       # (N,) float64, or None (all ones: the kernels read no N ones)
    ignore_index: int
    label_smoothing: float
    reduction: str
    kernels: object
    n_threads: int
    weighted_classes: bool      # False when weight was None (all ones)
    all_rows_kept: bool         # True when no label is ignore_index (known from the range check)

    def mean_denominator(self):
        """The mean's denominator: the sum over non-ignored rows of sample weight x class weight of
        the label (labels), or the sum of sample weights (probabilities), as torch and scikit-learn."""
        rows = self.sample_weight
        if not self.has_labels:
            return float(len(self.logits)) if rows is None else float(np.sum(rows))
        kept = slice(None) if self.all_rows_kept or (mask := self.target != self.ignore_index).all() else mask
        if rows is None and not self.weighted_classes:
            return float(len(self.target) if isinstance(kept, slice) else np.count_nonzero(kept))
        by_class = self.class_weight[self.target[kept]]
        return float(np.sum(by_class if rows is None else rows[kept] * by_class))

    def loss_args(self, block=None):
        """The loss kernels' leading arguments; ``block`` ``(start, stop, rows)``: those rows only,
        their logits as ``rows``."""
        z, target, sample_weight = self.logits, self.target, self.sample_weight
        if block is not None:
            start, stop, z = block
            target = target[start:stop]
            sample_weight = None if sample_weight is None else sample_weight[start:stop]
        extra = (self.ignore_index,) if self.has_labels else ()
        return (z, target, self.class_weight, sample_weight, *extra, self.label_smoothing)

    def run_loss(self, kernel, row_loss, *outputs):
        """``kernel(*loss_args, row_loss, *outputs, n_threads)`` (a loss kernel: per-row outputs);
        column-major logits a block of rows at a time (`_validation.ROW_BLOCK_BYTES`). Returns the bad-label count
        (labels kernels)."""
        if self.logits.flags.c_contiguous:
            return kernel(*self.loss_args(), row_loss, *outputs, self.n_threads)
        n_classes = self.logits.shape[1]
        block_rows = max(16, v.ROW_BLOCK_BYTES // (n_classes * self.logits.itemsize) // 16 * 16)
        bad = 0
        # the copies on the kernel's thread count: alternating OpenMP team sizes from one call to the
        # next cost more than the copies (W3: 15-45 ms a call with one-thread copies, 11.6 ms like this)
        for start, stop, (rows,) in v.row_blocks([self.logits], block_rows, self.kernels, self.n_threads):
            bad += kernel(*self.loss_args((start, stop, rows)), row_loss[start:stop],
                          *(out[start:stop] for out in outputs), self.n_threads) or 0  # (probabilities: None)
        return bad

    def kernel(self, suffix):
        return getattr(self.kernels, f"softmax_ce_{'labels' if self.has_labels else 'probs'}_{suffix}")


def _prepare(logits, target, weight, sample_weight, ignore_index, label_smoothing, reduction, backend,
             n_threads, loss_only=False):
    """A `_Problem`; ``loss_only``: the caller runs `_Problem.run_loss` only, so column-major logits
    are kept as they are (copied into rows a block at a time there)."""
    v.check_reduction(reduction)
    label_smoothing = v.check_label_smoothing(label_smoothing)
    ignore_index = v.check_ignore_index(ignore_index)
    z, batch_shape = v.as_logits_2d(logits, backend=backend, n_threads=n_threads, keep_columns=loss_only)
    n_rows, n_classes = z.shape
    has_labels = v.classify_target(target, (*batch_shape, n_classes)) == "labels"
    if has_labels:
        tgt, in_range = v.as_labels_checked(target, batch_shape, n_classes, ignore_index)
        # In range and ignore_index outside [0, C): no label equals it (no count needed for the mean).
        all_rows_kept = in_range and not 0 <= ignore_index < n_classes
    else:
        tgt, all_rows_kept = v.as_probs(target, (*batch_shape, n_classes), z.dtype), True
    class_weight = v.as_weights(weight, (n_classes,), "weight", "one weight per class")
    sample_w = _sample_weights(sample_weight, batch_shape)
    return _Problem(z, batch_shape, tgt, has_labels, class_weight, sample_w, ignore_index,
                    label_smoothing, reduction, resolve_backend(backend),
                    resolve_n_threads(n_threads, z.size, n_rows),
                    weight is not None, all_rows_kept)


def _sample_weights(sample_weight, batch_shape):
    """The validated sample weights flattened to (N,), or None when none were given."""
    if sample_weight is None:
        return None
    return v.as_weights(sample_weight, batch_shape, "sample_weight", "one weight per row of logits").reshape(-1)


def _check_kernel_result(bad_rows):
    if bad_rows:  # labels were range-checked above, so a kernel reporting one is a bug in fastxent
        raise RuntimeError(f"fastxent internal error: kernel saw {bad_rows} out-of-range labels")


def _reduce(problem, row_loss, denominator):
    dtype = problem.logits.dtype.type
    with np.errstate(over="ignore"):  # a loss beyond the dtype's range is inf
        if problem.reduction == "none":
            return row_loss.astype(dtype).reshape(problem.batch_shape)
        total = float(row_loss.sum())  # pairwise float64 sum: the same bits whatever the thread count
    if problem.reduction == "mean":
        if denominator == 0:
            warnings.warn("softmax_cross_entropy: reduction='mean' over zero total weight (empty input, "
                          "every row ignored, or zero weights) is NaN", RuntimeWarning, stacklevel=3)
            return dtype(np.nan)
        total /= denominator
    if abs(total) > _FLOAT32_MAX and dtype is np.float32:  # beyond float32's range is inf, silently
        total = math.copysign(math.inf, total)
    return dtype(total)


def _loss_and_grad(problem, out):
    n_rows, n_classes = problem.logits.shape
    shape = (*problem.batch_shape, n_classes)
    denominator = problem.mean_denominator() if problem.reduction == "mean" else 1.0
    if problem.reduction == "mean":
        # Subnormal weights: scale the weights the denominator is linear in by 2**k (the mean is
        # unchanged) so that 1 / denominator is finite.
        by_class = problem.has_labels and problem.weighted_classes
        field = "class_weight" if by_class else "sample_weight"
        k = v.exponent_for_mean(denominator, getattr(problem, field), "weight" if by_class else "sample_weight")
        if k:
            setattr(problem, field, np.ldexp(getattr(problem, field), k))  # a new array: it may be the caller's
            denominator = problem.mean_denominator()
    # The gradient is scaled as it is written; an all-zero-weight mean has a zero gradient.
    grad_scale = 1.0 / denominator if denominator > 0 else 0.0
    # Weights made here (None given) cannot overlap out: not checked.
    inputs = (problem.logits, problem.target, *((problem.class_weight,) if problem.weighted_classes else ()),
              *((problem.sample_weight,) if problem.sample_weight is not None else ()))
    buffer, is_temporary = v.check_out(out, shape, problem.logits.dtype, inputs)
    with _scratch.rows(n_rows) as row_loss:
        _check_kernel_result(problem.kernel("loss_grad")(*problem.loss_args(), grad_scale, row_loss, buffer,
                                                         problem.n_threads))
        return _reduce(problem, row_loss, denominator), v.finish_out(out, buffer, is_temporary, shape)


_PARAMETERS_DOC = """
    Parameters
    ----------
    logits : array_like, shape (..., C)
        Unnormalised scores, class axis last; leading axes are batch axes (``(B, T, V)`` works).
        float32 and float64 are computed in their own dtype, float16 as float32, integer and bool
        as float64. Any memory layout; a copy is made only when it is not C-contiguous.
        ``-inf`` masks a class (a zero target there contributes 0); a NaN makes its row's loss NaN.
    target : array_like
        Either integer class indices of shape ``logits.shape[:-1]`` (any integer dtype), or class
        probabilities of shape ``logits.shape`` (floating: one-hot, smoothed, mixup), finite and
        non-negative. Float arrays of the labels' shape are rejected rather than truncated.
    weight : array_like, shape (C,), optional
        Per-class weight ``w_c`` (finite, non-negative), as in ``torch.nn.functional.cross_entropy``:
        a row with label ``y`` is weighted by ``w_y``; with probabilities, class ``c``'s term is
        multiplied by ``w_c``.
    sample_weight : array_like, shape logits.shape[:-1], optional
        Per-row multiplier (finite, non-negative), as in scikit-learn; it enters the mean's
        denominator.
    ignore_index : int, default -100
        Rows whose label equals it contribute no loss, no gradient, and nothing to the mean's
        denominator (labels only; ignored for probability targets, as in torch).
    label_smoothing : float in [0, 1], default 0
        Mixes the target with the uniform distribution: ``(1 - eps) * target + eps / C``
        (torch's rule: with labels and ``weight``, the uniform part of class ``c`` is weighted by
        ``w_c``, and the mean's denominator stays the sum of ``w_y``).
    reduction : {"mean", "sum", "none"}, default "mean"
        "none" gives the per-row loss ``sample_weight_i * loss_i`` of shape ``logits.shape[:-1]``;
        "sum" their float64 sum; "mean" that sum divided by the sum over non-ignored rows of
        ``sample_weight_i * w_{y_i}`` (labels) or of ``sample_weight_i`` (probabilities). The
        mean over a zero total weight (empty input, all rows ignored) is NaN with a RuntimeWarning.
    backend : {"auto", "cython", "numba", "numpy"}, default "auto"
        Kernel implementation; "auto" takes ``FASTXENT_BACKEND`` when set, else the fastest available.
    n_threads : int, optional
        Threads for this call: None = ``fastxent.get_num_threads()``, ``-k`` = cores - k + 1.
        Results are bitwise identical for every thread count."""


def softmax_cross_entropy(logits, target, *, weight=None, sample_weight=None, ignore_index=-100,
                          label_smoothing=0.0, reduction="mean", backend="auto", n_threads=None):
    problem = _prepare(logits, target, weight, sample_weight, ignore_index, label_smoothing, reduction,
                       backend, n_threads, loss_only=True)
    denominator = problem.mean_denominator() if reduction == "mean" else 1.0
    with _scratch.rows(problem.logits.shape[0]) as row_loss:
        _check_kernel_result(problem.run_loss(problem.kernel("loss"), row_loss))
        return _reduce(problem, row_loss, denominator)


def softmax_cross_entropy_grad(logits, target, *, weight=None, sample_weight=None, ignore_index=-100,
                               label_smoothing=0.0, reduction="mean", backend="auto", n_threads=None,
                               out=None):
    problem = _prepare(logits, target, weight, sample_weight, ignore_index, label_smoothing, reduction,
                       backend, n_threads)
    return _loss_and_grad(problem, out)[1]


def softmax_cross_entropy_with_grad(logits, target, *, weight=None, sample_weight=None, ignore_index=-100,
                                    label_smoothing=0.0, reduction="mean", backend="auto", n_threads=None,
                                    out=None):
    problem = _prepare(logits, target, weight, sample_weight, ignore_index, label_smoothing, reduction,
                       backend, n_threads)
    return _loss_and_grad(problem, out)


_OUT_DOC = """
    out : ndarray, shape (..., C), optional
        Preallocated gradient (dtype of the computation, writable). It may be ``logits`` itself:
        the gradient then overwrites the logits with no extra N x C memory."""

softmax_cross_entropy.__doc__ = f"""Softmax cross-entropy between ``softmax(logits)`` and ``target``, in nats.

    For a row with target weights ``a_c`` (``w_y`` at the label, smoothed and class-weighted as
    below) the loss is ``sum_c a_c * (logsumexp(z) - z_c)``, i.e. ``-log softmax(z)_y`` in the plain
    case. One pass over the logits; no N x C temporary.
{_PARAMETERS_DOC}

    Returns
    -------
    loss : numpy scalar or ndarray
        Of the computation's dtype; shape ``logits.shape[:-1]`` for ``reduction="none"``.

    Examples
    --------
    >>> import numpy as np, fastxent
    >>> p = np.array([[0.1, 0.2, 0.7]])          # predicted [panda, bird, dog]; the truth is dog
    >>> round(float(fastxent.softmax_cross_entropy(np.log(p), np.array([2]))), 4)
    0.3567
    """

softmax_cross_entropy_grad.__doc__ = f"""Gradient of `softmax_cross_entropy` with respect to ``logits``.

    Row ``i`` of the gradient is ``scale * sample_weight_i * (A_i * softmax(z_i) - a_i)`` with
    ``A_i = sum_c a_ic`` (``softmax(z) - onehot(y)`` in the plain case) and ``scale`` = 1 / the mean's
    denominator for "mean", 1 for "sum" and "none" ("none" gives the gradient of the sum).
{_PARAMETERS_DOC}{_OUT_DOC}

    Returns
    -------
    grad : ndarray, shape (..., C)
        ``out`` when given.
    """

softmax_cross_entropy_with_grad.__doc__ = f"""Loss and gradient of softmax cross-entropy from ONE fused pass.

    Each row is visited once: its max, its float64 sum of exps, its loss and its gradient row are
    computed while it is in cache. Same results as `softmax_cross_entropy` and
    `softmax_cross_entropy_grad`.
{_PARAMETERS_DOC}{_OUT_DOC}

    Returns
    -------
    loss : numpy scalar or ndarray
        As `softmax_cross_entropy`.
    grad : ndarray, shape (..., C)
        As `softmax_cross_entropy_grad`.
    """


def softmax_cross_entropy_gradient_hessian(logits, target, *, sample_weight=None, backend="auto", n_threads=None,
                                           grad_out=None, hess_out=None):
    """Per-element gradient and diagonal hessian of the softmax cross-entropy, from one pass.

    Unreduced: row ``i`` of the gradient is ``s_i (A_i p_i - t_i)`` and of the hessian's diagonal
    ``s_i A_i p_i (1 - p_i)``, with ``p_i = softmax(z_i)``, ``A_i = sum_c t_ic`` (1 for labels,
    where ``t_i = onehot(y_i)``: ``p - onehot(y)`` and ``p (1 - p)``) and ``s_i`` the sample
    weight. This is the multiclass objective of gradient boosting (XGBoost's ``multi:softprob``,
    scikit-learn's ``HalfMultinomialLoss.gradient_hessian``).

    Parameters
    ----------
    logits : array_like, shape (..., C)
        As in `softmax_cross_entropy`.
    target : array_like
        Integer class indices of shape ``logits.shape[:-1]``, all in ``[0, C)`` (no
        ``ignore_index``: give the row a zero ``sample_weight`` instead), or class probabilities of
        shape ``logits.shape``.
    sample_weight : array_like, shape logits.shape[:-1], optional
        Per-row multiplier (finite, non-negative).
    backend, n_threads
        As in `softmax_cross_entropy`.
    grad_out, hess_out : ndarray, shape (..., C), optional
        Preallocated outputs of the computation's dtype; they must not overlap the inputs or each
        other (else a temporary is used and copied in).

    Returns
    -------
    grad, hess : ndarray, shape (..., C)
        In the computation's dtype (``grad_out``/``hess_out`` when given).
    """
    z, batch_shape = v.as_logits_2d(logits, backend=backend, n_threads=n_threads)
    n_rows, n_classes = z.shape
    shape = (*batch_shape, n_classes)
    has_labels = v.classify_target(target, shape) == "labels"
    if has_labels:
        tgt = v.as_labels(target, batch_shape, n_classes, None)
    else:
        tgt = v.as_probs(target, shape, z.dtype)
    sample_w = _sample_weights(sample_weight, batch_shape)
    kernels, n_threads = resolve_backend(backend), resolve_n_threads(n_threads, z.size, n_rows)
    weights = () if sample_w is None else (sample_w,)
    grad, grad_temporary = v.check_out(grad_out, shape, z.dtype, (z, tgt, *weights), name="grad_out",
                                       may_alias_first=False)
    hess, hess_temporary = v.check_out(hess_out, shape, z.dtype, (z, tgt, *weights, grad), name="hess_out",
                                       may_alias_first=False)
    kernel = kernels.softmax_ce_labels_grad_hess if has_labels else kernels.softmax_ce_probs_grad_hess
    _check_kernel_result(kernel(z, tgt, sample_w, grad, hess, n_threads))
    return (v.finish_out(grad_out, grad, grad_temporary, shape),
            v.finish_out(hess_out, hess, hess_temporary, shape))
