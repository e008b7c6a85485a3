"""Thread-count policy: resolution rules, the settings API, and restoration after calls and errors."""

import numpy as np
import pytest

import fastxent
from fastxent._threads import resolve_n_threads, usable_cores
from arrays import labels_of, logits_of


@pytest.fixture(autouse=True)
def _reset_setting():
    yield
    fastxent.set_num_threads(None)


def test_resolution_rules():
    cores = usable_cores()
    assert resolve_n_threads(None) == cores
    assert resolve_n_threads(3) == 3
    assert resolve_n_threads(-1) == cores
    assert resolve_n_threads(np.int64(2)) == 2
    if cores >= 2:
        assert resolve_n_threads(-2) == cores - 1
    with pytest.raises(ValueError, match="n_threads=0"):
        resolve_n_threads(0)


def test_omp_num_threads_caps_the_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert fastxent.get_num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "garbage")
    assert fastxent.get_num_threads() == usable_cores()


def test_set_get_and_context_manager_restore_even_on_error():
    fastxent.set_num_threads(3)
    assert fastxent.get_num_threads() == 3
    with fastxent.threads(1):
        assert fastxent.get_num_threads() == 1
        with fastxent.threads(5):
            assert fastxent.get_num_threads() == 5
        assert fastxent.get_num_threads() == 1
    assert fastxent.get_num_threads() == 3
    with pytest.raises(ZeroDivisionError):
        with fastxent.threads(2):
            1 / 0
    assert fastxent.get_num_threads() == 3
    with pytest.raises(ValueError):
        fastxent.set_num_threads(0)
    with pytest.raises(ValueError):
        with fastxent.threads(0):
            pass
    assert fastxent.get_num_threads() == 3


def test_numba_thread_count_is_restored_after_calls_and_errors():
    numba = pytest.importorskip("numba")
    from fastxent._backends import load_backend

    kernels = load_backend("numba")
    logits, labels = logits_of((64, 10), np.float64), labels_of((64,), 10)
    numba.set_num_threads(1)
    try:
        fastxent.softmax_cross_entropy(logits, labels, backend="numba", n_threads=2)
        assert numba.get_num_threads() == 1
        with pytest.raises(Exception):  # wrong argument types fail inside the wrapper
            kernels.softmax_ce_labels_loss(logits, labels.astype(np.float64), None, None, -100, 0.0,
                                           np.empty(64), 2)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_more_threads_than_cores_is_allowed(backend):
    logits, labels = logits_of((100, 10), np.float64), labels_of((100,), 10)
    wanted = fastxent.softmax_cross_entropy(logits, labels, backend=backend, n_threads=1)
    assert fastxent.softmax_cross_entropy(logits, labels, backend=backend, n_threads=64) == wanted


def test_both_compiled_backends_share_one_process_with_different_thread_counts():
    logits, labels = logits_of((4_001, 50), np.float32), labels_of((4_001,), 50)
    wanted = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend="numpy")
    for n_threads in (2, 1, 3, 2):
        for backend in ("cython", "numba"):
            loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend,
                                                                  n_threads=n_threads)
            np.testing.assert_allclose(loss, wanted[0], rtol=1e-5)
            np.testing.assert_allclose(grad, wanted[1], atol=1e-9)
