"""Custom objectives for gradient boosting (XGBoost, LightGBM) from fastxent's fused
gradient + hessian kernels: one multithreaded pass per boosting round.

Each factory returns the callable the library expects, with the gradient and hessian in its
layout and its conventions, so that a model trained with it matches the built-in objective:

====================================  ==========================  ==================  ============================
factory                               built-in twin               gradient            hessian (``w``: sample weight)
====================================  ==========================  ==================  ============================
``xgboost_objective("softprob")``     ``multi:softprob``          ``w (p - onehot)``  ``max(2 w p (1 - p), 1e-16)``
``xgboost_objective("logistic")``     ``binary:logistic``         ``w (p - y)``       ``w max(p (1 - p), 1e-16)``
``lightgbm_objective("multiclass")``  ``multiclass``              ``w (p - onehot)``  ``K / (K - 1) w p (1 - p)``
``lightgbm_objective("binary")``      ``binary`` (``sigmoid=1``)  ``w (p - y)``       ``w p (1 - p)``
====================================  ==========================  ==================  ============================

``p`` is ``softmax`` (multiclass, of shape ``(n_samples, n_classes)``) or ``sigmoid`` (binary,
``(n_samples,)``) of the current raw scores. The hessians are not all the true diagonal
``p (1 - p)``: XGBoost doubles the multiclass one (``diag(2 p (1 - p))`` bounds the softmax's
full hessian ``diag(p) - p p^T`` from above: the difference is diagonally dominant) and LightGBM
scales it by ``K / (K - 1)`` (the ``(K - 1) / K`` leaf step of Friedman's multiclass gradient
boosting). These factors are reproduced, as are XGBoost's floors, so the trees come out the same. Both libraries (XGBoost
3.2, LightGBM 4.7) pass multiclass scores as ``(n_samples, n_classes)`` arrays and take the
gradient and hessian in that shape.

The built-in objectives start from a fitted constant (XGBoost's ``base_score``, LightGBM's
``boost_from_average``); a custom objective starts from 0 unless the data carries a
``base_margin`` / ``init_score``.
"""

import numpy as np

from fastxent.sklearn._loss import BinomialLoss, MultinomialLoss

__all__ = ["lightgbm_objective", "xgboost_objective"]

# XGBoost's floors (src/objective/multiclass_obj.cu, regression_loss.h): the multiclass hessian
# is max(2 w p (1 - p), eps), the logistic one max(p (1 - p), eps) times w.
_XGBOOST_HESSIAN_FLOOR = 1e-16

_APIS = ("train", "sklearn")


def _gradient_hessian(kind, labels, raw, weight, n_threads):
    """``(grad, hess, weight)``: the per-sample softmax (``kind`` multiclass) or sigmoid
    cross-entropy gradient and hessian diagonal, times ``weight`` (None: ones)."""
    raw = np.asarray(raw)
    weight = None if weight is None or np.size(weight) == 0 else np.asarray(weight, dtype=np.float64)
    if kind == "multiclass":
        if raw.ndim != 2:
            raise ValueError(f"a multiclass objective needs scores of shape (n_samples, n_classes), got {raw.shape}; "
                             f"set num_class in the booster's parameters")
        loss = MultinomialLoss()
    else:
        if raw.ndim != 1:
            raise ValueError(f"a binary objective needs scores of shape (n_samples,), got {raw.shape}")
        loss = BinomialLoss()
    grad, hess = loss.gradient_hessian(labels, raw, sample_weight=weight, n_threads=n_threads)
    return grad, hess, weight


def _xgboost_gradient_hessian(kind, labels, raw, weight, n_threads):
    grad, hess, weight = _gradient_hessian(kind, labels, raw, weight, n_threads)
    if kind == "multiclass":
        hess *= 2
        np.maximum(hess, _XGBOOST_HESSIAN_FLOOR, out=hess)
    else:  # the floor comes before the weight
        floor = _XGBOOST_HESSIAN_FLOOR if weight is None else _XGBOOST_HESSIAN_FLOOR * weight
        np.maximum(hess, np.asarray(floor, dtype=hess.dtype), out=hess)
    return grad, hess


def _lightgbm_gradient_hessian(kind, labels, raw, weight, n_threads):
    grad, hess, _ = _gradient_hessian(kind, labels, raw, weight, n_threads)
    if kind == "multiclass":
        n_classes = hess.shape[1]
        if n_classes > 1:
            hess *= n_classes / (n_classes - 1)
    return grad, hess


def _check(kind, kinds, api):
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds}, got {kind!r}")
    if api not in _APIS:
        raise ValueError(f"api must be one of {_APIS}, got {api!r}")


def xgboost_objective(kind, *, api="train", n_threads=None):
    """An XGBoost custom objective (``obj=``) reproducing ``multi:softprob`` or ``binary:logistic``.

    Parameters
    ----------
    kind : {"softprob", "logistic"}
        "softprob": multiclass softmax cross-entropy (set ``num_class`` in the parameters; the
        scores and the returned arrays have shape ``(n_samples, n_classes)``, labels are class
        indices 0 .. K - 1); "logistic": binary cross-entropy of ``sigmoid(score)``, labels in
        [0, 1], shape ``(n_samples,)``.
    api : {"train", "sklearn"}, default "train"
        "train": the callable ``obj(predt, dtrain)`` of ``xgboost.train``, reading the labels
        and weights from the DMatrix; "sklearn": ``obj(y_true, y_pred, sample_weight=None)`` for
        ``XGBClassifier(objective=...)``.
    n_threads : int, optional
        Threads of fastxent's kernel (None = ``fastxent.get_num_threads()``).

    Returns
    -------
    callable
        Returning ``(grad, hess)``, float32 arrays (the scores' dtype) of the scores' shape:
        ``w (p - onehot)`` and ``max(2 w p (1 - p), 1e-16)`` for "softprob", ``w (p - y)`` and
        ``w max(p (1 - p), 1e-16)`` for "logistic" (XGBoost's built-in factor 2 and floors).
    """
    _check(kind, ("softprob", "logistic"), api)
    loss_kind = "multiclass" if kind == "softprob" else "binary"
    if api == "train":
        def objective(predt, dtrain):
            return _xgboost_gradient_hessian(loss_kind, dtrain.get_label(), predt, dtrain.get_weight(), n_threads)
    else:
        def objective(y_true, y_pred, sample_weight=None):
            return _xgboost_gradient_hessian(loss_kind, y_true, y_pred, sample_weight, n_threads)
    objective.__name__ = objective.__qualname__ = f"fastxent_xgboost_{kind}"
    return objective


def lightgbm_objective(kind, *, api="train", n_threads=None):
    """A LightGBM custom objective reproducing ``multiclass`` (softmax) or ``binary``.

    Parameters
    ----------
    kind : {"multiclass", "binary"}
        "multiclass": softmax cross-entropy (set ``num_class``; scores and returned arrays of
        shape ``(n_samples, n_classes)``, labels 0 .. K - 1); "binary": binary cross-entropy of
        ``sigmoid(score)`` (LightGBM's ``sigmoid=1``), labels in [0, 1], shape ``(n_samples,)``.
    api : {"train", "sklearn"}, default "train"
        "train": ``objective(preds, train_data)`` for ``lightgbm.train({"objective": ...})``,
        reading labels and weights from the Dataset; "sklearn": ``objective(y_true, y_pred,
        weight)`` for ``LGBMClassifier(objective=...)``.
    n_threads : int, optional
        Threads of fastxent's kernel (None = ``fastxent.get_num_threads()``).

    Returns
    -------
    callable
        Returning ``(grad, hess)`` of the scores' shape and dtype (float64): ``w (p - onehot)``
        and ``K / (K - 1) w p (1 - p)`` (LightGBM's built-in factor) for "multiclass",
        ``w (p - y)`` and ``w p (1 - p)`` for "binary".
    """
    _check(kind, ("multiclass", "binary"), api)
    if api == "train":
        def objective(preds, train_data):
            return _lightgbm_gradient_hessian(kind, train_data.get_label(), preds, train_data.get_weight(), n_threads)
    else:
        def objective(y_true, y_pred, weight):
            return _lightgbm_gradient_hessian(kind, y_true, y_pred, weight, n_threads)
    objective.__name__ = objective.__qualname__ = f"fastxent_lightgbm_{kind}"
    return objective
