"""Loss objects in the style of scikit-learn's private loss module (``sklearn._loss.loss``).

`MultinomialLoss`, `BinomialLoss` and `MultilabelLoss` have the methods of ``BaseLoss`` (``loss``,
``gradient``, ``loss_gradient``, ``gradient_hessian``, ``__call__``, ``predict_proba``) with the
same arguments and the same per-sample results, computed by fastxent's fused, multithreaded
functions (`fastxent.softmax_cross_entropy_with_grad`, `fastxent.binary_cross_entropy_with_logits_with_grad`,
the ``*_gradient_hessian`` functions, ...) instead of scikit-learn's Cython loops.

Conventions
-----------
- The losses are the negative log-likelihoods, in nats: ``logsumexp(z) - z_y`` (multinomial),
  ``log(1 + exp(z)) - y z`` (binomial), the sum of the binomial losses over the labels
  (multilabel). scikit-learn calls the first two ``HalfMultinomialLoss`` / ``HalfBinomialLoss``
  because they are HALF the deviance (``2 * loss``, the statisticians' convention); the numbers
  are the same, so fastxent drops the "Half". Gradients and hessians are those of the loss (not of
  the deviance): ``p - onehot(y)`` and the diagonal ``p (1 - p)``.
- Per-sample outputs (``loss``, ``gradient``, ``hessian``) are multiplied by ``sample_weight``;
  ``__call__`` is the weighted mean ``sum_i s_i loss_i / sum_i s_i``, as scikit-learn's.
- ``n_threads=None`` (default) uses ``fastxent.get_num_threads()``; scikit-learn's default is 1.
- Differences from scikit-learn: sample weights must be finite and non-negative (a ValueError
  otherwise), targets are range-checked (a ValueError rather than undefined results), and an
  F-ordered ``raw_prediction`` is copied once to C order (the kernels read rows). ``loss_out``,
  ``gradient_out`` and ``hessian_out`` may be C- or F-ordered (an F-ordered output is written
  through a temporary).
"""

import numpy as np

from fastxent.binary import (
    binary_cross_entropy_gradient_hessian,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    binary_cross_entropy_with_logits_with_grad,
    multilabel_cross_entropy,
    multilabel_cross_entropy_grad,
    multilabel_cross_entropy_with_grad,
    sigmoid,
)
from fastxent.softmax import (
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
    softmax_cross_entropy_gradient_hessian,
    softmax_cross_entropy_with_grad,
)

__all__ = ["BinomialLoss", "MultilabelLoss", "MultinomialLoss"]

_PARAMETERS = """
    Parameters
    ----------
    y_true : array-like
        Targets, shaped as the class docstring says (class indices for `MultinomialLoss`,
        values in [0, 1] for the others).
    raw_prediction : array-like
        Raw scores (logits) in the class's shape; float32 or float64 are computed in their dtype,
        C- or F-ordered.
    sample_weight : array-like of shape (n_samples,), optional
        Finite, non-negative per-sample weights."""

_THREADS = """
    n_threads : int, optional
        Threads: None = ``fastxent.get_num_threads()``, ``-k`` = cores - k + 1."""

_GRADIENT_OUT = """
    gradient_out : ndarray, optional
        Where to store the gradient: raw_prediction's shape, the computation's dtype, any order.
        It may be ``raw_prediction`` itself (overwritten) when that is C-contiguous."""


class _FastxentLoss:
    """What the three losses share: the methods, built on the subclass's fastxent functions
    (``_loss_function``, ``_gradient_function``, ``_loss_gradient_function``,
    ``_gradient_hessian_function``) and its ``_inputs`` (targets and raw predictions as those take them)."""

    is_multiclass = False
    approx_hessian = False   # the hessian's diagonal is exact
    constant_hessian = False

    @staticmethod
    def _output(out, like, name):
        """``out`` as a view of ``like``'s shape when it is scikit-learn's ``(n_samples, 1)`` for
        ``(n_samples,)``; fastxent's functions validate the rest."""
        if out is None:
            return None
        if not isinstance(out, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
        if like.ndim == 1 and out.shape == (like.shape[0], 1):
            return out[:, 0]
        return out

    @staticmethod
    def _loss_out(loss_out, values):
        if loss_out is None:
            return values
        if not isinstance(loss_out, np.ndarray):
            raise TypeError(f"loss_out must be a numpy.ndarray, got {type(loss_out).__name__}")
        if loss_out.shape != values.shape:
            raise ValueError(f"loss_out must have shape {values.shape}, got {loss_out.shape}")
        loss_out[...] = values
        return loss_out

    def loss(self, y_true, raw_prediction, sample_weight=None, loss_out=None, n_threads=None):
        y, z = self._inputs(y_true, raw_prediction)
        values = self._loss_function(z, y, sample_weight=sample_weight, reduction="none", n_threads=n_threads)
        return self._loss_out(loss_out, np.asarray(values))

    def gradient(self, y_true, raw_prediction, sample_weight=None, gradient_out=None, n_threads=None):
        y, z = self._inputs(y_true, raw_prediction)
        # reduction="sum": the gradient of the sum of the per-sample losses, row i = s_i dloss_i/dz_i.
        return self._gradient_function(z, y, sample_weight=sample_weight, reduction="sum", n_threads=n_threads,
                                       out=self._output(gradient_out, z, "gradient_out"))

    def loss_gradient(self, y_true, raw_prediction, sample_weight=None, loss_out=None, gradient_out=None,
                      n_threads=None):
        y, z = self._inputs(y_true, raw_prediction)
        values, gradient = self._loss_gradient_function(
            z, y, sample_weight=sample_weight, reduction="none", n_threads=n_threads,
            out=self._output(gradient_out, z, "gradient_out"))
        return self._loss_out(loss_out, np.asarray(values)), gradient

    def gradient_hessian(self, y_true, raw_prediction, sample_weight=None, gradient_out=None, hessian_out=None,
                         n_threads=None):
        y, z = self._inputs(y_true, raw_prediction)
        return self._gradient_hessian_function(
            z, y, sample_weight=sample_weight, n_threads=n_threads,
            grad_out=self._output(gradient_out, z, "gradient_out"),
            hess_out=self._output(hessian_out, z, "hessian_out"))

    def __call__(self, y_true, raw_prediction, sample_weight=None, n_threads=None):
        y, z = self._inputs(y_true, raw_prediction)
        return float(self._loss_function(z, y, sample_weight=sample_weight, reduction="mean", n_threads=n_threads))


_LOSS_OUT = """
    loss_out : ndarray of shape (n_samples,), optional
        Where to store the per-sample losses (any float dtype: they are cast into it)."""

_FastxentLoss.loss.__doc__ = f"""Per-sample loss ``s_i loss_i``, in nats.
{_PARAMETERS}{_LOSS_OUT}{_THREADS}

    Returns
    -------
    loss : ndarray of shape (n_samples,)
        ``loss_out`` when given, else of the computation's dtype.
    """
_FastxentLoss.gradient.__doc__ = f"""Per-sample gradient ``s_i dloss_i / draw_prediction_i``.
{_PARAMETERS}{_GRADIENT_OUT}{_THREADS}

    Returns
    -------
    gradient : ndarray, shape of raw_prediction
    """
_FastxentLoss.loss_gradient.__doc__ = f"""Per-sample loss and gradient from ONE fused pass over ``raw_prediction``.
{_PARAMETERS}{_LOSS_OUT}{_GRADIENT_OUT}{_THREADS}

    Returns
    -------
    loss : ndarray of shape (n_samples,)
    gradient : ndarray, shape of raw_prediction
    """
_FastxentLoss.gradient_hessian.__doc__ = f"""Per-sample gradient and diagonal hessian ``s_i p (1 - p)``, from one pass.
{_PARAMETERS}{_GRADIENT_OUT}
    hessian_out : ndarray, optional
        Where to store the hessian (shape and dtype as ``gradient_out``, another array).{_THREADS}

    Returns
    -------
    gradient, hessian : ndarray, shape of raw_prediction
    """
_FastxentLoss.__call__.__doc__ = f"""Weighted mean loss ``sum_i s_i loss_i / sum_i s_i``, as scikit-learn's
    ``__call__`` (NaN with a RuntimeWarning when the weights sum to 0).
{_PARAMETERS}{_THREADS}

    Returns
    -------
    loss : float
    """


def _labels_as_indices(y_true, n_samples, n_classes):
    """Class indices (scikit-learn passes them as floats, e.g. 0., 1., 2.) as int64, checked to be
    whole numbers in ``[0, n_classes)``."""
    y = np.asarray(y_true)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y_true must hold class indices 0 .. n_classes - 1 (numbers), got dtype {y.dtype}")
    if y.shape != (n_samples,):
        raise ValueError(f"y_true must have shape ({n_samples},), one class index per row of raw_prediction, "
                         f"got {y.shape}")
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.floor(y))
        if not whole.all():
            first = int(np.argmax(~whole))
            raise ValueError(f"y_true must hold whole class indices; y_true[{first}] = {y[first]}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        first = int(np.argmax((y < 0) | (y >= n_classes)))
        raise ValueError(f"y_true[{first}] = {y[first]} is not a class index in [0, {n_classes})")
    return y.astype(np.int64, copy=False)


def _as_raw(raw_prediction, ndim, what):
    z = np.asarray(raw_prediction)
    if z.ndim != ndim:
        raise ValueError(f"raw_prediction must be {what}, got shape {z.shape}")
    return z


def _optional_count(value, name):
    """``n_classes`` / ``n_labels``: None or a positive int."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return None if value is None else int(value)


def _raw_columns(raw_prediction, expected, name):
    """A 2-D ``raw_prediction`` whose number of columns is ``expected`` (the loss's ``name``) when set."""
    z = _as_raw(raw_prediction, 2, f"of shape (n_samples, {name})")
    if expected is not None and z.shape[1] != expected:
        raise ValueError(f"raw_prediction has {z.shape[1]} columns, but this loss has {name} = {expected}")
    return z


class MultinomialLoss(_FastxentLoss):
    """Multinomial (softmax) cross-entropy, scikit-learn's ``HalfMultinomialLoss`` on fastxent.

    ``loss_i = s_i (logsumexp(z_i) - z_{i, y_i})``, gradient ``s_i (softmax(z_i) - onehot(y_i))``,
    hessian diagonal ``s_i p (1 - p)``. The same numbers as ``HalfMultinomialLoss`` (which is half
    the multinomial deviance, i.e. this loss); see the module notes.

    Parameters
    ----------
    n_classes : int, optional
        Number of classes; None takes it from ``raw_prediction.shape[1]``, else that is checked.

    Attributes
    ----------
    is_multiclass : bool
        True.
    """

    is_multiclass = True
    _loss_function = staticmethod(softmax_cross_entropy)
    _gradient_function = staticmethod(softmax_cross_entropy_grad)
    _loss_gradient_function = staticmethod(softmax_cross_entropy_with_grad)

    def __init__(self, n_classes=None):
        self.n_classes = _optional_count(n_classes, "n_classes")

    def _inputs(self, y_true, raw_prediction):
        z = _raw_columns(raw_prediction, self.n_classes, "n_classes")
        return _labels_as_indices(y_true, z.shape[0], z.shape[1]), z

    @staticmethod
    def _gradient_hessian_function(z, y, *, sample_weight, n_threads, grad_out, hess_out):
        return softmax_cross_entropy_gradient_hessian(z, y, sample_weight=sample_weight, n_threads=n_threads,
                                                      grad_out=grad_out, hess_out=hess_out)

    def predict_proba(self, raw_prediction, n_threads=None):
        """Class probabilities ``softmax(raw_prediction)``.

        Parameters
        ----------
        raw_prediction : array-like of shape (n_samples, n_classes)
        n_threads : int, optional

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1.
        """
        return softmax(_as_raw(raw_prediction, 2, "of shape (n_samples, n_classes)"), n_threads=n_threads)


def _binary_targets(y_true, shape):
    y = np.asarray(y_true)
    if y.shape != shape:
        raise ValueError(f"y_true must have shape {shape}, that of raw_prediction, got {y.shape}")
    return y


class BinomialLoss(_FastxentLoss):
    """Binary cross-entropy from logits, scikit-learn's ``HalfBinomialLoss`` on fastxent.

    ``loss_i = s_i (log(1 + exp(z_i)) - y_i z_i)`` (stable softplus form), gradient
    ``s_i (sigmoid(z_i) - y_i)``, hessian ``s_i p (1 - p)``; ``y_true`` in [0, 1] (0/1 labels or
    soft targets). ``raw_prediction`` (and the outputs) of shape ``(n_samples,)`` or
    ``(n_samples, 1)``, as scikit-learn accepts.

    Attributes
    ----------
    n_classes : int
        2.
    """

    n_classes = 2
    _loss_function = staticmethod(binary_cross_entropy_with_logits)
    _gradient_function = staticmethod(binary_cross_entropy_with_logits_grad)
    _loss_gradient_function = staticmethod(binary_cross_entropy_with_logits_with_grad)
    _gradient_hessian_function = staticmethod(binary_cross_entropy_gradient_hessian)

    @staticmethod
    def _raw(raw_prediction):
        z = np.asarray(raw_prediction)
        if z.ndim == 2 and z.shape[1] == 1:  # scikit-learn's (n_samples, 1)
            z = z[:, 0]
        return _as_raw(z, 1, "of shape (n_samples,) or (n_samples, 1)")

    def _inputs(self, y_true, raw_prediction):
        z = self._raw(raw_prediction)
        return _binary_targets(y_true, z.shape), z

    def predict_proba(self, raw_prediction, n_threads=None):
        """Probabilities of the two classes, ``[1 - sigmoid(z), sigmoid(z)]``.

        Parameters
        ----------
        raw_prediction : array-like of shape (n_samples,) or (n_samples, 1)
        n_threads : int, optional

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
        """
        positive = sigmoid(self._raw(raw_prediction), n_threads=n_threads)
        proba = np.empty((positive.shape[0], 2), dtype=positive.dtype)
        proba[:, 1] = positive
        proba[:, 0] = 1 - positive
        return proba


class MultilabelLoss(_FastxentLoss):
    """Multi-label cross-entropy: per sample the SUM over its L labels of the binary cross-entropy
    from logits (each label an independent yes/no; scikit-learn has no such loss object).

    ``loss_i = s_i sum_l (log(1 + exp(z_il)) - y_il z_il)``, gradient ``s_i (sigmoid(z) - y)``,
    hessian ``s_i p (1 - p)`` elementwise; ``y_true`` and ``raw_prediction`` of shape
    ``(n_samples, n_labels)``, targets in [0, 1].

    Parameters
    ----------
    n_labels : int, optional
        Number of labels; None takes it from ``raw_prediction.shape[1]``, else that is checked.
    """

    _loss_function = staticmethod(multilabel_cross_entropy)
    _gradient_function = staticmethod(multilabel_cross_entropy_grad)
    _loss_gradient_function = staticmethod(multilabel_cross_entropy_with_grad)
    _gradient_hessian_function = staticmethod(binary_cross_entropy_gradient_hessian)

    def __init__(self, n_labels=None):
        self.n_labels = _optional_count(n_labels, "n_labels")

    def _inputs(self, y_true, raw_prediction):
        z = _raw_columns(raw_prediction, self.n_labels, "n_labels")
        return _binary_targets(y_true, z.shape), z

    def predict_proba(self, raw_prediction, n_threads=None):
        """Per-label probabilities ``sigmoid(raw_prediction)``.

        Parameters
        ----------
        raw_prediction : array-like of shape (n_samples, n_labels)
        n_threads : int, optional

        Returns
        -------
        proba : ndarray of shape (n_samples, n_labels)
        """
        return sigmoid(_as_raw(raw_prediction, 2, "of shape (n_samples, n_labels)"), n_threads=n_threads)


