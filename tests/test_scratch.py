"""The buffers the Python layer reuses between calls (`fastxent._scratch`) never leak into results."""

import threading

import numpy as np
import pytest

import fastxent
from fastxent import _scratch


def test_ones_are_read_only_ones_shared_up_to_the_limit():
    small, larger = _scratch.ones(10), _scratch.ones(1000)
    assert not small.flags.writeable and not larger.flags.writeable
    assert (larger == 1.0).all() and larger.dtype == np.float64 and larger.shape == (1000,)
    assert np.shares_memory(_scratch.ones(10), _scratch.ones(1000))  # one buffer
    with pytest.raises(ValueError, match="read-only"):
        small[0] = 2.0
    assert _scratch.ones(0).shape == (0,)


def test_ones_beyond_the_limit_are_fresh(monkeypatch):
    monkeypatch.setattr(_scratch, "MAX_ELEMENTS", 100)
    big = _scratch.ones(101)
    assert (big == 1.0).all() and not big.flags.writeable and not np.shares_memory(big, _scratch.ones(100))


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
