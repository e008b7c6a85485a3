"""Every kernel of the registry against its NumPy twin, called directly, over the shared array generator."""

import numpy as np
import pytest

import fastxent
from fastxent._backends import load_backend
from fastxent._kernels import numpy_binary, numpy_ref
from arrays import DTYPES, labels_of, logits_of, probs_of

SHAPES = ((0, 3), (1, 1), (7, 1), (33, 17), (5, 4099))
ROWWISE = ("exp_rows", "log_softmax_rows", "softmax_rows")
INFORMATION_ROWS = ("entropy_rows", "cross_entropy_rows", "kl_divergence_rows")


def information_arguments(name, logits):
    """Arguments of the information-measure kernels: probabilities of the logits' shape and dtype
    (a third of p's classes 0), ``scale`` for bits, and a fresh output."""
    p, q = probs_of(logits.shape, logits.dtype, seed=3), probs_of(logits.shape, logits.dtype, seed=4)
    p[:, ::3] = 0
    scale = 1.0 / np.log(2.0)
    if name == "surprisal_elems":
        return [p.reshape(-1), scale, np.empty(p.size, dtype=p.dtype)]
    return [p, q][:1 if name == "entropy_rows" else 2] + [scale, np.empty(len(p))]


def binary_arguments(name, logits, rng):
    """Arguments of the binary kernels on ``logits`` read as (R, L): soft targets, every weight given
    (a few zero), the reference's chunk partition, and the loss mode of the name (0 for ``loss``,
    1 for ``loss_grad``, to cover both; mode 2 is covered by the public-API tests)."""
    n, c = logits.shape
    if name in ("sigmoid_elems", "log_sigmoid_elems"):
        return [logits.reshape(-1), np.empty(logits.size, dtype=logits.dtype)]
    target = rng.random((n, c)).astype(logits.dtype)
    target[:, ::2] = np.round(target[:, ::2])
    weight = (rng.random((n, c)) * (rng.random((n, c)) > 0.1)).astype(logits.dtype)
    head = [logits, target, weight, rng.random(c) * 3, rng.random(n) * 2]
    chunk_rows = fastxent.binary.chunk_rows_for(c)
    if name == "binary_ce_logits_grad_hess":
        return head + [chunk_rows, np.empty_like(logits), np.empty_like(logits)]
    if "probs" in name:
        head = [fastxent.sigmoid(logits, backend="numpy"), *head[1:], 1e-6]
    if name.endswith("loss_grad"):
        return head + [chunk_rows, 1, 0.5, np.empty(n), np.empty_like(logits)]
    return head + [chunk_rows, 0, np.empty(-(-n // chunk_rows))]


def kernel_arguments(name, logits, rng):
    """Positional arguments (outputs freshly allocated) for kernel ``name`` on ``logits``."""
    n, c = logits.shape
    if name == "surprisal_elems" or name in INFORMATION_ROWS:
        return information_arguments(name, logits)
    if name in numpy_binary.KERNELS:
        return binary_arguments(name, logits, rng)
    if name in ROWWISE:
        return [logits, np.empty_like(logits)]
    if name == "transpose":
        return [logits, np.empty((c, n), dtype=logits.dtype)]
    if name == "softmax_ce_labels_grad_hess":
        return [logits, labels_of((n,), c), rng.random(n) * 2, np.empty_like(logits), np.empty_like(logits)]
    if name == "softmax_ce_probs_grad_hess":
        return [logits, probs_of((n, c), logits.dtype), rng.random(n) * 2, np.empty_like(logits),
                np.empty_like(logits)]
    if name == "logsumexp_rows":
        return [logits, np.empty(n, dtype=logits.dtype)]
    weights = [rng.random(c) + 0.1, rng.random(n) * 2]
    if name.startswith("softmax_ce_labels"):
        head = [logits, labels_of((n,), c, ignore_fraction=0.2), *weights, -100, 0.1]
    else:
        head = [logits, probs_of((n, c), logits.dtype), *weights, 0.1]
    if name.endswith("loss_grad"):
        return head + [0.5, np.empty(n), np.empty_like(logits)]
    if name.endswith("top1"):
        head[1][::2] = np.argmax(logits[::2], axis=1)  # half the rows right
        return head + [np.empty(n), np.full(n, 7, dtype=np.uint8)]
    return head + [np.empty(n)]


@pytest.mark.parametrize("name", numpy_ref.KERNELS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_kernel_matches_its_numpy_twin(compiled_backend, name, dtype, shape, n_threads):
    logits = logits_of(shape, dtype, scale=5.0)
    if name == "exp_rows":
        logits = logits * 10  # spread over most of the exp's range
    wanted_args = kernel_arguments(name, logits, np.random.default_rng(0))
    actual_args = kernel_arguments(name, logits, np.random.default_rng(0))
    wanted = getattr(numpy_ref, name)(*wanted_args, n_threads)
    actual = getattr(load_backend(compiled_backend), name)(*actual_args, n_threads)
    assert actual == wanted  # the bad-label count (None for the other kernels)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    for got, ref in zip(actual_args, wanted_args):
        if isinstance(got, np.ndarray):
            np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol)


SAMPLE_WEIGHTED = tuple(name for name in numpy_ref.KERNELS
                        if name.startswith("softmax_ce") and "sample_weight" in
                        getattr(numpy_ref, name).__code__.co_varnames)


@pytest.mark.parametrize("name", SAMPLE_WEIGHTED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ((0, 3), (1, 1), (33, 10), (600, 7), (40, 40), (5, 200)), ids=str)
def test_missing_sample_weights_are_ones(backend, name, dtype, shape):
    """sample_weight=None (the kernels read no N ones) gives bitwise what all-ones weights give, on
    every path of the labels kernels: 16-row tiles, blocks of few classes, row by row."""
    logits = logits_of(shape, dtype, scale=5.0)
    with_ones = kernel_arguments(name, logits, np.random.default_rng(0))
    without = kernel_arguments(name, logits, np.random.default_rng(0))
    position = list(getattr(numpy_ref, name).__code__.co_varnames).index("sample_weight")
    with_ones[position], without[position] = np.ones(shape[0]), None
    kernel = getattr(load_backend(backend), name)
    assert kernel(*without, 2) == kernel(*with_ones, 2)
    for got, wanted in zip(without, with_ones):
        if isinstance(got, np.ndarray):
            assert got.tobytes() == wanted.tobytes()
