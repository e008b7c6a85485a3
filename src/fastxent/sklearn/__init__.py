"""scikit-learn integration: a drop-in `log_loss`, loss objects in the style of ``sklearn._loss``,
and `SoftmaxRegression`, a multinomial logistic regression estimator on fastxent's fused kernels.

`log_loss` and `SoftmaxRegression` need scikit-learn (the ``sklearn`` extra); the loss objects
do not. Names load on first use, so ``import fastxent`` (and ``fastxent.objectives``, which
uses the loss objects) never imports scikit-learn.
"""

import importlib

_MODULE_OF = {
    "BinomialLoss": "_loss",
    "MultilabelLoss": "_loss",
    "MultinomialLoss": "_loss",
    "SoftmaxRegression": "_softmax_regression",
    "log_loss": "_log_loss",
}

__all__ = sorted(_MODULE_OF)


def __getattr__(name):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value   # later look-ups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
