"""Fuzz tests over every public function (issue 8, part 1).

Each example draws a whole call: shapes (0 rows, 1 class, very wide rows, 0-d), dtypes (float16/32/64,
every integer width, bool, object, complex), memory layouts (C, F, negative strides, strided views,
views one byte off alignment, read-only, nested lists), values (huge, tiny, subnormal, +-inf, NaN,
-0.0, the exp overflow/underflow edges), labels (negative, >= C, ignore_index, int8..uint64),
weights (zero, negative, NaN, inf) and the scalar options, valid or not.

A model of the documented input rules (the ``*_valid`` predicates below) says whether the call is
valid. The NumPy reference backend is run once, then every compiled backend on fresh copies of the
same inputs:

- valid call: each backend returns a result equal to the reference's (same structure, shape and
  dtype; NaN and inf in the same places; finite values within `arrays.TOLERANCE` relative to the
  inputs' magnitude);
- invalid call: each backend raises the reference's ValueError/TypeError with the same message,
  and the message names (one of) the invalid argument(s).

Any other exception, or a crash, fails. Profiles: "ci" (default) and "nightly" (10,000 examples per
test, one test per function family), from tests/conftest.py via FASTXENT_HYPOTHESIS_PROFILE.
"""

import math
import os
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

import fastxent
from arrays import TOLERANCE
from fastxent._backends import is_available
from fastxent._threads import usable_cores

# Explicit per-test settings, so that a module loading another profile cannot shrink a nightly run.
FUZZ_SETTINGS = settings(settings.get_profile(os.environ.get("FASTXENT_HYPOTHESIS_PROFILE", "ci")))
COMPILED = tuple(name for name in ("cython", "numba") if is_available(name))

FLOATS = (np.float16, np.float32, np.float64)
INTEGERS = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
# Weighted towards the compiled kernels' own dtypes; the rest must be converted or refused.
SCORE_DTYPES = (np.float32, np.float64) * 4 + FLOATS[:1] + INTEGERS + (np.bool_, np.complex128, np.object_)
LAYOUTS = ("C", "C", "F", "negative", "strided", "unaligned", "readonly", "list")
# Named special values, placed in a fraction of the elements; the edges of exp/log1p in both dtypes.
SPECIALS = ("max", "-max", "tiny", "subnormal", "inf", "-inf", "nan", "-0", "0", "17", "-37", "88.7", "-89",
            "104", "-709.8", "745", "1e30", "-1e300")


def special_value(name, dtype):
    info = np.finfo(dtype)
    table = {"max": info.max, "-max": -info.max, "tiny": info.tiny, "subnormal": info.smallest_subnormal,
             "inf": np.inf, "-inf": -np.inf, "nan": np.nan, "-0": -0.0, "0": 0.0}
    return float(table[name]) if name in table else float(name)


# --------------------------------------------------------------------------- array generation


@dataclass
class Arg:
    """A drawn array argument: its values (in its own dtype) and the layout each call gets them in.

    ``make()`` builds a fresh object every time, so each backend gets its own copy (outputs may be
    written into the inputs)."""

    values: np.ndarray
    layout: str

    def make(self):
        a = np.array(self.values, copy=True)
        if a.ndim == 0 or a.size == 0 or self.layout == "C":
            return a
        if self.layout == "F":
            return np.asfortranarray(a)
        if self.layout == "negative":
            flip = (slice(None, None, -1),) * a.ndim
            return np.ascontiguousarray(a[flip])[flip]
        if self.layout == "strided":
            wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
            wide[..., ::2] = a
            return wide[..., ::2]
        if self.layout == "unaligned":
            if a.dtype == object or a.dtype.itemsize == 1:
                return a
            raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
            view = raw[1:].view(a.dtype).reshape(a.shape)
            view[...] = a
            return view
        if self.layout == "readonly":
            a.setflags(write=False)
            return a
        if self.layout == "list":
            return a.tolist()
        raise AssertionError(self.layout)


def _integers(rng, shape, dtype, low, high):
    info = np.iinfo(dtype)
    values = rng.integers(max(low, info.min), min(high, info.max), size=shape, endpoint=True, dtype=np.int64
                          if dtype != np.uint64 else np.uint64)
    return values.astype(dtype)


@st.composite
def shapes(draw, min_dims=0, max_batch_dims=2, wide=True):
    """A shape ``(*batch, C)``: batch axes of 0-5 (0 rows included), C from 1 to very wide (20,000
    with a single row, to keep the arrays small)."""
    batch = tuple(draw(st.lists(st.integers(0, 5), min_size=max(min_dims - 1, 0), max_size=max_batch_dims)))
    n_classes = draw(st.sampled_from([1, 1, 2, 3, 5, 8, 17] + ([257, 4099, 20_000] if wide else [])))
    if n_classes > 17:
        batch = tuple(min(b, 1) for b in batch)
    if min_dims == 0 and draw(st.integers(0, 9)) == 0:
        return ()
    return (*batch, n_classes)


@st.composite
def score_arrays(draw, shape, dtypes=SCORE_DTYPES):
    """Logits-like values of ``shape``: normal at a drawn scale, a fraction replaced by specials."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 3.0, 30.0, 1e4, 1e30]))
    specials = draw(st.lists(st.sampled_from(SPECIALS), max_size=4, unique=True))
    fraction = draw(st.sampled_from([0.05, 0.3, 1.0]))
    layout = draw(st.sampled_from(LAYOUTS))
    if dtype.kind in "iu":
        values = _integers(rng, shape, dtype, -(2**63), 2**64 - 1) if draw(st.booleans()) else \
            _integers(rng, shape, dtype, -50, 50)
    elif dtype.kind == "b":
        values = rng.random(shape) < 0.5
    else:
        real = np.dtype(np.float64) if dtype.kind in "cO" else dtype
        x = np.array(rng.normal(0.0, scale, size=shape))
        if specials:
            mask = rng.random(shape) < fraction
            x[mask] = rng.choice([special_value(s, real) for s in specials], size=int(np.sum(mask)))
        with np.errstate(over="ignore"):
            values = x.astype(real).astype(dtype)
    return Arg(np.asarray(values), layout)


@st.composite
def unit_arrays(draw, shape, dtypes=(np.float32, np.float64, np.float64, np.float16, np.int8, np.uint8,
                                     np.bool_), invalid=True):
    """Values in [0, 1] (0, 1, tiny, subnormal, 1 - eps, -0.0 among them) of ``shape``; with
    ``invalid``, sometimes NaN, inf, negative or above 1 too."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layout = draw(st.sampled_from(LAYOUTS))
    if dtype.kind in "biu":
        bad = invalid and draw(st.integers(0, 4)) == 0
        values = rng.integers(-1 if bad else 0, 3 if bad else 2, size=shape)
        if dtype.kind == "u":
            values = np.abs(values)
        return Arg(values.astype(dtype), layout)
    real = np.finfo(dtype)
    palette = [0.0, 1.0, -0.0, 0.5, float(real.tiny), float(real.smallest_subnormal), 1 - float(real.eps)]
    if invalid and draw(st.integers(0, 3)) == 0:
        palette += draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, -1e-3, 1.5, 1e30]), min_size=1,
                                 max_size=2))
    x = np.array(rng.random(size=shape) ** draw(st.sampled_from([1, 8])))
    mask = rng.random(shape) < draw(st.sampled_from([0.0, 0.1, 0.5]))
    x[mask] = rng.choice(palette, size=int(np.sum(mask)))
    with np.errstate(over="ignore"):
        return Arg(x.astype(dtype), layout)


@st.composite
def weight_arrays(draw, shape):
    """Weights of ``shape``: finite and non-negative (zeros, subnormals, large) or, sometimes, with a
    negative, NaN or inf; any real dtype, sometimes a complex one."""
    dtype = np.dtype(draw(st.sampled_from([np.float64, np.float64, np.float32, np.int32, np.uint8, np.bool_,
                                           np.complex128])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # No subnormal weight here: next to 1e6 it makes the true gradient of a smoothed mean overflow,
    # where the kernels give NaN (see the xfail tests below); test_a_mean_over_subnormal_weights...
    # covers subnormal weights.
    palette = [0.0, 1.0, 1e-3, 7.5, 1e6]
    if draw(st.integers(0, 3)) == 0:
        palette += draw(st.lists(st.sampled_from([-1.0, np.nan, np.inf]), min_size=1, max_size=2))
    values = np.array(rng.choice(palette, size=shape))
    with np.errstate(invalid="ignore"):
        if dtype.kind in "iub":
            values = np.where(np.isfinite(values), values, -1)
        return Arg(values.astype(dtype), draw(st.sampled_from(LAYOUTS)))


@st.composite
def labels_of_shape(draw, shape, n_classes, ignore_index):
    """Integer labels of ``shape`` in any integer dtype: mostly in range, sometimes ``ignore_index``,
    negative or >= n_classes."""
    dtype = np.dtype(draw(st.sampled_from(INTEGERS + (np.int64,) * 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    values = rng.integers(0, max(n_classes, 1), size=shape)
    mask = rng.random(shape) < draw(st.sampled_from([0.0, 0.0, 0.2]))
    extras = [v for v in (ignore_index, -1, n_classes, n_classes + 1000, -(2**40)) if isinstance(v, int)]
    values = values.astype(object)
    values[mask] = rng.choice(np.array(extras, dtype=object), size=int(np.sum(mask)))
    info = np.iinfo(dtype)
    values = np.array([v if info.min <= v <= info.max else int(info.max) for v in values.reshape(-1)],
                      dtype=dtype).reshape(shape)
    return Arg(values, draw(st.sampled_from(LAYOUTS)))


N_THREADS = st.one_of(st.sampled_from([None, 1, 2, -1]), st.sampled_from([None, 1, 0, 1.5, True, -1000, "2"]))


def n_threads_valid(n_threads):
    if n_threads is None:
        return True
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads == 0:
        return False
    return n_threads > 0 or usable_cores() + n_threads + 1 >= 1


# --------------------------------------------------------------------------- the input rules


def is_real(arr):
    return arr.dtype.kind in "biuf"


def compute_dtype(arr):
    if arr.dtype.kind == "f" and arr.dtype.itemsize >= 4:
        return arr.dtype
    return np.dtype(np.float32 if arr.dtype == np.float16 else np.float64)


def cast(arr, dtype):
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(dtype)


def weights_valid(w, shape):
    w = np.asarray(w)
    if not is_real(w) or w.shape != tuple(shape):
        return False
    w = cast(w, np.float64)
    return bool(np.all(np.isfinite(w)) and np.all(w >= 0))


def out_valid(out, shape, dtype):
    return (isinstance(out, np.ndarray) and out.shape == tuple(shape) and out.dtype == dtype
            and out.flags.writeable)


def out_invalid(choice, first_input, shape, dtype):
    """True when the ``out`` of ``choice`` (None: not given) breaks the rules for an output."""
    return choice is not None and not out_valid(make_out(choice, first_input, shape, dtype), shape, dtype)


@st.composite
def out_choices(draw):
    return draw(st.sampled_from([None, None, None, "fresh", "alias", "alias", "F", "wrong_dtype", "wrong_shape",
                                 "readonly", "list"]))


def make_out(choice, first_input, shape, dtype):
    """The ``out`` argument for ``choice``, made fresh for each call (``alias``: the first input)."""
    if choice is None:
        return None
    if choice == "alias":
        return first_input
    if choice == "list":
        return np.zeros(shape, dtype).tolist()
    if choice == "wrong_dtype":
        return np.empty(shape, np.float16 if dtype == np.float32 else np.float32)
    if choice == "wrong_shape":
        return np.empty((*shape, 2), dtype)
    out = np.empty(shape, dtype, order="F" if choice == "F" else "C")
    if choice == "readonly":
        out.setflags(write=False)
    return out


# --------------------------------------------------------------------------- running and comparing


def names_argument(message, names):
    return any(re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message) for name in names)


def call(function, make_arguments, backend):
    """``("ok", result)`` or ``("error", exception)`` for ValueError/TypeError; other exceptions propagate."""
    args, kwargs = make_arguments()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the documented NaN mean of zero weight
            return "ok", function(*args, backend=backend, **kwargs)
    except (ValueError, TypeError) as exc:
        return "error", exc


def assert_same_values(got, want, atol_scale):
    """``got`` equals the reference ``want``: type, shape, dtype; NaN and inf at the same places
    (inf against a finite value only at the edge of the dtype's range); finite values close."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same_values(g, w, atol_scale)
        return
    assert type(got) is type(want), (type(got), type(want))
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape, got.dtype, want.dtype)
    rtol = TOLERANCE[want.dtype.type]
    g, w = got.astype(np.float64), want.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg="NaN at different places")
    edge = float(np.finfo(want.dtype).max) * (1 - rtol)
    differ = (np.isinf(g) | np.isinf(w)) & (g != w)
    assert np.all(np.abs(np.where(np.isinf(g), w, g)[differ]) >= edge), "inf against a finite value"
    both = np.isfinite(g) & np.isfinite(w)
    np.testing.assert_allclose(g[both], w[both], rtol=rtol, atol=rtol * atol_scale)


def check(function, make_arguments, invalid_names, atol_scale):
    """Run the reference, then every compiled backend, and apply the module's contract."""
    note(f"function: {function.__name__}; invalid: {sorted(invalid_names)}")
    event(f"{function.__name__}: {'invalid' if invalid_names else 'valid'}")
    ref_status, ref = call(function, make_arguments, "numpy")
    if invalid_names:
        assert ref_status == "error", f"an invalid call ({sorted(invalid_names)}) returned {ref!r}"
        assert names_argument(str(ref), invalid_names), f"{ref!r} does not name any of {sorted(invalid_names)}"
    else:
        assert ref_status == "ok", f"a valid call raised {ref!r}"
    for backend in COMPILED:
        status, result = call(function, make_arguments, backend)
        assert status == ref_status, (backend, result)
        if status == "error":
            assert (type(result), str(result)) == (type(ref), str(ref)), (backend, result, ref)
        else:
            assert_same_values(result, ref, atol_scale)


def magnitude(*arrays):
    """1 + the largest finite absolute value of the inputs: the scale of an absolute rounding error."""
    top = 1.0
    for a in arrays:
        a = np.asarray(a)
        if a.size and is_real(a):
            finite = cast(a, np.float64)[np.isfinite(cast(a, np.float64))]
            if finite.size:
                top = max(top, float(np.max(np.abs(finite))))
    return 1.0 + min(top, 1e300)


# --------------------------------------------------------------------------- softmax family


def logits_valid(arr):
    return is_real(arr) and arr.ndim >= 1 and arr.shape[-1] >= 1


ROWWISE = (fastxent.softmax, fastxent.log_softmax, fastxent.logsumexp)


@FUZZ_SETTINGS
@given(data=st.data())
def test_softmax_log_softmax_logsumexp(data):
    function = data.draw(st.sampled_from(ROWWISE))
    logits = data.draw(score_arrays(data.draw(shapes())))
    out_choice = data.draw(out_choices()) if function is not fastxent.logsumexp else None
    n_threads = data.draw(N_THREADS)
    values = np.asarray(logits.make())
    invalid = set()
    if not logits_valid(values):
        invalid.add("logits")
    if not n_threads_valid(n_threads):
        invalid.add("n_threads")
    if "logits" not in invalid and out_invalid(out_choice, logits.make(), values.shape, compute_dtype(values)):
        invalid.add("out")

    def make_arguments():
        x = logits.make()
        kwargs = {"n_threads": n_threads}
        if out_choice is not None and "logits" not in invalid:
            kwargs["out"] = make_out(out_choice, x, values.shape, compute_dtype(values))
        return (x,), kwargs

    check(function, make_arguments, invalid, magnitude(values))


SOFTMAX_CE = (fastxent.softmax_cross_entropy, fastxent.softmax_cross_entropy_grad,
              fastxent.softmax_cross_entropy_with_grad, fastxent.softmax_cross_entropy_gradient_hessian)
IGNORE_INDEX = st.one_of(st.sampled_from([-100, -100, -1, 0, 2, 255]),
                         st.sampled_from([2**40, 2**63 - 1, -(2**63), 2**70, True, 1.0, "0"]))
SMOOTHING = st.one_of(st.sampled_from([0.0, 0.0, 0.1, 1.0]), st.sampled_from([1, -0.1, 1.5, np.nan, True, "0.1"]))
REDUCTION = st.one_of(st.sampled_from(["mean", "sum", "none"]), st.sampled_from(["avg", None, "Mean"]))


def smoothing_valid(value):
    return (not isinstance(value, (bool, str))) and isinstance(value, (int, float)) and 0 <= value <= 1


def ignore_index_valid(value):
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


@st.composite
def softmax_targets(draw, shape, ignore_index):
    """Labels, class probabilities, or a target of a wrong kind or shape, for logits of ``shape``."""
    batch, n_classes = shape[:-1], (shape[-1] if shape else 1)
    kind = draw(st.sampled_from(["labels"] * 4 + ["probs"] * 2 + ["float_labels", "bool", "wrong_shape",
                                                                   "complex"]))
    if kind == "labels":
        return draw(labels_of_shape(batch, n_classes, ignore_index))
    if kind == "probs":
        return draw(unit_arrays(shape, dtypes=(np.float32, np.float64, np.float16)))
    if kind == "float_labels":
        return Arg(np.zeros(batch, np.float64), "C")
    if kind == "bool":
        return Arg(np.zeros(batch, np.bool_), "C")
    if kind == "complex":
        return Arg(np.zeros(shape, np.complex128), "C")
    return Arg(np.zeros((*batch, 2), np.int64), "C")


def softmax_target_valid(target, logits, ignore_index, allow_ignore):
    batch = logits.shape[:-1]
    if target.dtype.kind in "iu":
        if target.shape != batch:
            return False
        y = target.astype(object)
        return bool(np.all(((y >= 0) & (y < logits.shape[-1])) | ((y == ignore_index) if allow_ignore else False)))
    if target.dtype.kind == "f" and target.shape == logits.shape:
        t = cast(target, compute_dtype(logits))
        return bool(np.all(np.isfinite(t)) and np.all(t >= 0))
    return False


@FUZZ_SETTINGS
@given(data=st.data())
def test_softmax_cross_entropy_family(data):
    function = data.draw(st.sampled_from(SOFTMAX_CE))
    is_hessian = function is fastxent.softmax_cross_entropy_gradient_hessian
    shape = data.draw(shapes(min_dims=1))
    logits = data.draw(score_arrays(shape))
    ignore_index = -100 if is_hessian else data.draw(IGNORE_INDEX)
    target = data.draw(softmax_targets(shape, ignore_index if ignore_index_valid(ignore_index) else -100))
    weight = None if is_hessian or data.draw(st.booleans()) else data.draw(
        weight_arrays(data.draw(st.sampled_from([shape[-1:], (shape[-1] + 1,)]))))
    sample_weight = data.draw(st.one_of(st.none(), weight_arrays(shape[:-1])))
    options = {"n_threads": data.draw(N_THREADS)}
    if not is_hessian:
        options.update(ignore_index=ignore_index, label_smoothing=data.draw(SMOOTHING),
                       reduction=data.draw(REDUCTION))
    outs = {}
    if function is not fastxent.softmax_cross_entropy:
        for name in ("grad_out", "hess_out") if is_hessian else ("out",):
            outs[name] = data.draw(out_choices())

    z, t = np.asarray(logits.make()), np.asarray(target.make())
    invalid = set()
    if not logits_valid(z):
        invalid.add("logits")
    elif not softmax_target_valid(t, z, ignore_index, not is_hessian):
        invalid.add("target")
    if weight is not None and not weights_valid(weight.make(), shape[-1:]):
        invalid.add("weight")
    if sample_weight is not None and not weights_valid(sample_weight.make(), shape[:-1]):
        invalid.add("sample_weight")
    if not n_threads_valid(options["n_threads"]):
        invalid.add("n_threads")
    if not is_hessian:
        if not ignore_index_valid(ignore_index):
            invalid.add("ignore_index")
        if not smoothing_valid(options["label_smoothing"]):
            invalid.add("label_smoothing")
        if options["reduction"] not in ("mean", "sum", "none"):
            invalid.add("reduction")
    for name, choice in outs.items():
        if logits_valid(z) and out_invalid(choice, logits.make(), shape, compute_dtype(z)):
            invalid.add(name)

    def make_arguments():
        x = logits.make()
        kwargs = dict(options)
        if weight is not None:
            kwargs["weight"] = weight.make()
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight.make()
        for name, choice in outs.items():
            kwargs[name] = make_out(choice, x, shape, compute_dtype(z)) if logits_valid(z) else None
        return (x, target.make()), kwargs

    scale = magnitude(z) * magnitude(weight and weight.values) * magnitude(sample_weight and sample_weight.values)
    check(function, make_arguments, invalid, scale * max(1, math.prod(shape)))


# --------------------------------------------------------------------------- binary family


@FUZZ_SETTINGS
@given(data=st.data())
def test_sigmoid_and_log_sigmoid(data):
    function = data.draw(st.sampled_from([fastxent.sigmoid, fastxent.log_sigmoid]))
    x = data.draw(score_arrays(data.draw(shapes())))
    out_choice = data.draw(out_choices())
    n_threads = data.draw(N_THREADS)
    values = np.asarray(x.make())
    invalid = set()
    if not is_real(values):
        invalid.add("x")
    if not n_threads_valid(n_threads):
        invalid.add("n_threads")
    if "x" not in invalid and out_invalid(out_choice, x.make(), values.shape, compute_dtype(values)):
        invalid.add("out")

    def make_arguments():
        arr = x.make()
        out = None if "x" in invalid else make_out(out_choice, arr, values.shape, compute_dtype(values))
        return (arr,), {"out": out, "n_threads": n_threads}

    check(function, make_arguments, invalid, magnitude(values))


def unit_valid(arr, dtype, allow_nan):
    a = cast(arr, dtype)
    inside = (a >= 0) & (a <= 1)
    return bool(np.all(inside | np.isnan(a))) if allow_nan else bool(np.all(inside))


def rows_of(shape, per_row):
    """The (batch shape, labels per row) of a binary input (see fastxent.binary's module notes)."""
    if per_row or len(shape) >= 2:
        return shape[:-1], shape[-1]
    return shape, 1


def pos_weight_valid(pw, shape, per_row):
    pw = np.asarray(pw)
    if not is_real(pw):
        return False
    n_labels = rows_of(shape, per_row)[1]
    if not (pw.ndim == 0 or pw.shape in ((1,), (n_labels,))):
        return False
    if pw.shape == (n_labels,) and len(shape) <= 1 and not per_row and n_labels != 1:
        return False
    return weights_valid(pw, pw.shape)


def broadcast_weight_valid(w, shape, dtype):
    w = np.asarray(w)
    if not is_real(w):
        return False
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        return False
    if np.broadcast_shapes(w.shape, shape) != tuple(shape):
        return False
    w = cast(w, dtype)
    return bool(np.all(np.isfinite(w)) and np.all(w >= 0))


BINARY_LOGITS = (fastxent.binary_cross_entropy_with_logits, fastxent.binary_cross_entropy_with_logits_grad,
                 fastxent.binary_cross_entropy_with_logits_with_grad, fastxent.multilabel_cross_entropy,
                 fastxent.multilabel_cross_entropy_grad, fastxent.multilabel_cross_entropy_with_grad,
                 fastxent.binary_cross_entropy_gradient_hessian)
BINARY_PROBS = (fastxent.binary_cross_entropy, fastxent.binary_cross_entropy_grad,
                fastxent.binary_cross_entropy_with_grad)
EPS = st.one_of(st.sampled_from([None, None, 0.0, 1e-7, 0.25]), st.sampled_from([0.5, -1e-3, np.nan, True, "1e-7"]))


@st.composite
def binary_calls(draw, functions):
    """A binary cross-entropy call: ``(function, inputs, options, outs, invalid, atol_scale)``."""
    function = draw(st.sampled_from(functions))
    per_row = function.__name__.startswith("multilabel")
    probs = function in BINARY_PROBS
    shape = draw(shapes(min_dims=1 if per_row else 0))
    x = draw(unit_arrays(shape) if probs else score_arrays(shape))
    target = draw(unit_arrays(draw(st.sampled_from([shape, shape, shape, (*shape, 2)]))))
    batch, n_labels = rows_of(shape, per_row)
    weight_shape = draw(st.sampled_from([shape, shape[-1:], (), (3,)]))
    inputs = {"x": x, "target": target,
              "weight": draw(st.one_of(st.none(), weight_arrays(weight_shape))),
              "pos_weight": draw(st.one_of(st.none(), weight_arrays(draw(st.sampled_from([(), (1,), (n_labels,),
                                                                                         (n_labels + 1,)]))))),
              "sample_weight": draw(st.one_of(st.none(), weight_arrays(draw(st.sampled_from([batch, shape])))))}
    options = {"n_threads": draw(N_THREADS)}
    if function is not fastxent.binary_cross_entropy_gradient_hessian:
        options["reduction"] = draw(REDUCTION)
    if probs:
        options["eps"] = draw(EPS)
    grad_names = {fastxent.binary_cross_entropy_gradient_hessian: ("grad_out", "hess_out")}.get(
        function, () if function.__name__.endswith(("entropy", "logits")) else ("out",))
    outs = {name: draw(out_choices()) for name in grad_names}

    name = "probs" if probs else "logits"
    made = {key: None if arg is None else np.asarray(arg.make()) for key, arg in inputs.items()}
    z = made["x"]
    invalid = set()
    if not is_real(z) or (per_row and z.ndim == 0):
        invalid.add(name)
    else:
        dtype = compute_dtype(z)
        if probs and not unit_valid(z, dtype, allow_nan=True):
            invalid.add(name)
        t = made["target"]
        if not is_real(t) or t.shape != shape or not unit_valid(t, dtype, allow_nan=False):
            invalid.add("target")
        if made["weight"] is not None and not broadcast_weight_valid(made["weight"], shape, dtype):
            invalid.add("weight")
        if made["pos_weight"] is not None and not pos_weight_valid(made["pos_weight"], shape, per_row):
            invalid.add("pos_weight")
        if made["sample_weight"] is not None and not weights_valid(made["sample_weight"], batch):
            invalid.add("sample_weight")
    if options.get("reduction", "none") not in ("mean", "sum", "none"):
        invalid.add("reduction")
    eps = options.get("eps")
    if probs and eps is not None and (isinstance(eps, (bool, str)) or not 0 <= eps < 0.5):
        invalid.add("eps")
    if not n_threads_valid(options["n_threads"]):
        invalid.add("n_threads")
    for out_name, choice in outs.items():
        # (the ranges of probs and target are checked after out, by the kernels)
        if is_real(z) and not (per_row and z.ndim == 0) and out_invalid(choice, x.make(), shape, compute_dtype(z)):
            invalid.add(out_name)
    scale = (magnitude(z) * magnitude(made["weight"]) * magnitude(made["pos_weight"])
             * magnitude(made["sample_weight"]) * max(1, math.prod(shape)))
    return function, inputs, options, outs, invalid, scale


def run_binary_call(drawn):
    function, inputs, options, outs, invalid, scale = drawn
    z = np.asarray(inputs["x"].make())

    def make_arguments():
        made = {key: None if arg is None else arg.make() for key, arg in inputs.items()}
        kwargs = dict(options)
        for key in ("weight", "pos_weight", "sample_weight"):
            if made[key] is not None:
                kwargs[key] = made[key]
        for name, choice in outs.items():
            kwargs[name] = make_out(choice, made["x"], z.shape, compute_dtype(z)) if is_real(z) else None
        return (made["x"], made["target"]), kwargs

    check(function, make_arguments, invalid, scale)


@FUZZ_SETTINGS
@given(drawn=binary_calls(BINARY_LOGITS))
def test_binary_and_multilabel_cross_entropy_with_logits(drawn):
    run_binary_call(drawn)


@FUZZ_SETTINGS
@given(drawn=binary_calls(BINARY_PROBS))
def test_binary_cross_entropy_of_probabilities(drawn):
    run_binary_call(drawn)


# --------------------------------------------------------------------------- information measures


BASES = st.one_of(st.sampled_from([None, None, 2, np.e, 10, 0.5]), st.sampled_from([1, 0, -2.0, np.inf, np.nan,
                                                                                     True, "2"]))


def base_valid(base):
    if base is None:
        return True
    if isinstance(base, (bool, str)):
        return False
    return math.isfinite(base) and base > 0 and base != 1


def probabilities_valid(arr):
    if not is_real(arr):
        return False
    a = cast(arr, compute_dtype(arr))
    a = a[~np.isnan(a)]
    return bool(np.all(a >= 0) and np.all(np.isfinite(a)))


@st.composite
def probability_arrays(draw, shape):
    """Non-negative values (unnormalised rows too, NaN allowed), sometimes negative or inf, any dtype."""
    kind = draw(st.sampled_from(["unit", "unit", "scores"]))
    if kind == "unit":
        return draw(unit_arrays(shape, dtypes=(np.float32, np.float64, np.float64, np.float16, np.int8,
                                               np.uint64, np.bool_)))
    arg = draw(score_arrays(shape))
    return Arg(np.abs(arg.values) if arg.values.dtype.kind in "fc" and draw(st.booleans()) else arg.values,
               arg.layout)


INFORMATION = (fastxent.surprisal, fastxent.entropy, fastxent.cross_entropy, fastxent.kl_divergence)


@FUZZ_SETTINGS
@given(data=st.data())
def test_information_measures(data):
    function = data.draw(st.sampled_from(INFORMATION))
    shape = data.draw(shapes(max_batch_dims=2))
    arguments = [data.draw(probability_arrays(shape))]
    if function in (fastxent.cross_entropy, fastxent.kl_divergence):
        q_shape = data.draw(st.sampled_from([shape, shape, tuple(1 if i % 2 else s for i, s in enumerate(shape)),
                                             shape[1:], (*shape[:-1], 3)]))
        arguments.append(data.draw(probability_arrays(q_shape)))
    options = {"base": data.draw(BASES), "n_threads": data.draw(N_THREADS)}
    if function is not fastxent.surprisal:
        options["axis"] = data.draw(st.one_of(st.sampled_from([-1, -1, 0, 1]), st.sampled_from([5, -7, 1.0])))
        options["normalize"] = data.draw(st.booleans())

    made = [np.asarray(a.make()) for a in arguments]
    invalid = set()
    if not base_valid(options["base"]):
        invalid.add("base")
    for name, arr in zip("pq", made):
        if not probabilities_valid(arr):
            invalid.add(name)
    if len(made) == 2 and not invalid:
        try:
            full = np.broadcast_shapes(made[0].shape, made[1].shape)
        except ValueError:
            invalid.update("pq")
            full = None
    else:
        full = made[0].shape
    if function is not fastxent.surprisal and full is not None and not invalid:
        axis = options["axis"]
        if len(full) == 0:
            invalid.update(("p", "axis"))
        elif not isinstance(axis, int) or not -len(full) <= axis < len(full):
            invalid.add("axis")
    if not n_threads_valid(options["n_threads"]):
        invalid.add("n_threads")

    def make_arguments():
        return tuple(a.make() for a in arguments), dict(options)

    scale = max(magnitude(*made) * (1 + math.log(magnitude(*made))), 1.0) * max(1, math.prod(shape))
    check(function, make_arguments, invalid, scale)


# --------------------------------------------------------------------------- regressions found by fuzzing


@pytest.mark.parametrize("backend", ("numpy", *COMPILED))
@pytest.mark.parametrize("dtype", INTEGERS)
def test_labels_equal_to_ignore_index_are_ignored_in_every_integer_dtype(backend, dtype):
    """Unsigned labels holding ignore_index (uint8 segmentation masks with 255) were rejected as out
    of range."""
    logits = np.array([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [5.0, 5.0, 5.0]])
    labels = np.array([2, 0, 100], dtype=dtype)
    loss = fastxent.softmax_cross_entropy(logits, labels, ignore_index=100, reduction="none", backend=backend)
    wanted = fastxent.softmax_cross_entropy(logits[:2], labels[:2].astype(np.int64), reduction="none",
                                            backend="numpy")
    np.testing.assert_allclose(loss, [*wanted, 0.0], rtol=1e-12)
    with pytest.raises(ValueError, match=r"target: label 100 at row 2 is outside \[0, 3\)"):
        fastxent.softmax_cross_entropy(logits, labels, ignore_index=-100, backend=backend)


@pytest.mark.parametrize("backend", ("numpy", *COMPILED))
@pytest.mark.parametrize("ignore_index", [2**63, -(2**63) - 1, 2**70])
def test_ignore_index_outside_int64_is_a_value_error(backend, ignore_index):
    """It reached the kernels, where Cython raised OverflowError and Numba a TypingError."""
    with pytest.raises(ValueError, match="ignore_index must be in the int64 range"):
        fastxent.softmax_cross_entropy_with_grad(np.zeros((2, 3)), np.array([0, 1]), ignore_index=ignore_index,
                                                 backend=backend)


@pytest.mark.parametrize("backend", ("numpy", *COMPILED))
def test_a_mean_over_subnormal_weights_has_a_finite_gradient(backend):
    """The gradient's scale 1 / (total weight) overflowed to inf for subnormal weights (NaN
    gradients, at different places in each backend); the weights are now scaled up first."""
    logits = np.array([[0.1, -0.1, 0.6, 0.1, -0.5]], dtype=np.float32)
    weight = np.array([1e6, 7.5, 1e-3, 1.0, 5e-324])
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, np.array([4]), weight=weight, backend=backend)
    wanted_loss, wanted_grad = fastxent.softmax_cross_entropy_with_grad(logits, np.array([4]), backend="numpy")
    np.testing.assert_allclose(loss, wanted_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, wanted_grad, rtol=1e-6)
    np.testing.assert_array_equal(weight, [1e6, 7.5, 1e-3, 1.0, 5e-324])  # the caller's array is untouched
    x, y = np.array([0.1, -2.0], dtype=np.float32), np.array([0.6, 1.0], dtype=np.float32)
    for tiny in (np.array([5e-324, 0.0]), np.array([5e-324, 5e-324])):
        loss, grad = fastxent.binary_cross_entropy_with_logits_with_grad(x, y, sample_weight=tiny, backend=backend)
        kept = tiny > 0
        wanted_loss, wanted_grad = fastxent.binary_cross_entropy_with_logits_with_grad(
            x[kept], y[kept], backend="numpy")
        np.testing.assert_allclose(loss, wanted_loss, rtol=1e-6)
        np.testing.assert_allclose(grad[kept], wanted_grad, rtol=1e-6)
    with pytest.raises(ValueError, match="weight: the mean's total weight .* too small"):
        fastxent.softmax_cross_entropy_grad(logits, np.array([4]), weight=[1e300, 1, 1, 1, 5e-324], backend=backend)


@pytest.mark.parametrize("backend", ("numpy", *COMPILED))
def test_binary_weights_broadcast_to_an_empty_input_are_still_checked(backend):
    """A negative weight or pos_weight was accepted when the input had no elements to weight."""
    empty = np.zeros((0, 1), np.float32)
    with pytest.raises(ValueError, match="^weight must be finite and non-negative"):
        fastxent.binary_cross_entropy_with_logits(empty, empty, weight=[-1.0], backend=backend)
    with pytest.raises(ValueError, match="^pos_weight must be finite and non-negative"):
        fastxent.binary_cross_entropy_with_logits(np.zeros((2, 0)), np.zeros((2, 0)), pos_weight=-1.0,
                                                  backend=backend)


@pytest.mark.parametrize("backend", ("numpy", *COMPILED))
def test_binary_weight_of_a_scalar_input(backend):
    """A 0-d weight of a 0-d input (nightly profile, after the check-before-broadcast change)."""
    loss = fastxent.binary_cross_entropy_with_logits(np.float32(0.5), np.float32(1.0), weight=np.array(2.0),
                                                     backend=backend)
    wanted = 2 * fastxent.binary_cross_entropy_with_logits(np.float32(0.5), np.float32(1.0), backend="numpy")
    np.testing.assert_allclose(loss, wanted, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", *COMPILED])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_row_of_zero_target_weight_has_a_zero_gradient_even_with_inf(backend):
    logits = np.zeros((1, 257), np.float32)
    logits[0, 1] = np.inf
    weight = np.ones(257)
    weight[5] = 0.0
    grad = fastxent.softmax_cross_entropy_grad(logits, np.array([5]), weight=weight, reduction="sum",
                                               backend=backend)
    np.testing.assert_array_equal(grad, 0.0)


def _overflowing_gradient(backend):
    """A smoothed mean whose true gradient is beyond float64's range in every class: the weight of
    class 0 (1e6) over the total weight of the label's class (5e-324): -inf there, +inf elsewhere."""
    logits = np.array([[0.1, -0.1, 0.6, 0.1, -0.5]], dtype=np.float32)
    return fastxent.softmax_cross_entropy_grad(logits, np.array([4]), weight=[1e6, 7.5, 1e-3, 1.0, 5e-324],
                                               label_smoothing=1.0, backend=backend)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_an_overflowing_gradient_is_inf_of_the_right_sign_in_the_reference():
    np.testing.assert_array_equal(_overflowing_gradient("numpy"), [[-np.inf, np.inf, np.inf, np.inf, np.inf]])


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_an_overflowing_gradient_is_inf_of_the_right_sign(backend):
    """Was +inf for class 0 (cython: coef e_c and gs a_c both inf) and NaN (numba: inf - inf)."""
    np.testing.assert_array_equal(_overflowing_gradient(backend), _overflowing_gradient("numpy"))


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_a_float32_gradient_beyond_float32_range_is_inf(backend):
    """Was NaN in numba (float32 factors of inf)."""
    logits = np.array([[0.1, -0.1, 0.6, 0.1, -0.5]], dtype=np.float32)
    grad = fastxent.softmax_cross_entropy_grad(logits, np.array([4]), weight=[1e300, 1e300, 1, 1, 1e-10],
                                               label_smoothing=1.0, reduction="sum", backend=backend)
    np.testing.assert_array_equal(grad, [[-np.inf, -np.inf, np.inf, np.inf, np.inf]])


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [5, 40, 300])  # the 16-row tiles, the blocks, the row loop
@pytest.mark.parametrize("target", ["labels", "probs"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_rows_whose_gradient_factor_overflows_match_the_reference(backend, dtype, n_classes, target,
                                                                  weighted, label_smoothing):
    """Rows whose factor gs A (sample weight times total target weight) is beyond a quarter of the
    dtype's range are written as gs (A / S e_c - a_c), the others of the same call as before: all
    match the reference, each gradient entry finite or an infinity of the same sign."""
    rng = np.random.default_rng(n_classes)
    n_rows = 70
    logits = rng.normal(0.0, 3.0, (n_rows, n_classes)).astype(dtype)
    huge = float(np.finfo(dtype).max)
    sample_weight = rng.choice([1.0, 0.7, 0.05 * huge, 0.3 * huge, 0.9 * huge], size=n_rows)
    weight = rng.uniform(0.2, 4.0, n_classes) if weighted else None
    if target == "labels":
        y = rng.integers(0, n_classes, n_rows)
    else:
        y = rng.dirichlet(np.ones(n_classes), n_rows).astype(dtype)

    def grad(backend):
        return fastxent.softmax_cross_entropy_grad(logits, y, weight=weight, sample_weight=sample_weight,
                                                   label_smoothing=label_smoothing, reduction="sum",
                                                   backend=backend)

    got, wanted = grad(backend), grad("numpy")
    assert (sample_weight > 0.25 * huge).sum() > 5  # rows past the limit, whatever their weights
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(wanted))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(wanted))
    finite = np.isfinite(wanted)
    scale = np.broadcast_to(sample_weight[:, None], wanted.shape)[finite]
    np.testing.assert_allclose(got[finite] / scale, wanted[finite] / scale, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype])


class _BufferCheckingBackend:
    """The NumPy reference kernels, asserting that every array they get is C-contiguous and aligned."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        kernel = getattr(self._module, name)

        def checked(*args):
            for i, arg in enumerate(args):
                if isinstance(arg, np.ndarray):
                    assert arg.flags.c_contiguous and arg.flags.aligned, f"{name}: argument {i} {arg.flags}"
            return kernel(*args)

        return checked


def _misaligned(values):
    return Arg(np.asarray(values), "unaligned").make()


def test_kernels_never_get_misaligned_buffers(monkeypatch):
    """Views one byte off alignment reached the kernels as they were (UBSan: "load of misaligned
    address ... for type 'const float'" in fx_rows.inc), inputs and ``out`` alike; now they are copied."""
    from fastxent import _backends
    from fastxent._kernels import numpy_ref

    monkeypatch.setitem(_backends._loaded, "numpy", _BufferCheckingBackend(numpy_ref))
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        z = rng.normal(size=(4, 3)).astype(dtype)
        labels, probs = np.array([0, 2, 1, 0]), np.full((4, 3), 1 / 3, dtype)
        weight, rows = np.array([1.0, 2.0, 0.5]), np.arange(4.0)
        u = lambda a: _misaligned(a)  # noqa: E731
        for function in (fastxent.softmax, fastxent.log_softmax):
            function(u(z), out=u(np.empty_like(z)), backend="numpy")
        fastxent.logsumexp(u(z), backend="numpy")
        for target in (u(labels), u(probs)):
            fastxent.softmax_cross_entropy_with_grad(u(z), target, weight=u(weight), sample_weight=u(rows),
                                                     out=u(np.empty_like(z)), backend="numpy")
            fastxent.softmax_cross_entropy_gradient_hessian(u(z), target, sample_weight=u(rows),
                                                            grad_out=u(np.empty_like(z)),
                                                            hess_out=u(np.empty_like(z)), backend="numpy")
        fastxent.sigmoid(u(z), out=u(np.empty_like(z)), backend="numpy")
        fastxent.binary_cross_entropy_with_logits_with_grad(u(z), u(probs), weight=u(probs), pos_weight=u(weight),
                                                            sample_weight=u(rows), out=u(np.empty_like(z)),
                                                            backend="numpy")
        fastxent.binary_cross_entropy_with_grad(u(probs), u(probs), backend="numpy")
        fastxent.binary_cross_entropy_gradient_hessian(u(z), u(probs), grad_out=u(np.empty_like(z)),
                                                       hess_out=u(np.empty_like(z)), backend="numpy")
        fastxent.surprisal(u(probs), backend="numpy")
        fastxent.kl_divergence(u(probs), u(probs), backend="numpy")
        fastxent.entropy(u(probs), axis=0, backend="numpy")
