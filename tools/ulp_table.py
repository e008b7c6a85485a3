"""Accuracy at the overflow and underflow edges: every loss and gradient against mpmath (mp.dps = 50).

    python tools/ulp_table.py            # the markdown table of docs/reliability.md

For each function, dtype (float32, float64) and backend, the inputs are the edges of exp, log1p and
the dtype's range (around +-17, 37, 88.7, 89, 104, 709.8, 745, 1e30, finfo.max, finfo.tiny, the
subnormals, each with its neighbours 1 and 2 ulps away), a sweep across the whole finite range of
exp, and rows with large gaps between their logits. Each result is compared with the exact value of
the same float inputs; the error is in ulps of the exact value in the output's dtype (the ulp of a
subnormal result is the smallest subnormal; an exact value beyond the dtype's range must come out
as inf of its sign, which counts 0). Gradients that are a difference of two terms of size 1 (for
instance ``softmax - onehot`` at the label, ``1 - p`` tiny) lose their relative accuracy by
cancellation whatever the implementation; their absolute error is reported as well, in units of
``eps`` (the ulp of 1).

`tests/test_extreme_values.py` asserts ``BOUNDS`` and ``ULP_BOUNDS`` on the same cases.
"""

import functools
import math
import sys
from dataclasses import dataclass

import mpmath
import numpy as np

import fastxent

DIGITS = 50  # mpmath's working precision (set per computation, not globally)
DTYPES = (np.float32, np.float64)
BACKENDS = ("numpy", "cython", "numba")

# The documented bounds of every backend, per function and dtype, set from the measured tables
# (docs/reliability.md) with a margin. BOUNDS: the max of |error| / (ulp(exact) + eps) (see
# `errors`). ULP_BOUNDS: plain ulps, for the functions free of cancellation (no difference of two
# terms of size 1), where the exact value's relative accuracy is reachable.
BOUNDS = {name: {np.float32: 2, np.float64: 2} for name in (
    "logsumexp", "log_softmax", "softmax", "softmax_ce loss", "softmax_ce grad", "sigmoid", "log_sigmoid",
    "bce_logits loss", "bce_logits grad", "bce_probs loss", "bce_probs grad")}
ULP_BOUNDS = {name: {np.float32: 4, np.float64: 4} for name in (
    "sigmoid", "log_sigmoid", "bce_logits loss", "bce_probs loss")}


# --------------------------------------------------------------------------- inputs


def _neighbours(values, dtype, steps=(1, 2)):
    """``values`` in ``dtype`` with their neighbours ``steps`` ulps away on both sides (finite only)."""
    dtype = np.dtype(dtype).type
    out = []
    with np.errstate(over="ignore"):  # the neighbours of finfo.max include inf, dropped below
        base = np.array([v for v in values], dtype=np.float64).astype(dtype)
        out.append(base)
        for step in steps:
            up, down = base.copy(), base.copy()
            for _ in range(step):
                up, down = np.nextafter(up, dtype(np.inf)), np.nextafter(down, dtype(-np.inf))
            out += [up, down]
    everything = np.concatenate(out)
    return np.unique(everything[np.isfinite(everything)])


def edges(dtype):
    """The edge values of ``dtype`` (both signs), neighbours included, and a sweep over exp's range."""
    info = np.finfo(dtype)
    magnitudes = [0.0, float(info.smallest_subnormal), 1e-40, float(info.tiny), 1e-20, float(info.eps), 1e-3,
                  0.5, 1.0, 2.0, 5.0, 10.0, 16.6, 17.0, 17.5, 36.7, 37.0, 37.5, 50.0, 87.3, 88.7, 88.73, 89.0,
                  103.3, 103.9, 104.0, 150.0, 708.4, 709.78, 709.8, 744.4, 745.1, 745.2, 746.0, 1e4, 1e10, 1e30,
                  float(info.max) / 2, float(info.max)]
    points = _neighbours([s * m for m in magnitudes for s in (1.0, -1.0)], dtype)
    top = 110.0 if dtype == np.float32 else 760.0
    sweep = np.linspace(-top, top, 1201).astype(dtype)
    return np.unique(np.concatenate([points, sweep]))


def rows(dtype):
    """Rows of 1, 2 and 5 logits at the edges: one large logit against the rest, equal logits, large
    gaps (17 to 1e10 and beyond the dtype's exp range), and rows shifted to huge magnitudes."""
    info = np.finfo(dtype)
    top = float(info.max)
    starts = [0.0, -1.0, 17.0, 88.7, 709.8, 1e30, -1e30, top / 4, -top / 4, float(info.tiny),
              float(info.smallest_subnormal)]
    gaps = [0.0, float(info.eps), 1e-3, 1.0, 16.6, 17.0, 37.0, 88.7, 89.0, 104.0, 709.8, 745.2, 1e10, top / 2]
    out = []
    with np.errstate(over="ignore", invalid="ignore"):
        for start in starts:
            out.append(np.array([start], dtype=dtype))
            for gap in gaps:
                pair = np.array([start, start - gap], dtype=np.float64).astype(dtype)
                out += [pair, pair[::-1].copy()]
                five = np.array([start, start - gap, start - gap / 2, start - 2 * gap, start], dtype=np.float64)
                out.append(five.astype(dtype))
    out.append(np.array([top, -top], dtype=dtype))
    return [row for row in out if np.all(np.isfinite(row))]


# --------------------------------------------------------------------------- exact values


def _mp(x):
    return mpmath.mpf(float(x))


def _softplus(x):
    return mpmath.log1p(mpmath.exp(x))


def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


@dataclass
class Case:
    """One batched call of function ``name`` and the exact values of its outputs (flattened)."""

    inputs: tuple
    exact: list


def _row_cases(dtype):
    """Cases of the row functions: the rows of each length stacked, and each row once per label."""
    by_length = {}
    for row in rows(dtype):
        by_length.setdefault(len(row), []).append(row)
    table = {name: [] for name in ("logsumexp", "log_softmax", "softmax", "softmax_ce loss", "softmax_ce grad")}
    for length, group in sorted(by_length.items()):
        matrix = np.array(group, dtype=dtype)
        exact = {name: [] for name in table}
        for row in group:
            top = max(row)
            shifted = [mpmath.fsub(_mp(z), _mp(top), exact=True) for z in row]  # <= 0, exact
            total = mpmath.fsum(mpmath.exp(d) for d in shifted)  # in [1, C]
            log_total = mpmath.log(total)
            probs = [mpmath.exp(d) / total for d in shifted]
            exact["logsumexp"].append(_mp(top) + log_total)
            exact["log_softmax"] += [d - log_total for d in shifted]
            exact["softmax"] += probs
            for label in range(length):
                exact["softmax_ce loss"].append(log_total - shifted[label])
                # p_y - 1 = -(sum of the other classes' exps) / total, free of cancellation
                others = mpmath.fsum(mpmath.exp(d) for i, d in enumerate(shifted) if i != label)
                exact["softmax_ce grad"] += [-others / total if i == label else p for i, p in enumerate(probs)]
        per_label = np.repeat(matrix, length, axis=0), np.tile(np.arange(length), len(group))
        for name in ("logsumexp", "log_softmax", "softmax"):
            table[name].append(Case((matrix,), exact[name]))
        for name in ("softmax_ce loss", "softmax_ce grad"):
            table[name].append(Case(per_label, exact[name]))
    return table


@functools.lru_cache(maxsize=None)
def cases(dtype):
    """``{function name: [Case, ...]}`` for ``dtype``."""
    with mpmath.workdps(DIGITS):
        return _cases(dtype)


def _cases(dtype):
    dtype = np.dtype(dtype).type
    table = _row_cases(dtype)
    x = edges(dtype)
    table["sigmoid"] = [Case((x,), [_sigmoid(_mp(v)) for v in x])]
    table["log_sigmoid"] = [Case((x,), [-_softplus(-_mp(v)) for v in x])]
    table["bce_logits loss"], table["bce_logits grad"] = [], []
    for y in (0.0, 1.0, 0.25):
        target = np.full_like(x, y)
        table["bce_logits loss"].append(Case((x, target), [y * _softplus(-_mp(v)) + (1 - y) * _softplus(_mp(v))
                                                           for v in x]))
        # sigmoid(z) - y, written without cancellation for the hard targets
        grad = {0.0: lambda v: _sigmoid(v), 1.0: lambda v: -_sigmoid(-v)}.get(y, lambda v: _sigmoid(v) - y)
        table["bce_logits grad"].append(Case((x, target), [grad(_mp(v)) for v in x]))
    info = np.finfo(dtype)
    p = _neighbours([0.0, float(info.smallest_subnormal), float(info.tiny), 1e-30, float(info.eps) / 2,
                     float(info.eps), 2 * float(info.eps), 1e-3, 0.25, 0.5, 0.75, 1 - 1e-3, 1 - float(info.eps),
                     1.0], dtype)
    p = p[(p >= 0) & (p <= 1)]
    # The default clip [eps, 1 - eps], in the probabilities' dtype like the kernels.
    clipped = np.clip(p, dtype(info.eps), dtype(1.0 - float(info.eps)))
    table["bce_probs loss"], table["bce_probs grad"] = [], []
    for y in (0.0, 1.0, 0.25):
        target = np.full_like(p, y)
        table["bce_probs loss"].append(Case((p, target), [-y * mpmath.log(_mp(c)) - (1 - y) * mpmath.log1p(-_mp(c))
                                                          for c in clipped]))
        table["bce_probs grad"].append(Case((p, target), [(1 - y) / (1 - _mp(c)) - y / _mp(c) for c in clipped]))
    return {name: table[name] for name in BOUNDS}


# --------------------------------------------------------------------------- errors


def errors(got, exact, dtype):
    """``(ulps, mixed)`` of each output element.

    ``ulps``: the error in ulps of the exact value where that is a normal number (0 for an exact
    value beyond the dtype's range when ``got`` is the inf of its sign, inf otherwise); NaN where the
    exact value is 0 or subnormal. ``mixed``: ``|got - exact| / (ulp(exact) + eps)``, the error in
    ulps with an absolute error below ``eps`` (the ulp of 1) free: ulps for results above 1, the
    absolute error in eps for results below (where cancellation, e.g. ``softmax - onehot`` at the
    label, limits any implementation to an absolute accuracy)."""
    with mpmath.workdps(DIGITS):
        return _errors(got, exact, dtype)


def _errors(got, exact, dtype):
    info = np.finfo(dtype)
    precision = info.nmant + 1
    top = _mp(info.max) + mpmath.mpf(2) ** (info.maxexp - precision) / 2  # round-to-nearest's overflow edge
    tiny, eps, smallest = _mp(info.tiny), _mp(info.eps), _mp(info.smallest_subnormal)
    ulps, mixed = [], []
    for g, e in zip(np.asarray(got, dtype=np.float64).tolist(), exact):
        if abs(e) >= top:
            error = 0.0 if math.isinf(g) and (g > 0) == (e > 0) else math.inf
            ulps.append(error)
            mixed.append(error)
            continue
        if not math.isfinite(g):
            ulps.append(math.inf if abs(e) >= tiny else math.nan)
            mixed.append(math.inf)
            continue
        ulp = mpmath.mpf(2) ** (mpmath.floor(mpmath.log(abs(e), 2)) - precision + 1) if abs(e) >= tiny else smallest
        difference = abs(_mp(g) - e)
        ulps.append(float(difference / ulp) if abs(e) >= tiny else math.nan)
        mixed.append(float(difference / (ulp + eps)))
    return np.array(ulps), np.array(mixed)


# --------------------------------------------------------------------------- fastxent's results


def compute(name, inputs, backend):
    """fastxent's result of function ``name`` on a case's ``inputs``, flattened."""
    if name in ("logsumexp", "log_softmax", "softmax"):
        return np.ravel(getattr(fastxent, name)(*inputs, backend=backend))
    if name.startswith("softmax_ce"):
        function = fastxent.softmax_cross_entropy if name.endswith("loss") else fastxent.softmax_cross_entropy_grad
        return np.ravel(function(*inputs, reduction="none", backend=backend))
    if name in ("sigmoid", "log_sigmoid"):
        return getattr(fastxent, name)(*inputs, backend=backend)
    if name.startswith("bce_logits"):
        function = (fastxent.binary_cross_entropy_with_logits if name.endswith("loss")
                    else fastxent.binary_cross_entropy_with_logits_grad)
    else:
        function = fastxent.binary_cross_entropy if name.endswith("loss") else fastxent.binary_cross_entropy_grad
    # "none" for the losses; the gradient of the "sum" (unscaled) for the gradients
    return function(*inputs, reduction="none" if name.endswith("loss") else "sum", backend=backend)


@dataclass
class Measurement:
    ulps: float        # max ulps over the normal-range (or overflowing) exact values
    mixed: float       # max |error| / (ulp(exact) + eps) over every value
    worst: tuple       # (input element, got, exact) of the max ulps
    n_values: int


def measure(name, dtype, backend):
    """The errors of function ``name`` in ``dtype`` on ``backend`` over every case."""
    worst_ulps, worst_mixed, worst, n_values = 0.0, 0.0, None, 0
    for case in cases(dtype)[name]:
        with np.errstate(all="ignore"):
            got = compute(name, case.inputs, backend)
        ulps, mixed = errors(got, case.exact, dtype)
        n_values += len(ulps)
        if np.any(~np.isnan(ulps)) and np.nanmax(ulps) > worst_ulps:
            i = int(np.nanargmax(ulps))
            worst_ulps, worst = float(ulps[i]), (_input_of(name, case.inputs, i), float(got[i]), float(case.exact[i]))
        worst_mixed = max(worst_mixed, float(np.max(mixed)))
    return Measurement(worst_ulps, worst_mixed, worst, n_values)


def _input_of(name, inputs, i):
    """The input behind output element ``i`` (the row and label for row functions)."""
    if name == "logsumexp":
        return inputs[0][i].tolist()
    if name in ("log_softmax", "softmax"):
        return inputs[0][i // inputs[0].shape[1]].tolist()
    if name.startswith("softmax_ce"):
        width = inputs[0].shape[1]
        row = i if name.endswith("loss") else i // width
        return inputs[0][row].tolist(), int(inputs[1][row])
    return tuple(float(a[i]) for a in inputs)


def _cell(value):
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}" if value < 1e4 else f"{value:.1e}"


def _table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main(backends=BACKENDS, verbose=False):
    counts = {np.dtype(d).name: sum(len(c.exact) for name in BOUNDS for c in cases(d)[name]) for d in DTYPES}
    results = {(name, dtype, backend): measure(name, dtype, backend)
               for name in BOUNDS for dtype in DTYPES for backend in backends}
    columns = ["function"] + [f"{np.dtype(d).name} {b}" for d in DTYPES for b in backends]
    print(f"Against mpmath (mp.dps = 50), {counts['float32']} float32 and {counts['float64']} float64 output "
          f"values.\n\nMax error in ulps of the exact value (normal-range results; bound: float32 / float64, where "
          f"asserted):\n")
    print(_table(columns + ["bound"], [[name] + [_cell(results[name, d, b].ulps) for d in DTYPES for b in backends]
                                       + [" / ".join(str(ULP_BOUNDS[name][d]) for d in DTYPES)
                                          if name in ULP_BOUNDS else "-"] for name in BOUNDS]))
    print("\nMax of |error| / (ulp(exact) + eps), the mixed measure the tests bound (bound: float32 / float64, "
          "every backend):\n")
    print(_table(columns + ["bound"], [[name] + [_cell(results[name, d, b].mixed) for d in DTYPES for b in backends]
                                       + [" / ".join(str(BOUNDS[name][d]) for d in DTYPES)] for name in BOUNDS]))
    if verbose:
        print()
        for (name, dtype, backend), m in results.items():
            print(f"{name} {np.dtype(dtype).name} {backend}: max ulps at {m.worst}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "-v"]
    main(tuple(arguments) or BACKENDS, verbose="-v" in sys.argv[1:])
