"""`log_loss`: a drop-in for ``sklearn.metrics.log_loss`` without its N x C temporaries.

scikit-learn one-hot encodes ``y_true`` (N x C), clips ``y_proba`` (N x C), casts the one-hot
(N x C) and multiplies it by the logarithm (N x C) before summing the rows. Only the probability of
each sample's true class contributes, so this module encodes the labels sparsely (O(N)), gathers
those N probabilities and hands them to fastxent's clipped, multithreaded probability-space
cross-entropy kernel. Validation, errors and warnings are scikit-learn's own: the code below
follows ``sklearn/metrics/_classification.py`` (scikit-learn 1.9, BSD-3-Clause) step for step and
calls the same helpers, so the same inputs fail the same way with the same message.
"""

import warnings
from math import sqrt

import numpy as np
from sklearn.externals import array_api_extra as xpx
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils._array_api import (
    _average,
    _isin,
    get_namespace,
    get_namespace_and_device,
    move_to,
    supported_float_dtypes,
)
from sklearn.utils._param_validation import Hidden, validate_params
from sklearn.utils.validation import _check_sample_weight

from fastxent.binary import binary_cross_entropy

__all__ = ["log_loss"]


def _sparse_one_hot(y_true, labels):
    """scikit-learn's ``_one_hot_encoding_multiclass_target`` with a sparse (CSR) encoding.

    Returns
    -------
    encoded : scipy.sparse.csr_array, shape (n_samples, n_classes) or (n_samples, 1)
        The one-hot (or multilabel indicator) rows; ``(n_samples, 1)`` marks the positive class
        of a binary problem, as ``LabelBinarizer`` does.
    classes : ndarray, shape (n_classes,)
    """
    xp, _ = get_namespace(y_true)
    lb = LabelBinarizer(sparse_output=True)
    if labels is not None:
        lb = lb.fit(labels)
        # LabelBinarizer does not respect the order implied by labels, which can be misleading.
        if not xp.all(lb.classes_ == labels):
            warnings.warn(
                f"Labels passed were {labels}. But this function "
                "assumes labels are ordered lexicographically. "
                f"Pass the ordered labels={lb.classes_.tolist()} and ensure that "
                "the columns of y_prob correspond to this ordering.",
                UserWarning,
            )
        if not xp.all(_isin(y_true, labels, xp=xp)):
            undeclared_labels = set(y_true) - set(labels)
            raise ValueError(
                f"y_true contains values {undeclared_labels} not belonging "
                f"to the passed labels {labels}."
            )
    else:
        lb = lb.fit(y_true)

    if lb.classes_.shape[0] == 1:
        if labels is None:
            raise ValueError(
                "y_true contains only one label ({0}). Please "
                "provide the list of all expected class labels explicitly through the "
                "labels argument.".format(lb.classes_[0])
            )
        raise ValueError(
            "The labels array needs to contain at least two "
            "labels, got {0}.".format(lb.classes_)
        )
    return lb.transform(y_true).tocsr(), lb.classes_


def _true_class_entries(encoded, n_samples):
    """``(rows, columns, one_per_row)``: the positions of the ones of the encoding, in the
    two-column layout for a binary one, and whether every row holds exactly one of them.

    A binary ``(n_samples, 1)`` encoding stands for scikit-learn's ``[1 - T, T]``: every row has
    exactly one entry, in column 1 for the positive class and column 0 otherwise.
    """
    counts = np.diff(encoded.indptr)
    if encoded.shape[1] == 1:
        return np.arange(n_samples), counts.astype(np.intp), True
    columns = encoded.indices.astype(np.intp, copy=False)
    if np.all(counts == 1):
        return np.arange(n_samples), columns, True
    return np.repeat(np.arange(n_samples), counts), columns, False


@validate_params(
    {
        "y_true": ["array-like"],
        "y_proba": ["array-like", Hidden(None)],
        "normalize": ["boolean"],
        "sample_weight": ["array-like", None],
        "labels": ["array-like", None],
        "y_pred": ["array-like", str],
    },
    prefer_skip_nested_validation=True,
)
def log_loss(y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None, y_pred="deprecated"):
    r"""Log loss (cross-entropy of predicted probabilities), a drop-in for ``sklearn.metrics.log_loss``.

    Same parameters, results, errors and warnings as scikit-learn 1.9's ``log_loss`` (its
    ``y_pred`` keyword is deprecated there in favour of ``y_proba``, and here too), computed
    without any ``(n_samples, n_classes)`` temporary: the labels are encoded sparsely, the
    probability of each sample's true class is gathered (O(n_samples)) and its clipped negative
    logarithm is computed by fastxent's multithreaded kernel (``fastxent.get_num_threads()``
    threads). Converting ``y_proba`` to a floating array, when it is not one, copies it, as
    scikit-learn does.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or label indicator matrix (n_samples, n_classes)
        True labels (numbers or strings), or a 0/1 multilabel indicator matrix.
    y_proba : array-like of float, shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, columns in the lexicographic order of the labels (as
        ``LabelBinarizer`` sorts them). A single column (or a 1-D array) is the probability of
        the positive class of a binary problem. Values are clipped to ``[eps, 1 - eps]``,
        ``eps = np.finfo(y_proba.dtype).eps``; float32 (and float16) inputs are computed in their
        dtype as scikit-learn does, others are converted to float64.
    normalize : bool, default=True
        True: the (weighted) mean loss per sample; False: the (weighted) sum.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.
    labels : array-like, default=None
        All the class labels, when ``y_true`` does not contain every one of them.
    y_pred : array-like of float, deprecated
        The former name of ``y_proba`` (scikit-learn 1.9 renamed it; a FutureWarning).

    Returns
    -------
    loss : float
        In nats.

    Examples
    --------
    >>> from fastxent.sklearn import log_loss
    >>> round(log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]), 5)
    0.21616
    """
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError(
                "Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, "
                "use `y_proba` instead."
            )
        warnings.warn(
            "`y_pred` was renamed to `y_proba` in version 1.9 and will be removed "
            "in 1.11. Use `y_proba` instead.",
            FutureWarning,
        )
        y_proba = y_pred

    xp, _, device_ = get_namespace_and_device(y_proba)
    y_proba = check_array(y_proba, ensure_2d=False, dtype=supported_float_dtypes(xp, device=device_))
    if sample_weight is not None:
        sample_weight = move_to(sample_weight, xp=xp, device=device_)

    # scikit-learn's _validate_multiclass_probabilistic_prediction, in its order.
    if xp.max(y_proba) > 1:
        raise ValueError(f"y_prob contains values greater than 1: {xp.max(y_proba)}")
    if xp.min(y_proba) < 0:
        raise ValueError(f"y_prob contains values lower than 0: {xp.min(y_proba)}")
    check_consistent_length(y_proba, y_true, sample_weight)
    if sample_weight is not None:
        _check_sample_weight(sample_weight, y_proba, force_float_dtype=False)

    encoded, classes = _sparse_one_hot(y_true, labels)

    n_samples = y_proba.shape[0]
    positive = y_proba.reshape(n_samples) if y_proba.ndim == 1 or y_proba.shape[1] == 1 else None
    eps = xp.finfo(y_proba.dtype).eps
    # Row sums, as scikit-learn's of [1 - p, p] for one column: O(n_samples), no N x C copy.
    y_proba_sum = (1 - positive) + positive if positive is not None else xp.sum(y_proba, axis=1)
    if not xp.all(xpx.isclose(y_proba_sum, xp.asarray(1, dtype=y_proba_sum.dtype, device=device_),
                              rtol=sqrt(eps))):
        warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.", UserWarning)

    n_columns = 2 if positive is not None else y_proba.shape[1]
    if classes.shape[0] != n_columns:
        if labels is None:
            raise ValueError(
                "y_true and y_prob contain different number of "
                "classes: {0} vs {1}. Please provide the true "
                "labels explicitly through the labels argument. "
                "Classes found in "
                "y_true: {2}".format(max(encoded.shape[1], 2), n_columns, classes)
            )
        raise ValueError(
            "The number of classes in labels is different "
            "from that in y_prob. Classes found in "
            "labels: {0}".format(classes)
        )

    rows, columns, one_per_row = _true_class_entries(encoded, n_samples)
    if positive is not None:  # scikit-learn's column 0 is 1 - p, computed in the dtype of p
        picked = positive[rows]
        true_class_proba = np.where(columns == 1, picked, 1 - picked)
    else:
        true_class_proba = y_proba[rows, columns]
    # -log(clip(p, eps, 1 - eps)) of each one of the encoding (a target of 1 has no (1 - y) term).
    entry_loss = binary_cross_entropy(true_class_proba, np.ones_like(true_class_proba), eps=float(eps),
                                      reduction="none")
    if one_per_row:  # binary, multiclass: the entries are the rows
        loss = entry_loss
    else:  # a multilabel indicator: a row's loss is the sum over its labels
        loss = np.bincount(rows, weights=entry_loss, minlength=n_samples)
    loss = np.asarray(loss, dtype=y_proba.dtype)
    return float(_average(loss, weights=sample_weight, normalize=normalize))
