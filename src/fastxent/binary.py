"""Binary and multi-label cross-entropy: sigmoid, log-sigmoid, BCE from logits or probabilities,
fused gradients, hessians, and the article's multi-label loss.

Every function validates and coerces its inputs here, then calls one kernel of the chosen backend
over preallocated buffers (contract: ``fastxent._kernels.numpy_ref``). Losses are in nats.

Shapes. The binary losses are elementwise over any shape. For the per-label ``pos_weight`` and the
per-row ``sample_weight`` an input of 2 or more dimensions is read as rows of labels, the last axis
holding the labels (the ``(N, L)`` multi-label case); a 1-D input is N rows of one label each (plain
binary classification) and a 0-d input one element. The multi-label loss always takes the last
axis as the labels (``(..., L)``), so a 1-D input is one sample of L labels.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from fastxent import _validation as v
from fastxent._backends import resolve_backend
from fastxent._threads import resolve_n_threads

__all__ = [
    "sigmoid",
    "log_sigmoid",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "binary_cross_entropy_with_logits_with_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_grad",
    "multilabel_cross_entropy",
    "multilabel_cross_entropy_grad",
    "multilabel_cross_entropy_with_grad",
    "binary_cross_entropy_gradient_hessian",
    "chunk_rows_for",
]

# The reduction's work unit: rows are summed in chunks of about this many elements, a partition
# that depends on the shape only, so the loss has the same bits for every thread count.
ELEMENTS_PER_CHUNK = 16384


def chunk_rows_for(n_labels):
    """Rows per reduction chunk for rows of ``n_labels`` labels (the kernels' ``chunk_rows``).

    Parameters
    ----------
    n_labels : int
        Labels per row (L >= 0).

    Returns
    -------
    int
        ``max(1, ELEMENTS_PER_CHUNK // L)``: a function of the shape only, never of the thread count.
    """
    return max(1, ELEMENTS_PER_CHUNK // max(int(n_labels), 1))


# --------------------------------------------------------------------------- sigmoid, log_sigmoid


def _elementwise(kernel_name, x, out, backend, n_threads):
    arr = np.asarray(x)
    dtype = v.compute_dtype(arr.dtype, "x")
    flat = v.as_kernel_array(arr, dtype).reshape(-1)
    kernels, n_threads = resolve_backend(backend), resolve_n_threads(n_threads, n_elements=flat.size)
    buffer, is_temporary = v.check_out(out, arr.shape, dtype, (flat,), buffer_shape=(flat.size,))
    getattr(kernels, kernel_name)(flat, buffer, n_threads)
    result = v.finish_out(out, buffer, is_temporary, arr.shape)
    return result[()] if out is None else result  # a NumPy scalar for a scalar x


_ELEMENTWISE_DOC = """
    Parameters
    ----------
    x : array_like
        Logits, any shape. float32 and float64 are computed in their dtype, float16 as float32,
        integer and bool as float64.
    out : ndarray, optional
        Where to write the result (shape of ``x``, dtype of the computation); may be ``x`` itself.
    backend : {{"auto", "cython", "numba", "numpy"}}, default "auto"
    n_threads : int, optional
        Threads for this call: None = ``fastxent.get_num_threads()``, ``-k`` = cores - k + 1.

    Returns
    -------
    ndarray or NumPy scalar, shape x.shape
        {returns} (``out`` when given; a NumPy scalar for a scalar ``x``)."""


def sigmoid(x, *, out=None, backend="auto", n_threads=None):
    return _elementwise("sigmoid_elems", x, out, backend, n_threads)


def log_sigmoid(x, *, out=None, backend="auto", n_threads=None):
    return _elementwise("log_sigmoid_elems", x, out, backend, n_threads)


sigmoid.__doc__ = """The logistic sigmoid ``1 / (1 + exp(-x))``, elementwise, as ``scipy.special.expit``.

    Computed from ``u = exp(-|x|) <= 1`` (``1 / (1 + u)`` or ``u / (1 + u)``): no overflow for
    any ``x``, no cancellation, ``sigmoid(-inf) = 0``, ``sigmoid(inf) = 1``, NaN stays NaN.
""" + _ELEMENTWISE_DOC.format(returns="Probabilities in [0, 1]")

log_sigmoid.__doc__ = """``log(sigmoid(x)) = -softplus(-x)``, elementwise, as ``scipy.special.log_expit``.

    ``min(x, 0) - log1p(exp(-|x|))``: finite for every finite ``x`` (about ``x`` far in the negative
    tail, about ``-exp(-x)`` in the positive one), ``-inf`` at ``-inf``, 0 at ``inf``.
""" + _ELEMENTWISE_DOC.format(returns="Log-probabilities in nats, <= 0")


# --------------------------------------------------------------------------- validation


def _as_same_shape(values, shape, dtype, name, backend="auto", n_threads=None, keep_columns=False):
    """``values`` of exactly ``shape`` as a C-contiguous array of ``dtype`` (real input only), or
    as they are when column-major and ``keep_columns``. Their range is checked by the kernels, in
    the pass that computes the loss."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array (float, int or bool), got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of the predictions {tuple(shape)}, got {arr.shape}")
    if keep_columns and v.is_column_major(arr, dtype):
        return arr
    return v.as_kernel_rows(arr, dtype, backend, n_threads)


def _check_unit_interval(arr, shape, name, allow_nan):
    """Raise ValueError naming the first element of ``arr`` outside [0, 1] (or NaN, unless allowed)."""
    flat = arr.reshape(-1)
    nan = np.isnan(flat)
    if nan.any() and not allow_nan:
        raise ValueError(f"{name} must not hold NaN; element {_position(int(np.argmax(nan)), shape)} is NaN")
    outside = (flat < 0) | (flat > 1)
    if outside.any():
        first = int(np.argmax(outside))
        raise ValueError(f"{name} must be in [0, 1]; element {_position(first, shape)} is {flat[first]}")


def _position(flat_index, shape):
    if len(shape) <= 1:
        return str(flat_index)
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape)))


def _as_weight(weight, shape, dtype):
    """The elementwise ``weight`` broadcast to ``shape`` (C-contiguous, ``dtype``), or None."""
    if weight is None:
        return None
    w = np.asarray(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"weight must be a real numeric array, got dtype {w.dtype}")
    try:
        np.broadcast_to(w, shape)  # a view: only the shapes are checked here
    except ValueError:
        raise ValueError(f"weight of shape {w.shape} does not broadcast to the predictions' shape "
                         f"{tuple(shape)}") from None
    w = w.astype(dtype, copy=False)
    # Checked as given, before broadcasting: a weight broadcast to an empty input is checked too.
    if w.size and not (np.isfinite(w).all() and w.min() >= 0):
        raise ValueError("weight must be finite and non-negative")
    return v.as_kernel_array(np.broadcast_to(w, shape), dtype)


def _as_pos_weight(pos_weight, n_labels, one_label_per_row):
    """``pos_weight`` as a float64 ``(L,)`` array (a scalar applies to every label)."""
    if pos_weight is None:
        return np.ones(n_labels, dtype=np.float64)
    pw = np.asarray(pos_weight)
    if pw.dtype.kind not in "biuf":
        raise TypeError(f"pos_weight must be a real number or a numeric array, got dtype {pw.dtype}")
    scalar = pw.ndim == 0 or pw.shape == (1,)
    if not scalar and pw.shape != (n_labels,):
        what = ("a scalar (a 1-D input holds one label per row)" if one_label_per_row
                else f"a scalar or shape ({n_labels},), one weight per label (last axis)")
        raise ValueError(f"pos_weight must be {what}, got shape {pw.shape}")
    pw = v.as_kernel_array(pw, np.float64)
    # Checked as given, so that a scalar for zero labels is checked too.
    if pw.size and not (np.isfinite(pw).all() and pw.min() >= 0):
        raise ValueError("pos_weight must be finite and non-negative")
    return np.full(n_labels, float(pw.reshape(-1)[0])) if scalar else pw


def _as_eps(eps, dtype):
    if eps is None:
        return float(np.finfo(dtype).eps)
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
        raise TypeError(f"eps must be a real number or None, got {type(eps).__name__}")
    value = float(eps)
    if not 0.0 <= value < 0.5:
        raise ValueError(f"eps must be in [0, 0.5), got {eps!r}")
    return value


@dataclass
class _Problem:
    """A validated binary cross-entropy call, ready for a kernel: R rows of L labels."""

    x: np.ndarray                 # (R, L) logits or probabilities, float32/float64, C-contiguous
                                  # (column-major, with target, in loss_only calls: see `run`)
    name: str                     # "logits" or "probs"
    shape: tuple                  # the user's shape
    batch_shape: tuple            # the rows' shape (R = prod)
    target: np.ndarray            # (R, L), dtype of x
    weight: object                # (R, L) dtype of x, or None
    pos_weight: np.ndarray        # (L,) float64
    sample_weight: object         # (R,) float64, or None
    eps: object                   # None: x are logits; else the probabilities' clip
    per_row: bool                 # multi-label: the loss of a row is the sum over its labels
    reduction: str
    kernels: object
    n_threads: int

    @property
    def chunk_rows(self):
        return chunk_rows_for(self.x.shape[1])

    def mean_denominator(self):
        """Rows (multi-label) or elements (binary), each counted with its sample weight."""
        rows = float(self.x.shape[0]) if self.sample_weight is None else float(np.sum(self.sample_weight))
        return rows if self.per_row else rows * self.x.shape[1]

    def loss_mode_and_size(self):
        n_rows, n_labels = self.x.shape
        if self.reduction != "none":
            return 0, -(-n_rows // self.chunk_rows)
        return (1, n_rows) if self.per_row else (2, n_rows * n_labels)

    def run(self, suffix, grad_scale=None, grad_out=None):
        """Run the loss (``suffix="loss"``) or fused kernel; returns the float64 loss array."""
        mode, size = self.loss_mode_and_size()
        loss_out = np.empty(size, dtype=np.float64)
        head = (self.x, self.target, self.weight, self.pos_weight, self.sample_weight)
        clip = () if self.eps is None else (self.eps,)
        kernel = getattr(self.kernels, f"binary_ce_{'logits' if self.eps is None else 'probs'}_{suffix}")
        if suffix == "loss" and not (self.x.flags.c_contiguous and self.target.flags.c_contiguous):
            n_bad = self._loss_in_blocks(kernel, clip, mode, loss_out)
        elif suffix == "loss":
            n_bad = kernel(*head, *clip, self.chunk_rows, mode, loss_out, self.n_threads)
        else:
            n_bad = kernel(*head, *clip, self.chunk_rows, mode, grad_scale, loss_out, grad_out, self.n_threads)
        self.check_ranges(n_bad, grad_out)
        return loss_out

    def _loss_in_blocks(self, kernel, clip, mode, loss_out):
        """The loss kernel over column-major ``x`` / ``target`` a block of whole reduction chunks at a
        time (`_validation.ROW_BLOCK_BYTES` of ``x``), each copied into rows: the chunks, so the bits, of
        the row-major call, with O(R) extra memory."""
        n_labels, chunk_rows = self.x.shape[1], self.chunk_rows
        block_rows = max(1, v.ROW_BLOCK_BYTES // max(1, n_labels * self.x.itemsize) // chunk_rows) * chunk_rows
        n_bad = 0
        for start, stop, (x, target, weight) in v.row_blocks([self.x, self.target, self.weight], block_rows,
                                                             self.kernels, self.n_threads):
            sample_weight = None if self.sample_weight is None else self.sample_weight[start:stop]
            out = (loss_out[start // chunk_rows:-(-stop // chunk_rows)] if mode == 0 else
                   loss_out[start:stop] if mode == 1 else loss_out[start * n_labels:stop * n_labels])
            n_bad += kernel(x, target, weight, self.pos_weight, sample_weight, *clip, chunk_rows, mode, out,
                            self.n_threads)
        return n_bad

    def output(self, out, name, may_alias_x, also_not=()):
        """`_validation.check_out` of an output of the input's shape: ``(buffer (R, L), is_temporary)``;
        ``out`` may be ``x`` itself when ``may_alias_x``, never another input or ``also_not``."""
        inputs = [a for a in (self.x, self.target, self.weight, self.pos_weight, self.sample_weight, *also_not)
                  if a is not None]
        return v.check_out(out, self.shape, self.x.dtype, inputs, name=name, buffer_shape=self.x.shape,
                           may_alias_first=may_alias_x)

    def check_ranges(self, n_bad, written):
        """Raise the ValueError of the inputs when the kernel counted ``n_bad`` out-of-range ones
        (``written``: the array the kernel wrote, which may be ``x`` itself)."""
        if not n_bad:
            return
        _check_unit_interval(self.target, self.shape, "target", allow_nan=False)
        if self.eps is not None:
            if written is not None and np.shares_memory(written, self.x):
                raise ValueError(f"{self.name} must be in [0, 1]; {n_bad} elements are not (the output, "
                                 f"which was {self.name}, now holds unspecified values)")
            _check_unit_interval(self.x, self.shape, self.name, allow_nan=True)
        raise RuntimeError(f"fastxent internal error: the kernel counted {n_bad} out-of-range inputs")


def _rows_of(shape, per_row, name):
    """``(batch_shape, n_labels)`` of an input of ``shape`` (see the module docstring)."""
    if per_row:
        if len(shape) == 0:
            raise ValueError(f"{name} must have at least 1 dimension (the label axis is last), got a scalar")
        return shape[:-1], shape[-1]
    if len(shape) <= 1:
        return shape, 1
    return shape[:-1], shape[-1]


def _prepare(x, target, weight, pos_weight, sample_weight, reduction, backend, n_threads, *, name,
             eps=False, per_row=False, loss_only=False):
    """Validate a call. ``eps`` False: ``x`` are logits; else the probabilities' clip (None = default).
    ``loss_only``: the caller runs the loss kernel only, so column-major ``x`` and ``target`` are
    kept as they are (copied into rows a block at a time by `_Problem.run`)."""
    v.check_reduction(reduction)
    arr = np.asarray(x)
    dtype = v.compute_dtype(arr.dtype, name)
    shape = arr.shape
    batch_shape, n_labels = _rows_of(shape, per_row, name)
    n_rows = math.prod(batch_shape)
    # column-major values and targets (a Parquet file's label columns) become rows as logits do
    keep_columns = loss_only and v.is_column_major(arr, dtype)
    values = arr if keep_columns else v.as_kernel_rows(arr, dtype, backend, n_threads).reshape(n_rows, n_labels)
    eps = None if eps is False else _as_eps(eps, dtype)
    tgt = _as_same_shape(target, shape, dtype, "target", backend, n_threads, keep_columns).reshape(n_rows, n_labels)
    w = _as_weight(weight, shape, dtype)
    pw = _as_pos_weight(pos_weight, n_labels, len(shape) <= 1 and not per_row)
    sw = None if sample_weight is None else v.as_weights(sample_weight, batch_shape, "sample_weight",
                                                          "one weight per row")
    return _Problem(values, name, shape, batch_shape, tgt, None if w is None else w.reshape(n_rows, n_labels),
                    pw, sw, eps, per_row, reduction, resolve_backend(backend),
                    resolve_n_threads(n_threads, n_elements=values.size,
                                      n_tasks=-(-n_rows // chunk_rows_for(n_labels))))  # threads share chunks


def _reduce(problem, loss_out, denominator, function_name):
    dtype = problem.x.dtype.type
    with np.errstate(over="ignore"):  # a loss beyond the dtype's range is inf
        if problem.reduction == "none":
            return loss_out.astype(dtype).reshape(problem.batch_shape if problem.per_row else problem.shape)[()]
        total = np.sum(loss_out)  # pairwise float64 sum of chunk sums: the same bits for any thread count
        if problem.reduction == "sum":
            return dtype(total)
        if denominator == 0:
            warnings.warn(f"{function_name}: reduction='mean' over zero total weight (empty input or zero "
                          f"sample weights) is NaN", RuntimeWarning, stacklevel=4)
            return dtype(np.nan)
        return dtype(total / denominator)


def _loss(problem, function_name):
    denominator = problem.mean_denominator() if problem.reduction == "mean" else 1.0
    return _reduce(problem, problem.run("loss"), denominator, function_name)


def _loss_and_grad(problem, out, function_name):
    denominator = problem.mean_denominator() if problem.reduction == "mean" else 1.0
    if problem.reduction == "mean" and problem.sample_weight is not None:
        k = v.exponent_for_mean(denominator, problem.sample_weight, "sample_weight")
        if k:  # a new array: it may be a view of the caller's
            problem.sample_weight = np.ldexp(problem.sample_weight, k)
            denominator = problem.mean_denominator()
    # The gradient is scaled as it is written; an all-zero-weight mean has a zero gradient.
    grad_scale = 1.0 / denominator if denominator > 0 else 0.0
    buffer, is_temporary = problem.output(out, "out", may_alias_x=True)
    loss_out = problem.run("loss_grad", grad_scale, buffer)
    return (_reduce(problem, loss_out, denominator, function_name),
            v.finish_out(out, buffer, is_temporary, problem.shape))


# --------------------------------------------------------------------------- public losses


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                                     reduction="mean", backend="auto", n_threads=None):
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="logits", loss_only=True)
    return _loss(problem, "binary_cross_entropy_with_logits")


def binary_cross_entropy_with_logits_grad(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                                          reduction="mean", backend="auto", n_threads=None, out=None):
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="logits")
    return _loss_and_grad(problem, out, "binary_cross_entropy_with_logits_grad")[1]


def binary_cross_entropy_with_logits_with_grad(logits, target, *, weight=None, pos_weight=None,
                                               sample_weight=None, reduction="mean", backend="auto",
                                               n_threads=None, out=None):
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="logits")
    return _loss_and_grad(problem, out, "binary_cross_entropy_with_logits_with_grad")


def binary_cross_entropy(probs, target, *, eps=None, weight=None, pos_weight=None, sample_weight=None,
                         reduction="mean", backend="auto", n_threads=None):
    problem = _prepare(probs, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="probs", eps=eps, loss_only=True)
    return _loss(problem, "binary_cross_entropy")


def binary_cross_entropy_grad(probs, target, *, eps=None, weight=None, pos_weight=None, sample_weight=None,
                              reduction="mean", backend="auto", n_threads=None, out=None):
    problem = _prepare(probs, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="probs", eps=eps)
    return _loss_and_grad(problem, out, "binary_cross_entropy_grad")[1]


def binary_cross_entropy_with_grad(probs, target, *, eps=None, weight=None, pos_weight=None,
                                   sample_weight=None, reduction="mean", backend="auto", n_threads=None,
                                   out=None):
    problem = _prepare(probs, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="probs", eps=eps)
    return _loss_and_grad(problem, out, "binary_cross_entropy_with_grad")


def multilabel_cross_entropy(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                             reduction="mean", backend="auto", n_threads=None):
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="logits", per_row=True, loss_only=True)
    return _loss(problem, "multilabel_cross_entropy")


def multilabel_cross_entropy_grad(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                                  reduction="mean", backend="auto", n_threads=None, out=None):
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="logits", per_row=True)
    return _loss_and_grad(problem, out, "multilabel_cross_entropy_grad")[1]


def multilabel_cross_entropy_with_grad(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                                       reduction="mean", backend="auto", n_threads=None, out=None):
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, reduction, backend, n_threads,
                       name="logits", per_row=True)
    return _loss_and_grad(problem, out, "multilabel_cross_entropy_with_grad")


def binary_cross_entropy_gradient_hessian(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                                          backend="auto", n_threads=None, grad_out=None, hess_out=None):
    """Per-element gradient and second derivative of the binary cross-entropy w.r.t. the logits.

    One pass, unreduced: element ``(i, l)`` of the gradient is
    ``k_il ((1 - y) sigmoid(z) - pw_l y sigmoid(-z))`` (``sigmoid(z) - y`` in the plain case) and of
    the hessian ``k_il (pw_l y + 1 - y) sigmoid(z) sigmoid(-z)`` (``p (1 - p)``), with
    ``k_il = sample_weight_i * weight_il``. This is what gradient boosting's custom objectives
    (XGBoost, LightGBM) and Newton solvers consume.

    Parameters
    ----------
    logits, target, weight, pos_weight, sample_weight, backend, n_threads
        As in `binary_cross_entropy_with_logits`.
    grad_out, hess_out : ndarray, optional
        Preallocated outputs (shape of ``logits``, dtype of the computation). ``grad_out`` may be
        ``logits`` itself; ``hess_out`` must be another array.

    Returns
    -------
    grad, hess : ndarray, shape logits.shape
        In the computation's dtype; ``hess >= 0`` and ``hess <= 1/4`` times the weights.
    """
    problem = _prepare(logits, target, weight, pos_weight, sample_weight, "none", backend, n_threads,
                       name="logits")
    grad, grad_temporary = problem.output(grad_out, "grad_out", may_alias_x=True)
    hess, hess_temporary = problem.output(hess_out, "hess_out", may_alias_x=False, also_not=(grad,))
    problem.check_ranges(problem.kernels.binary_ce_logits_grad_hess(
        problem.x, problem.target, problem.weight, problem.pos_weight, problem.sample_weight, problem.chunk_rows,
        grad, hess, problem.n_threads), grad)
    return (v.finish_out(grad_out, grad, grad_temporary, problem.shape),
            v.finish_out(hess_out, hess, hess_temporary, problem.shape))


# --------------------------------------------------------------------------- docstrings

_COMMON_DOC = """
    target : array_like, shape of the predictions
        Targets in [0, 1] (0/1 labels, or soft targets: label smoothing, mixup), any real dtype
        (bool and integers too). NaN and values outside [0, 1] raise ValueError.
    weight : array_like, optional
        Elementwise multiplier ``w``, broadcast to the predictions' shape (as torch's ``weight``);
        finite, non-negative. A weight that is not of the full shape is expanded (an array of the
        predictions' size). An element with weight 0 has loss 0 and gradient 0 whatever its input.
    pos_weight : float or array_like, shape (L,), optional
        Multiplier of the positive term ``y * -log p`` per label (last axis), as torch's
        ``pos_weight`` (> 1 raises recall); finite, non-negative. For a 1-D input (one label per
        row) a scalar.
    sample_weight : array_like, optional
        Per-row multiplier as in scikit-learn (shape: the predictions' rows, see the module notes);
        finite, non-negative. It enters the mean's denominator.
    reduction : {"mean", "sum", "none"}, default "mean"
        {reduction}
        The mean over zero total weight (empty input, all-zero ``sample_weight``) is NaN with a
        RuntimeWarning, and its gradient is zero.
    backend : {"auto", "cython", "numba", "numpy"}, default "auto"
        Kernel implementation; "auto" takes ``FASTXENT_BACKEND`` when set, else the fastest available.
    n_threads : int, optional
        Threads for this call: None = ``fastxent.get_num_threads()``, ``-k`` = cores - k + 1.
        Results are bitwise identical for every thread count."""

_ELEMENT_REDUCTION = """"none" gives every element's loss ``k * loss`` (shape of the predictions);
        "sum" their float64 sum; "mean" that sum divided by the number of elements, each row
        counted with its ``sample_weight`` (``weight`` and ``pos_weight`` are not in the
        denominator, as in torch)."""

_ROW_REDUCTION = """"none" gives each sample's loss, the sum over its labels (shape
        ``logits.shape[:-1]``); "sum" their float64 sum; "mean" that sum divided by the number of
        samples, each counted with its ``sample_weight``."""

_LOGITS_DOC = """
    Parameters
    ----------
    logits : array_like
        Real scores ``z`` (any shape). float32 and float64 are computed in their own dtype, float16
        as float32, integer and bool as float64. Any layout; a copy only when not C-contiguous.
        Every finite logit gives a finite loss and gradient, in float32 too; +-inf are allowed (a
        term that is exactly 0 there counts 0); NaN makes its own element's loss NaN."""

_PROBS_DOC = """
    Parameters
    ----------
    probs : array_like
        Predicted probabilities ``p`` of the positive class (any shape) in [0, 1]; a value outside
        raises ValueError, a NaN makes its own element's loss NaN. Clipped to ``[eps, 1 - eps]``
        before the logarithms. dtype rules as for logits.
    eps : float in [0, 0.5), optional
        The clip. Default ``np.finfo(dtype).eps`` of the computation's dtype (scikit-learn's
        ``log_loss`` rule): 2.2e-16 in float64, 1.2e-7 in float32."""

_GRAD_OUT_DOC = """
    out : ndarray, optional
        Preallocated gradient (shape of the input, dtype of the computation, writable). It may be
        the input itself: the gradient then overwrites it with no extra memory."""

_SHAPES_NOTE = """
    Notes
    -----
    Elementwise over any shape; the last axis of a 2-D or higher input holds the labels (for
    ``pos_weight`` and ``sample_weight``); a 1-D input holds one label per row. Loss terms are
    computed in the input's dtype and summed in float64, in a fixed partition of the rows."""


_MULTILABEL_NOTE = """
    Notes
    -----
    The last axis holds the labels, leading axes are samples (``sample_weight`` has their shape).
    Loss terms are computed in the input's dtype and summed in float64, in a fixed partition of
    the rows."""


def _document(function, summary, head, reduction, returns, extra=""):
    note = _MULTILABEL_NOTE if reduction is _ROW_REDUCTION else _SHAPES_NOTE
    function.__doc__ = (summary + "\n" + head + _COMMON_DOC.replace("{reduction}", reduction) + extra
                        + "\n\n    Returns\n    -------\n" + returns + "\n" + note + "\n    ")


_LOSS_RETURNS = """    loss : NumPy scalar or ndarray
        In nats, of the computation's dtype; an array for ``reduction="none"``."""
_GRAD_RETURNS = """    grad : ndarray, shape of the input
        The gradient of the reduced loss (of the sum for "none"); ``out`` when given."""
_BOTH_RETURNS = _LOSS_RETURNS + "\n" + _GRAD_RETURNS

_document(binary_cross_entropy_with_logits,
          """Binary cross-entropy of sigmoid(logits) against ``target``, in the stable softplus form.

    Element loss ``k (pw y softplus(-z) + (1 - y) softplus(z))`` with
    ``softplus(z) = max(z, 0) + log1p(exp(-|z|))``, as ``torch.nn.functional.
    binary_cross_entropy_with_logits``; no ``exp`` overflows for any ``z``.""",
          _LOGITS_DOC, _ELEMENT_REDUCTION, _LOSS_RETURNS)
_document(binary_cross_entropy_with_logits_grad,
          """Gradient of `binary_cross_entropy_with_logits` w.r.t. the logits:
    ``scale k ((1 - y) sigmoid(z) - pw y sigmoid(-z))`` (``sigmoid(z) - y`` in the plain case),
    ``scale`` = 1 / the mean's denominator for "mean", 1 otherwise.""",
          _LOGITS_DOC, _ELEMENT_REDUCTION, _GRAD_RETURNS, _GRAD_OUT_DOC)
_document(binary_cross_entropy_with_logits_with_grad,
          """Loss and gradient of `binary_cross_entropy_with_logits` from ONE fused pass over the logits.""",
          _LOGITS_DOC, _ELEMENT_REDUCTION, _BOTH_RETURNS, _GRAD_OUT_DOC)
_document(binary_cross_entropy,
          """Binary cross-entropy of probabilities: ``k (-pw y log(pc) - (1 - y) log(1 - pc))`` with
    ``pc = clip(p, eps, 1 - eps)``, as ``sklearn.metrics.log_loss`` for two classes.

    Prefer `binary_cross_entropy_with_logits` when logits are available: the clip limits the loss of
    a confident wrong prediction to ``-log(eps)`` (36.0 nats in float64, 15.9 in float32).""",
          _PROBS_DOC, _ELEMENT_REDUCTION, _LOSS_RETURNS)
_document(binary_cross_entropy_grad,
          """Gradient of `binary_cross_entropy` w.r.t. the probabilities:
    ``scale k ((1 - y) / (1 - pc) - pw y / pc)``, evaluated at the clipped ``pc`` (the clip is
    passed through, so a prediction at 0 or 1 still gets a finite gradient pointing inwards).""",
          _PROBS_DOC, _ELEMENT_REDUCTION, _GRAD_RETURNS, _GRAD_OUT_DOC)
_document(binary_cross_entropy_with_grad,
          """Loss and gradient of `binary_cross_entropy` from ONE fused pass.""",
          _PROBS_DOC, _ELEMENT_REDUCTION, _BOTH_RETURNS, _GRAD_OUT_DOC)
_document(multilabel_cross_entropy,
          """Multi-label cross-entropy: per sample, the SUM of the binary cross-entropies of its L labels
    (each label an independent yes/no), then reduced over samples.

    For ``(N, L)`` logits the mean is ``binary_cross_entropy_with_logits(..., reduction="sum") / N``,
    that is L times the elementwise mean.""",
          _LOGITS_DOC.replace("any shape", "shape (..., L), labels on the last axis"), _ROW_REDUCTION,
          _LOSS_RETURNS)
_document(multilabel_cross_entropy_grad,
          """Gradient of `multilabel_cross_entropy` w.r.t. the logits:
    ``scale k ((1 - y) sigmoid(z) - pw y sigmoid(-z))``, ``scale`` = 1 / (weighted sample count)
    for "mean", 1 otherwise.""",
          _LOGITS_DOC.replace("any shape", "shape (..., L), labels on the last axis"), _ROW_REDUCTION,
          _GRAD_RETURNS, _GRAD_OUT_DOC)
_document(multilabel_cross_entropy_with_grad,
          """Loss and gradient of `multilabel_cross_entropy` from ONE fused pass.""",
          _LOGITS_DOC.replace("any shape", "shape (..., L), labels on the last axis"), _ROW_REDUCTION,
          _BOTH_RETURNS, _GRAD_OUT_DOC)
