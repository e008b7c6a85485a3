"""The small-call fast paths (validation, thread counts, the Numba wrapper) accept and reject exactly
what the general code does, and give the same results."""

import fractions
import pickle

import numpy as np
import pytest

import fastxent
from fastxent import _threads
from fastxent import _validation as v
from arrays import labels_of, logits_of

N_CLASSES = 5
INT64 = np.iinfo(np.int64)


def _outcome(function, *args):
    """``("ok", result)`` or ``(exception type, message)``: what a call did, to compare two paths."""
    try:
        return "ok", function(*args)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)


def _general_int64(labels):
    """The same int64 labels in a dtype object that is equal but not NumPy's singleton (as after a
    pickle round trip), which the fast paths do not recognise: the general path."""
    general = pickle.loads(pickle.dumps(labels))
    assert general.dtype == np.int64 and general.dtype is not np.dtype(np.int64)
    return general


@pytest.mark.parametrize("values", [
    [0, 4, 2], [0], [], [4, 4], [5], [-1], [0, -100, 3], [-100, -100], [0, 5, -100],
    [INT64.min], [INT64.max], [INT64.min, 0], [-101, 0], [2, 0, 1],
], ids=str)
@pytest.mark.parametrize("ignore_index", [-100, 0, None, INT64.min])
def test_int64_labels_fast_path_agrees_with_the_general_path(values, ignore_index):
    labels = np.array(values, dtype=np.int64)
    shape = labels.shape
    fast = _outcome(v.as_labels_checked, labels, shape, N_CLASSES, ignore_index)
    general = _outcome(v.as_labels_checked, _general_int64(labels), shape, N_CLASSES, ignore_index)
    assert fast[0] == general[0]
    if fast[0] == "ok":
        (fast_labels, fast_in_range), (general_labels, general_in_range) = fast[1], general[1]
        np.testing.assert_array_equal(fast_labels, general_labels)
        assert fast_labels.dtype == np.int64 and fast_labels.flags.c_contiguous
        assert fast_in_range == general_in_range == bool(np.all((labels >= 0) & (labels < N_CLASSES)))
    else:
        assert fast[1] == general[1]
    for dtype in (np.int32, np.int16, np.uint64):  # the other integer dtypes: the general path
        info = np.iinfo(dtype)
        if info.min <= np.min(labels, initial=0) and np.max(labels, initial=0) <= info.max:
            other = _outcome(v.as_labels_checked, labels.astype(dtype), shape, N_CLASSES, ignore_index)
            assert other[0] == fast[0]
            if fast[0] != "ok":
                assert other[1] == fast[1]


def test_int64_labels_fast_path_on_strided_and_multidimensional_labels():
    labels = labels_of((6, 8), N_CLASSES)
    for view in (labels, labels[:, ::2], labels.T):
        checked, in_range = v.as_labels_checked(view, view.shape, N_CLASSES, -100)
        assert in_range and checked.flags.c_contiguous
        np.testing.assert_array_equal(checked, view.reshape(-1))
    bad = labels.T.copy()
    bad[3, 1] = -7
    with pytest.raises(ValueError, match=r"label -7 at position \(3, 1\)"):
        v.as_labels(bad[:, :], bad.shape, N_CLASSES, -100)


@pytest.mark.parametrize("make", [
    lambda z: z, lambda z: z[:, ::2], lambda z: np.asfortranarray(z), lambda z: pickle.loads(pickle.dumps(z)),
    lambda z: z.reshape(2, 3, 4), lambda z: z[0], lambda z: np.asarray(z, dtype=">f4"),
    lambda z: z.astype(np.float16), lambda z: z.view(np.matrix), lambda z: z[:, :0], lambda z: z[0, 0],
], ids=["C", "strided", "F", "pickled", "3-D", "1-D", "big-endian", "float16", "matrix", "0 classes", "scalar"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logits_fast_path_agrees_with_the_general_path(make, dtype):
    logits = make(logits_of((6, 4), dtype))
    fast = _outcome(v.as_logits_2d, logits)
    # A pickled copy holds an equal dtype object that is not NumPy's singleton: the general path. (Other
    # dtypes never take the fast path.)
    kernel_dtype = isinstance(logits, np.ndarray) and logits.dtype in (np.float32, np.float64)
    general_input = pickle.loads(pickle.dumps(np.asarray(logits))) if kernel_dtype else logits
    general = _outcome(v.as_logits_2d, general_input)
    assert fast[0] == general[0]
    if fast[0] != "ok":
        assert fast[1] == general[1]
        return
    (z, batch_shape), (z_general, batch_general) = fast[1], general[1]
    assert batch_shape == batch_general and z.dtype == z_general.dtype and z.flags.c_contiguous
    np.testing.assert_array_equal(z, z_general)
    if kernel_dtype and type(logits) is np.ndarray and logits.flags.c_contiguous:
        assert np.shares_memory(z, logits)  # no copy of a kernel-ready array


@pytest.mark.parametrize("value", [0.0, 0.1, 1.0, 0, 1, 2, -0.5, 1.5, float("nan"), True, False, "0.1", None,
                                   np.float32(0.25), np.float64(0.5), np.int64(1), fractions.Fraction(1, 3)],
                         ids=repr)
def test_label_smoothing_fast_path_agrees_with_the_abstract_check(value):
    import numbers
    outcome = _outcome(v.check_label_smoothing, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        assert outcome[0] is TypeError
    elif not 0.0 <= float(value) <= 1.0:
        assert outcome[0] is ValueError
    else:
        assert outcome == ("ok", float(value))


@pytest.mark.parametrize("value", [-100, 0, 7, 2**63, -2**63, -2**63 - 1, True, 1.0, "1", None,
                                   np.int64(-100), np.uint64(3), np.int8(-1)], ids=repr)
def test_ignore_index_fast_path_agrees_with_the_abstract_check(value):
    import numbers
    outcome = _outcome(v.check_ignore_index, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        assert outcome[0] is TypeError
    elif not INT64.min <= int(value) <= INT64.max:
        assert outcome[0] is ValueError
    else:
        assert outcome == ("ok", int(value))


def test_out_alias_rules():
    z = logits_of((6, 4), np.float32)
    labels = labels_of((6,), 4)
    buffer, is_temporary = v.check_out(z, z.shape, z.dtype, (z, labels))  # in place: the logits themselves
    assert not is_temporary and np.shares_memory(buffer, z)
    _, is_temporary = v.check_out(z, z.shape, z.dtype, (z, labels), may_alias_first=False)
    assert is_temporary
    wide = logits_of((7, 4), np.float32)
    _, is_temporary = v.check_out(wide[1:], z.shape, z.dtype, (wide[:-1], labels))  # shifted by a row
    assert is_temporary
    _, is_temporary = v.check_out(np.empty_like(z), z.shape, z.dtype, (z, labels))
    assert not is_temporary
    raw = np.zeros(6 * 4 * 4 + 6 * 8, dtype=np.uint8)
    out, other = raw[:96].view(np.float32).reshape(6, 4), raw[48:96].view(np.int64)  # out overlaps labels
    _, is_temporary = v.check_out(out, z.shape, z.dtype, (z, other))
    assert is_temporary


@pytest.mark.parametrize("ignore_index", [-100, 0, 3])
def test_mean_over_rows_some_of_which_are_ignored(backend, ignore_index):
    logits, labels = logits_of((50, 4), np.float64), labels_of((50,), 4)
    rows = fastxent.softmax_cross_entropy(logits, labels, ignore_index=ignore_index, reduction="none",
                                          backend=backend)
    kept = labels != ignore_index
    mean = fastxent.softmax_cross_entropy(logits, labels, ignore_index=ignore_index, backend=backend)
    np.testing.assert_allclose(mean, rows[kept].sum() / kept.sum(), rtol=1e-13)
    _, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, ignore_index=ignore_index, backend=backend)
    assert not grad[~kept].any()
    np.testing.assert_allclose(grad[kept].sum(axis=1), 0, atol=1e-15)


def test_thread_count_is_lowered_for_small_work():
    per_thread = _threads.MIN_ELEMENTS_PER_THREAD
    assert _threads.resolve_n_threads(8) == 8
    assert _threads.resolve_n_threads(8, n_elements=0) == 1
    assert _threads.resolve_n_threads(8, n_elements=per_thread - 1) == 1
    assert _threads.resolve_n_threads(8, n_elements=3 * per_thread) == 3
    assert _threads.resolve_n_threads(2, n_elements=100 * per_thread) == 2
    assert _threads.resolve_n_threads(8, n_elements=100 * per_thread, n_tasks=5) == 5
    assert _threads.resolve_n_threads(8, n_elements=100 * per_thread, n_tasks=0) == 1
    with pytest.raises(ValueError, match="n_threads=0"):  # still validated, whatever the work
        _threads.resolve_n_threads(0, n_elements=0)


def test_public_calls_run_small_inputs_on_fewer_threads_with_the_same_results(compiled_backend, monkeypatch):
    from fastxent._backends import load_backend

    kernels = load_backend(compiled_backend)
    seen = []
    kernel = kernels.softmax_ce_labels_loss_grad
    monkeypatch.setattr(kernels, "softmax_ce_labels_loss_grad", lambda *args: seen.append(args[-1]) or kernel(*args))
    logits, labels = logits_of((3, 1000), np.float32), labels_of((3,), 1000)
    lowered = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=compiled_backend, n_threads=2)
    monkeypatch.setattr(_threads, "MIN_ELEMENTS_PER_THREAD", 1)
    full = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=compiled_backend, n_threads=2)
    assert seen == [1, 2]
    assert lowered[0].tobytes() == full[0].tobytes()
    np.testing.assert_array_equal(lowered[1], full[1])


def test_numba_wrapper_thread_count_fast_path():
    numba = pytest.importorskip("numba")
    from fastxent._backends import load_backend
    from fastxent._kernels import _jit

    kernels = load_backend("numba")
    get_count, set_count = _jit._numba_thread_count_api()
    logits, labels = logits_of((64, 10), np.float64), labels_of((64,), 10)
    loss, n = np.empty(64), numba.config.NUMBA_NUM_THREADS
    args = (logits, labels, np.ones(10), np.ones(64), -100, 0.0, loss)
    try:
        for before in sorted({1, n}):
            numba.set_num_threads(before)
            assert get_count() == numba.get_num_threads() == before
            for wanted in (1, 2, np.int64(2), 10**6):
                kernels.softmax_ce_labels_loss(*args, wanted)
                assert numba.get_num_threads() == before
            for bad, error in ((0, ValueError), (-3, ValueError), ("2", TypeError)):
                with pytest.raises(error):  # numba's own check, as before the fast path
                    kernels.softmax_ce_labels_loss(*args, bad)
                assert numba.get_num_threads() == before
        set_count(1)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(n)


def test_numba_wrapper_recognises_the_same_array():
    from fastxent._kernels._jit import _same_array

    z = logits_of((4, 6), np.float32)
    assert _same_array(z, z) and _same_array(z, z.reshape(4, 6)) and _same_array(z, z[:])
    assert not _same_array(z, z.reshape(6, 4)) and not _same_array(z, z[1:]) and not _same_array(z, z.copy())
    assert not _same_array(z, z.view(np.int32)) and not _same_array(z, None) and not _same_array(None, z)
    assert not _same_array(z, z.tolist())
