"""The buffers the Python layer reuses between calls (`fastxent._scratch`) never leak into results."""

import threading

import numpy as np
import pytest

import fastxent
from fastxent import _scratch


def test_ones_are_ones_shared_up_to_the_limit():
    larger = _scratch.ones(1000)
    assert (larger == 1.0).all() and larger.dtype == np.float64 and larger.shape == (1000,)
    assert np.shares_memory(_scratch.ones(10), _scratch.ones(1000))  # one buffer
    assert _scratch.ones(0).shape == (0,)


def test_ones_beyond_the_limit_are_fresh(monkeypatch):
    monkeypatch.setattr(_scratch, "MAX_ELEMENTS", 100)
    big = _scratch.ones(101)
    assert (big == 1.0).all() and not np.shares_memory(big, _scratch.ones(100))


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython"])
def test_no_call_writes_the_shared_ones(backend):
    rng = np.random.default_rng(5)
    shared = _scratch.ones(5000)
    for n_rows, n_classes in ((200, 25), (40, 5), (3, 1000)):  # the small-C block path and the row path
        logits = rng.normal(size=(n_rows, n_classes)).astype(np.float32)
        labels = rng.integers(0, n_classes, n_rows)
        fastxent.softmax_cross_entropy_with_grad(logits, labels, label_smoothing=0.1, backend=backend)
        fastxent.softmax_cross_entropy_with_grad(logits, labels, out=logits.copy(), backend=backend)
        fastxent.softmax_cross_entropy(logits, fastxent.softmax(logits), backend=backend)
        fastxent.softmax_cross_entropy_gradient_hessian(logits, labels, backend=backend)
        fastxent.softmax_cross_entropy(logits, labels, reduction="sum", ignore_index=0, backend=backend)
    assert (shared == 1.0).all() and (_scratch.ones(5000) == 1.0).all()


def test_a_row_buffer_is_reused_after_it_is_given_back_and_never_handed_out_twice():
    first = _scratch.take_rows(50)
    nested = _scratch.take_rows(50)  # taken while the first is in use: its own memory
    assert not np.shares_memory(first, nested)
    _scratch.give_back(nested)
    _scratch.give_back(first)
    again = _scratch.take_rows(40)
    assert np.shares_memory(again, first) or np.shares_memory(again, nested)
    assert again.shape == (40,) and again.flags.writeable
    _scratch.give_back(again)


def test_row_buffers_are_per_thread():
    mine = _scratch.take_rows(64)
    _scratch.give_back(mine)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_scratch.take_rows(64)))
    worker.start()
    worker.join()
    assert not np.shares_memory(seen[0], _scratch.take_rows(64))


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython"])
def test_per_row_losses_and_later_calls_do_not_share_memory(backend):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(300, 7))  # float64: reduction="none" returns the losses in float64
    labels = rng.integers(0, 7, 300)
    first = fastxent.softmax_cross_entropy(logits, labels, reduction="none", backend=backend)
    kept = first.copy()
    for _ in range(3):  # the row buffer is reused by these calls
        fastxent.softmax_cross_entropy_with_grad(logits * 2, labels, backend=backend)
        fastxent.softmax_cross_entropy(logits[::-1].copy(), labels, reduction="none", backend=backend)
    np.testing.assert_array_equal(first, kept)
    loss = fastxent.softmax_cross_entropy(logits, labels, backend=backend)
    assert loss == pytest.approx(kept.mean(), rel=1e-12)
