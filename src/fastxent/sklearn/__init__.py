"""scikit-learn integration: a drop-in `log_loss`, loss objects in the style of ``sklearn._loss``,
and `SoftmaxRegression`, a multinomial logistic regression estimator on fastxent's fused kernels.

Requires scikit-learn (the ``sklearn`` extra); ``import fastxent`` alone never imports it.
"""

from fastxent.sklearn._log_loss import log_loss
from fastxent.sklearn._loss import BinomialLoss, MultilabelLoss, MultinomialLoss
from fastxent.sklearn._softmax_regression import SoftmaxRegression

__all__ = ["BinomialLoss", "MultilabelLoss", "MultinomialLoss", "SoftmaxRegression", "log_loss"]
