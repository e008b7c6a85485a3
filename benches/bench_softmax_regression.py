"""Fit time of fastxent.sklearn.SoftmaxRegression against scikit-learn's
LogisticRegression(solver="lbfgs") on one large multinomial problem (same objective, same
L-BFGS-B options), plus the cost of one objective evaluation (loss + gradient) of each.

Run: ``python benches/bench_softmax_regression.py`` (default 1,000,000 x 100 features, 20
classes, float32 and float64; ``--help`` for the sizes). The data: X ~ N(0, 1), labels drawn
from softmax(X W) with W ~ N(0, 0.3), fixed seed. Both estimators are checked to agree (their
coefficients and probabilities) before the numbers are printed. ``--json PATH`` saves them.
"""

import argparse
import json
import os
import platform
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn._loss.loss import HalfMultinomialLoss

import fastxent
from fastxent.benchmarking import time_calls
from fastxent.sklearn import SoftmaxRegression
from fastxent.sklearn._softmax_regression import _Objective


def make_problem(n_samples, n_features, n_classes, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features), dtype=np.float32).astype(dtype, copy=False)
    true_weights = rng.normal(0, 0.3, (n_features, n_classes)).astype(dtype)
    scores = X @ true_weights
    proba = fastxent.softmax(scores, out=scores)
    # inverse-CDF sampling of one label per row, O(N) memory beyond the (N, K) probabilities
    cumulative = np.cumsum(proba, axis=1, out=proba)
    y = (cumulative < rng.random((n_samples, 1), dtype=np.float32).astype(dtype)).sum(axis=1)
    return X, np.minimum(y, n_classes - 1)


def best_of(function, repeat):
    return time_calls(function, repeat, max_seconds=float("inf"))[1]


def evaluation_times(X, y, C, repeat):
    """Seconds of one loss + gradient evaluation at a random point, fastxent vs scikit-learn."""
    n_samples, n_features = X.shape
    n_classes = int(y.max()) + 1
    point = np.random.default_rng(1).normal(0, 0.1, n_classes * (n_features + 1))
    l2 = 1.0 / (C * n_samples)
    ours = _Objective(X, y.astype(np.int64), None, n_classes, True, l2, fastxent.get_num_threads())
    sklearn_loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=n_classes), fit_intercept=True)
    # scikit-learn's coefficient layout: (n_classes, n_dof) raveled in F order
    sk_point = point.reshape(n_classes, n_features + 1).ravel(order="F").astype(X.dtype)
    ours_point = np.concatenate([point.reshape(n_classes, n_features + 1)[:, :-1].ravel(),
                                 point.reshape(n_classes, n_features + 1)[:, -1]])
    y_float = y.astype(X.dtype)
    ours_value = ours(ours_point)[0]
    sk_value = sklearn_loss.loss_gradient(sk_point, X, y_float, None, l2, 1)[0]
    assert np.isclose(ours_value, sk_value, rtol=1e-4), (ours_value, sk_value)
    return (best_of(lambda: ours(ours_point), repeat),
            best_of(lambda: sklearn_loss.loss_gradient(sk_point, X, y_float, None, l2, 1), repeat))


def fit(estimator, X, y):
    start = time.perf_counter()
    estimator.fit(X, y)
    return time.perf_counter() - start, int(estimator.n_iter_[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=100)
    parser.add_argument("--n-classes", type=int, default=20)
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the single-evaluation timing")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    results = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "fastxent_threads": fastxent.get_num_threads(), "load_average_before": os.getloadavg(),
               "problem": vars(args), "runs": []}
    print(f"{args.n_samples:,} x {args.n_features} features, {args.n_classes} classes, C={args.C}, "
          f"max_iter={args.max_iter}, tol={args.tol}; fastxent threads {fastxent.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    for dtype_name in args.dtypes.split(","):
        dtype = np.dtype(dtype_name)
        X, y = make_problem(args.n_samples, args.n_features, args.n_classes, dtype)
        ours_eval, sklearn_eval = evaluation_times(X, y, args.C, args.repeat)
        options = dict(C=args.C, max_iter=args.max_iter, tol=args.tol)
        ours, theirs = SoftmaxRegression(**options), LogisticRegression(solver="lbfgs", **options)
        ours_time, ours_iter = fit(ours, X, y)
        sklearn_time, sklearn_iter = fit(theirs, X, y)
        coef_difference = float(np.abs(ours.coef_ - theirs.coef_).max() / np.abs(theirs.coef_).max())
        sample = X[:10_000]
        proba_difference = float(np.abs(ours.predict_proba(sample) - theirs.predict_proba(sample)).max())
        run = dict(dtype=dtype_name, evaluation_s=dict(fastxent=ours_eval, sklearn=sklearn_eval),
                   fit_s=dict(fastxent=ours_time, sklearn=sklearn_time),
                   n_iter=dict(fastxent=ours_iter, sklearn=sklearn_iter),
                   max_relative_coef_difference=coef_difference, max_proba_difference=proba_difference)
        results["runs"].append(run)
        print(f"{dtype_name}: one loss+gradient evaluation {ours_eval * 1e3:.0f} ms (fastxent) vs "
              f"{sklearn_eval * 1e3:.0f} ms (scikit-learn), {sklearn_eval / ours_eval:.2f}x; "
              f"fit {ours_time:.1f} s / {ours_iter} it (fastxent) vs {sklearn_time:.1f} s / {sklearn_iter} it "
              f"(scikit-learn), {sklearn_time / ours_time:.2f}x; coef rel. diff {coef_difference:.1e}, "
              f"proba diff {proba_difference:.1e}")
        del X, y
    results["load_average_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
