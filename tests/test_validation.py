"""Bad input: a clear TypeError/ValueError naming the argument, raised before any kernel runs."""

import numpy as np
import pytest

import fastxent
from arrays import labels_of, logits_of

LOGITS = logits_of((6, 4), np.float32)
LABELS = labels_of((6,), 4)


def call(**overrides):
    kwargs = dict(logits=LOGITS, target=LABELS)
    kwargs.update(overrides)
    return fastxent.softmax_cross_entropy_with_grad(kwargs.pop("logits"), kwargs.pop("target"), **kwargs)


@pytest.mark.parametrize("overrides, error, match", [
    (dict(target=np.zeros(5, dtype=np.int64)), ValueError, r"target .*shape \(5,\).*\(6,\)"),
    (dict(target=np.zeros((6, 3))), ValueError, r"target of shape \(6, 3\) matches neither"),
    (dict(target=np.array([0, 1, 2, 3, 4, 0])), ValueError, r"label 4 at row 4 is outside \[0, 4\)"),
    (dict(target=np.array([0, 1, -1, 3, 0, 0])), ValueError, r"label -1 at row 2"),
    (dict(target=np.array([0, 1, 2, 0, 0, np.iinfo(np.int64).min])), ValueError, r"label -9223372036854775808 at row 5"),
    (dict(target=np.array([0, 1, 2, 3, 0, 0], dtype=np.uint64) + np.uint64(2**63)), ValueError, "outside"),
    (dict(target=LABELS.astype(np.float64)), TypeError, r"floating dtype.*integer class indices"),
    (dict(target=LABELS.astype(str)), TypeError, "target must be integer class indices"),
    (dict(target=np.full((6, 4), -0.1)), ValueError, "non-negative"),
    (dict(target=np.full((6, 4), np.nan)), ValueError, "not NaN"),
    (dict(target=np.full((6, 4), np.inf)), ValueError, "finite"),
    (dict(weight=np.ones(3)), ValueError, r"weight must have shape \(4,\)"),
    (dict(weight=-np.ones(4)), ValueError, "weight must be finite and non-negative"),
    (dict(weight=np.array([1, np.nan, 1, 1])), ValueError, "weight must be finite"),
    (dict(weight=["a"] * 4), TypeError, "weight must be a real numeric array"),
    (dict(sample_weight=np.ones(5)), ValueError, r"sample_weight must have shape \(6,\)"),
    (dict(sample_weight=-np.ones(6)), ValueError, "sample_weight must be finite and non-negative"),
    (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\]"),
    (dict(label_smoothing=-0.1), ValueError, "label_smoothing"),
    (dict(label_smoothing=float("nan")), ValueError, "label_smoothing"),
    (dict(label_smoothing="0.1"), TypeError, "label_smoothing must be a real number"),
    (dict(ignore_index=1.5), TypeError, "ignore_index must be an int"),
    (dict(reduction="avg"), ValueError, "reduction must be one of"),
    (dict(backend="torch"), ValueError, "backend='torch' is not a backend"),
    (dict(backend=3), TypeError, "backend must be a str"),
    (dict(n_threads=0), ValueError, "n_threads=0 is not allowed"),
    (dict(n_threads=-1000), ValueError, "leaves no thread"),
    (dict(n_threads=1.5), TypeError, "n_threads must be an int"),
    (dict(n_threads=True), TypeError, "n_threads must be an int"),
    (dict(logits=np.float32(3)), ValueError, "logits must have at least 1 dimension"),
    (dict(logits=np.zeros((6, 0))), ValueError, "logits has 0 classes"),
    (dict(logits=LOGITS.astype(complex)), TypeError, "logits must be a real numeric array"),
    (dict(logits=np.array([["a"] * 4] * 6)), TypeError, "logits must be a real numeric array"),
    (dict(out=np.zeros((6, 5), np.float32)), ValueError, r"out must have shape \(6, 4\)"),
    (dict(out=np.zeros((6, 4), np.float64)), ValueError, "out must have dtype float32"),
    (dict(out=[[0.0] * 4] * 6), TypeError, "out must be a numpy.ndarray"),
])
def test_bad_input_is_rejected_with_a_clear_message(backend, overrides, error, match):
    with pytest.raises(error, match=match):
        call(backend=backend, **overrides) if "backend" not in overrides else call(**overrides)


def test_read_only_out_is_rejected(backend):
    out = np.zeros((6, 4), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        call(out=out, backend=backend)


def test_bad_label_leaves_in_place_logits_untouched(backend):
    logits = LOGITS.copy()
    with pytest.raises(ValueError, match="label 9"):
        fastxent.softmax_cross_entropy_with_grad(logits, np.array([0, 1, 9, 0, 0, 0]), out=logits,
                                                 backend=backend)
    np.testing.assert_array_equal(logits, LOGITS)


def test_position_of_a_bad_label_in_a_sequence_batch(backend):
    labels = np.zeros((2, 3), dtype=np.int64)
    labels[1, 2] = 7
    with pytest.raises(ValueError, match=r"label 7 at position \(1, 2\)"):
        fastxent.softmax_cross_entropy(logits_of((2, 3, 4), np.float64), labels, backend=backend)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_rowwise_functions_validate_too(name):
    with pytest.raises(ValueError, match="0 classes"):
        getattr(fastxent, name)(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="n_threads=0"):
        getattr(fastxent, name)(LOGITS, n_threads=0)
