"""`SoftmaxRegression`: L2-penalised multinomial logistic regression fitted by L-BFGS-B on
fastxent's fused loss + gradient, a scikit-learn classifier.

The objective is scikit-learn's ``LogisticRegression(solver="lbfgs")`` objective exactly (see
``sklearn/linear_model/_logistic.py``, ``_linear_loss.py``)::

    sum_i s_i loss_i / sum_i s_i  +  ||W||^2 / (2 C sum_i s_i)

with ``s_i`` the sample weights times the class weights (``sum_i s_i = n_samples`` without
weights) and the intercepts unpenalised; the optimiser's options are those of scikit-learn too
(``maxiter=max_iter``, ``gtol=tol``, ``maxls=50``, ``ftol=64 eps``), so both reach the same
coefficients. Each evaluation is one GEMM for the scores, ONE fused fastxent pass that turns the
scores into the gradient in place (no second N x K buffer), and one GEMM for the gradient.
"""

import numbers
import warnings

import numpy as np
import scipy.optimize
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, check_scalar, validate_data

from fastxent._threads import resolve_n_threads
from fastxent.binary import binary_cross_entropy_with_logits_with_grad, log_sigmoid, sigmoid
from fastxent.softmax import log_softmax, softmax, softmax_cross_entropy_with_grad

__all__ = ["SoftmaxRegression"]

_FLOAT_DTYPES = [np.float64, np.float32]

# Scores per kernel thread: waking a second OpenMP thread for a small problem costs more than the
# work (measured: a 40 x 4 call took 10 ms with 2 threads on a busy 2-core machine, 30 us with 1).
# fastxent's results do not depend on the thread count, so this changes only the speed.
_SCORES_PER_THREAD = 65_536


class _Objective:
    """The penalised mean loss and its gradient as a function of the flat float64 parameter
    vector ``[W.ravel(), b]`` that L-BFGS-B moves (``W`` of shape (K, F); K = 1 for two classes,
    the binomial model, as ``LogisticRegression``)."""

    def __init__(self, X, y_index, sample_weight, n_classes, fit_intercept, l2_strength, n_threads):
        self.X, self.y_index, self.sample_weight = X, y_index, sample_weight
        self.n_rows = 1 if n_classes == 2 else n_classes
        self.fit_intercept, self.l2_strength = fit_intercept, l2_strength
        self.n_threads = max(1, min(n_threads, X.shape[0] * self.n_rows // _SCORES_PER_THREAD))
        self.n_features = X.shape[1]
        # The binomial model's 0/1 targets in X's dtype, made once.
        self.target = y_index.astype(X.dtype) if n_classes == 2 else y_index

    @property
    def n_parameters(self):
        return self.n_rows * (self.n_features + int(self.fit_intercept))

    def split(self, parameters):
        """``(W (K, F), b (K,) or None)`` in X's dtype from the flat float64 vector."""
        n_weights = self.n_rows * self.n_features
        weights = parameters[:n_weights].reshape(self.n_rows, self.n_features).astype(self.X.dtype)
        intercept = parameters[n_weights:].astype(self.X.dtype) if self.fit_intercept else None
        return weights, intercept

    def __call__(self, parameters):
        weights, intercept = self.split(parameters)
        scores = np.asarray(self.X @ weights.T)   # (N, K): the only N x K buffer
        if intercept is not None:
            scores += intercept
        # One fused pass; the gradient overwrites the scores. reduction="mean" divides by sum_i s_i,
        # so loss and gradient are already scikit-learn's weighted mean.
        if self.n_rows == 1:  # binomial: one score per sample
            loss, _ = binary_cross_entropy_with_logits_with_grad(
                scores[:, 0], self.target, sample_weight=self.sample_weight, n_threads=self.n_threads,
                out=scores[:, 0])
        else:
            loss, _ = softmax_cross_entropy_with_grad(
                scores, self.target, sample_weight=self.sample_weight, n_threads=self.n_threads, out=scores)
        gradient = np.empty_like(parameters)
        n_weights = self.n_rows * self.n_features
        weights_gradient = np.asarray(self.X.T @ scores).T + self.l2_strength * weights
        gradient[:n_weights] = weights_gradient.ravel()
        if self.fit_intercept:
            gradient[n_weights:] = scores.sum(axis=0, dtype=np.float64)
        penalty = 0.5 * self.l2_strength * float(np.dot(weights.ravel(), weights.ravel()))
        return float(loss) + penalty, gradient


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    """Multinomial logistic (softmax) regression with an L2 penalty, on fastxent's kernels.

    The same model and objective as ``sklearn.linear_model.LogisticRegression(solver="lbfgs")``
    (multinomial for three or more classes, binomial for two, ``C`` scaled the same way; see the
    module notes), solved by ``scipy.optimize.minimize(method="L-BFGS-B")`` on fastxent's fused,
    multithreaded loss + gradient. float32 data is fitted in float32 (scores, loss and gradient in
    float32, the optimiser's state in float64), as scikit-learn does.

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the L2 penalty strength (> 0): the penalty is ``||W||^2 / (2 C sum_i s_i)``
        next to the weighted mean loss. The intercepts are not penalised.
    fit_intercept : bool, default=True
        Fit one intercept per class (one for two classes).
    max_iter : int, default=100
        Maximum number of L-BFGS-B iterations (>= 0).
    tol : float, default=1e-4
        Stop when the largest gradient component is below ``tol`` (L-BFGS-B's ``gtol``; >= 0).
    class_weight : dict, "balanced" or None, default=None
        Multiplies each sample's weight by the weight of its class, as in scikit-learn
        (``"balanced"``: ``n_samples / (n_classes * class counts)``, sample weights included).
    n_threads : int, optional
        Threads of fastxent's kernels (None = ``fastxent.get_num_threads()``, ``-k`` = all
        cores but k - 1). The two matrix products use NumPy's BLAS and its own threads.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (sorted; strings or numbers).
    coef_ : ndarray of shape (1, n_features) for two classes, else (n_classes, n_features)
        In the dtype of the training data (float32 or float64).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Zeros when ``fit_intercept=False``.
    n_iter_ : ndarray of shape (1,)
        L-BFGS-B iterations used, as ``LogisticRegression``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        When X has string feature names (a DataFrame).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from fastxent.sklearn import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> model = SoftmaxRegression(C=10.0, max_iter=1000).fit(X, y)
    >>> model.coef_.shape, round(model.score(X, y), 2)
    ((3, 4), 0.98)
    """

    def __init__(self, C=1.0, *, fit_intercept=True, max_iter=100, tol=1e-4, class_weight=None, n_threads=None):
        self.C = C
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_parameters(self):
        check_scalar(self.C, "C", numbers.Real, min_val=0, include_boundaries="neither")
        check_scalar(self.max_iter, "max_iter", numbers.Integral, min_val=0)
        check_scalar(self.tol, "tol", numbers.Real, min_val=0)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be a bool, got {type(self.fit_intercept).__name__}")
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be a dict, 'balanced' or None, got {self.class_weight!r}")
        return resolve_n_threads(self.n_threads)   # raises for 0 or a non-integer

    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 is kept (and fitted in float32), other dtypes become float64.
            CSR sparse matrices are used as they are.
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings), at least two distinct ones.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative sample weights, multiplied by the class weights.

        Returns
        -------
        self : SoftmaxRegression
        """
        n_threads = self._check_parameters()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=_FLOAT_DTYPES, order="C")
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n_classes = self.classes_.shape[0]
        if n_classes < 2:
            raise ValueError(f"SoftmaxRegression needs samples of at least 2 classes in the data, but the data "
                             f"contains only one class: {self.classes_[0]!r}")
        if sample_weight is not None or self.class_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, copy=True, ensure_non_negative=True)
        if self.class_weight is not None:
            per_class = compute_class_weight(self.class_weight, classes=self.classes_, y=y,
                                             sample_weight=sample_weight)
            sample_weight *= per_class[y_index].astype(X.dtype)
        # The penalty is scaled by the weight sum AFTER the class weights, as scikit-learn does.
        weight_sum = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        if weight_sum <= 0:
            raise ValueError("The sample weights (times the class weights) sum to 0: there is nothing to fit")
        objective = _Objective(X, y_index.astype(np.int64), sample_weight, n_classes, bool(self.fit_intercept),
                               1.0 / (self.C * weight_sum), n_threads)
        result = scipy.optimize.minimize(
            objective, np.zeros(objective.n_parameters), method="L-BFGS-B", jac=True,
            options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol, "ftol": 64 * np.finfo(float).eps})
        n_iter = min(result.nit, self.max_iter)
        if result.status != 0:
            warnings.warn(f"SoftmaxRegression: L-BFGS-B did not converge after {n_iter} iteration(s) "
                          f"(status={result.status}: {result.message}); increase max_iter or scale the data",
                          ConvergenceWarning, stacklevel=2)
        weights, intercept = objective.split(result.x)
        self.coef_ = weights
        self.intercept_ = intercept if intercept is not None else np.zeros(objective.n_rows, dtype=X.dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        return self

    def decision_function(self, X):
        """Scores ``X @ coef_.T + intercept_``: the logits of the classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) for two classes (the positive class's logit), else
            (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", dtype=_FLOAT_DTYPES, reset=False)
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """The most probable class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Elements of ``classes_``.
        """
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]

    def predict_proba(self, X):
        """Class probabilities (softmax of the scores; sigmoid for two classes).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; rows sum to 1.
        """
        scores = self.decision_function(X)
        if scores.ndim == 2:
            return softmax(scores, out=scores, n_threads=self.n_threads)
        return np.stack([sigmoid(-scores, n_threads=self.n_threads), sigmoid(scores, n_threads=self.n_threads)],
                        axis=1)

    def predict_log_proba(self, X):
        """Log of `predict_proba`, computed without overflow (log-softmax / log-sigmoid).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            In nats, <= 0.
        """
        scores = self.decision_function(X)
        if scores.ndim == 2:
            return log_softmax(scores, out=scores, n_threads=self.n_threads)
        return np.stack([log_sigmoid(-scores, n_threads=self.n_threads),
                         log_sigmoid(scores, n_threads=self.n_threads)], axis=1)
