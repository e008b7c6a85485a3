"""The transposing copy (``transpose`` kernel) and the column-major logits it turns into rows."""

import numpy as np
import pytest

import fastxent
from fastxent import _validation as v
from fastxent._backends import load_backend
from arrays import DTYPES, labels_of, logits_of

# whole tiles and panels (16 floats, 8 doubles), narrower last ones, a single row or column, empty
SHAPES = ((0, 3), (3, 0), (1, 1), (1, 40), (40, 1), (7, 5), (16, 16), (17, 33), (33, 17), (64, 8), (9, 1000))


def columns_of(shape, dtype, seed=0):
    """``shape`` logits whose columns are contiguous and whose rows are not at the array's start:
    rows sliced out of a taller column-major array (the chunks of a Parquet row group)."""
    n, c = shape
    tall = np.asfortranarray(logits_of((n + 11, c), dtype, seed=seed))
    return tall[5:5 + n]


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_transpose_copies_every_element_exactly(backend, dtype, shape, n_threads):
    z = columns_of(shape, dtype)
    x = z.T  # (C, N): rows contiguous, a row stride longer than the row
    padded = np.full(z.size + 2 * 64, 7, dtype=dtype)  # the output with 64 elements either side
    out = padded[64:64 + z.size].reshape(z.shape)
    load_backend(backend).transpose(x, out, n_threads)
    assert out.tobytes() == np.ascontiguousarray(z).tobytes()
    assert (padded[:64] == 7).all() and (padded[64 + z.size:] == 7).all()  # nothing written outside


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("rows", ["reversed", "broadcast"])
def test_transpose_takes_any_row_stride(backend, rows):
    """Rows walked backwards (a negative row stride) or one row repeated (stride 0): still exact."""
    base = logits_of((37, 21), np.float32, seed=15)
    x = base[::-1] if rows == "reversed" else np.broadcast_to(base[3], (37, 21))
    out = np.empty((21, 37), np.float32)
    load_backend(backend).transpose(x, out, 2)
    assert out.tobytes() == np.ascontiguousarray(x.T).tobytes()


def test_cython_transpose_rejects_rows_that_are_not_contiguous():
    x = logits_of((6, 8), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="rows must be contiguous"):
        load_backend("cython").transpose(x, np.empty((4, 6), np.float32), 1)
    with pytest.raises(ValueError, match=r"out has shape \(6, 4\), expected \(4, 6\)"):
        load_backend("cython").transpose(x.copy(), np.empty((6, 4), np.float32), 1)


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [np.asfortranarray, lambda z: columns_of(z.shape, z.dtype, seed=4)],
                         ids=["F", "rows of F"])
def test_large_column_major_logits_become_rows(backend, dtype, make, monkeypatch):
    """... through the call's backend's transpose kernel (NumPy's copy below TRANSPOSE_MIN_ELEMENTS)."""
    kernels, calls = load_backend(backend), []
    kernel = kernels.transpose
    monkeypatch.setattr(kernels, "transpose", lambda *args: calls.append(args[-1]) or kernel(*args))
    n, c = 300, v.TRANSPOSE_MIN_ELEMENTS // 300 + 1
    logits = make(logits_of((n, c), dtype, seed=4))
    z, batch_shape = v.as_logits_2d(logits, backend=backend, n_threads=2)
    assert calls == [2]  # one call, with the call's thread count
    assert batch_shape == (n,) and z.flags.c_contiguous and z.dtype == dtype
    assert not np.shares_memory(z, logits)
    np.testing.assert_array_equal(z, logits)
    small = make(logits_of((n, 10), dtype, seed=4))
    np.testing.assert_array_equal(v.as_logits_2d(small, backend=backend)[0], small)
    assert calls == [2]


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("n_threads", [1, 2])
def test_column_major_logits_give_the_row_major_results_bitwise(backend, n_threads, tmp_path):
    """F order, rows of F order and a read-only memory map of a Fortran-order .npy: the losses and
    gradient of the same values in C order, bit for bit."""
    n, c = 600, 300
    rows = logits_of((n, c), np.float32, seed=6)
    labels = labels_of((n,), c)
    path = tmp_path / "fortran.npy"
    np.save(path, np.asfortranarray(rows))
    mapped = np.load(path, mmap_mode="r")
    assert mapped.flags.f_contiguous and not mapped.flags.writeable
    wanted_loss = fastxent.softmax_cross_entropy(rows, labels, reduction="none", backend=backend)
    wanted_grad = fastxent.softmax_cross_entropy_with_grad(rows, labels, backend=backend)[1]
    for logits in (np.asfortranarray(rows), mapped, np.asfortranarray(np.vstack([rows, rows]))[:n]):
        loss = fastxent.softmax_cross_entropy(logits, labels, reduction="none", backend=backend,
                                              n_threads=n_threads)
        grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=backend, n_threads=n_threads)[1]
        assert loss.tobytes() == wanted_loss.tobytes()
        assert grad.tobytes() == wanted_grad.tobytes()


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("dtype", DTYPES)
def test_column_major_multilabel_inputs_give_the_row_major_results_bitwise(backend, dtype):
    """Multi-label logits and targets in column-major order (a Parquet file's columns): the loss per
    row and the gradient of the same values in rows, bit for bit."""
    n, labels = 700, 200
    logits = logits_of((n, labels), dtype, seed=8)
    targets = (np.random.default_rng(9).random((n, labels)) < 0.3).astype(dtype)
    wanted = fastxent.multilabel_cross_entropy_with_grad(logits, targets, reduction="none", backend=backend)
    got = fastxent.multilabel_cross_entropy_with_grad(np.asfortranarray(logits), np.asfortranarray(targets),
                                                      reduction="none", backend=backend)
    for g, w in zip(got, wanted):
        assert g.tobytes() == w.tobytes()


@pytest.fixture
def small_row_blocks(monkeypatch):
    """Column-major logits scored in blocks of 48 rows of 100 float32 classes (a partial last one)."""
    monkeypatch.setattr(v, "ROW_BLOCK_BYTES", 48 * 100 * 4)


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
def test_loss_of_column_major_logits_block_by_block_is_the_row_major_loss(small_row_blocks, backend, n_threads,
                                                                         target_kind):
    """The loss alone reads column-major logits a block of rows at a time (O(N) memory): every row's
    loss, with class and sample weights, smoothing and ignored rows, is the row-major one bit for bit."""
    n, c = 1000, 100  # >= TRANSPOSE_MIN_ELEMENTS: the column-major path
    rows = logits_of((n, c), np.float32, seed=10)
    rng = np.random.default_rng(11)
    target = labels_of((n,), c, ignore_fraction=0.1) if target_kind == "labels" else rng.dirichlet(
        np.ones(c), n).astype(np.float32)
    options = dict(weight=rng.random(c) + 0.5, sample_weight=rng.random(n), label_smoothing=0.1,
                   reduction="none", backend=backend, n_threads=n_threads)
    wanted = fastxent.softmax_cross_entropy(rows, target, **options)
    got = fastxent.softmax_cross_entropy(np.asfortranarray(rows), target, **options)
    assert got.tobytes() == wanted.tobytes()


def peak_bytes_of(call):
    """The most memory NumPy and Python held at once during ``call()`` (tracemalloc), after a first
    call has loaded the kernels."""
    import tracemalloc

    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_loss_of_column_major_logits_holds_no_copy_of_them():
    logits = np.asfortranarray(logits_of((20_000, 200), np.float32, seed=12))  # 16 MB
    labels = labels_of((20_000,), 200)
    peak = peak_bytes_of(lambda: fastxent.softmax_cross_entropy(logits, labels))
    # a block of rows (ROW_BLOCK_BYTES) and the per-row losses (160 kB), not a 16 MB copy
    assert peak < v.ROW_BLOCK_BYTES + 2_000_000, peak


def test_scoring_column_major_predictions_matches_row_major(small_row_blocks):
    n, c = 1000, 100
    rows = logits_of((n, c), np.float32, seed=13)
    labels = labels_of((n,), c, ignore_fraction=0.1)
    wanted = fastxent.score_arrays(rows, labels)
    got = fastxent.score_arrays(np.asfortranarray(rows), labels)
    assert (got.mean_loss, got.accuracy, got.rows_scored) == (wanted.mean_loss, wanted.accuracy, wanted.rows_scored)
    np.testing.assert_array_equal(got.class_mean_loss, wanted.class_mean_loss)


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("measure", ["entropy", "kl_divergence"])
def test_distributions_down_the_columns_give_the_row_results_bitwise(backend, measure):
    """``axis=0`` (SciPy's default) on a 2-D array: its columns become rows through the transpose kernel."""
    rng = np.random.default_rng(14)
    p, q = (rng.random((300, 400)).astype(np.float32) for _ in range(2))
    columns = [a / a.sum(axis=0) for a in (p, q)][:1 if measure == "entropy" else 2]
    rows = [np.ascontiguousarray(a.T) for a in columns]
    function = getattr(fastxent, measure)
    got = function(*columns, axis=0, backend=backend)
    wanted = function(*rows, axis=-1, backend=backend)
    assert got.tobytes() == wanted.tobytes()


@pytest.mark.parametrize("backend", list(fastxent.backends()))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("function", ["multilabel_cross_entropy", "binary_cross_entropy_with_logits",
                                      "binary_cross_entropy"])
@pytest.mark.parametrize("target_order", ["F", "C"])
def test_binary_loss_of_column_major_inputs_block_by_block_is_the_row_major_loss(monkeypatch, backend, reduction,
                                                                                function, target_order):
    """Column-major values (and targets) of the loss alone are read a block of whole reduction chunks
    at a time: the chunk sums, row sums or element losses of the row-major call, bit for bit, with
    every weight given (elementwise, per label, per row)."""
    n, labels = 3000, 60
    monkeypatch.setattr(v, "ROW_BLOCK_BYTES", 5 * fastxent.binary.chunk_rows_for(labels) * labels * 4 // 2)
    rng = np.random.default_rng(16)
    x = logits_of((n, labels), np.float32, seed=17)
    if function == "binary_cross_entropy":
        x = fastxent.sigmoid(x)
    target = (rng.random((n, labels)) < 0.3).astype(np.float32)
    options = dict(weight=rng.random((n, labels)).astype(np.float32), pos_weight=rng.random(labels) + 0.5,
                   sample_weight=rng.random(n), reduction=reduction, backend=backend, n_threads=2)
    call = getattr(fastxent, function)
    wanted = call(x, target, **options)
    got = call(np.asfortranarray(x), np.asfortranarray(target) if target_order == "F" else target, **options)
    assert np.asarray(got).tobytes() == np.asarray(wanted).tobytes()


def test_binary_loss_of_column_major_inputs_holds_no_copy_of_them():
    x = np.asfortranarray(logits_of((20_000, 200), np.float32, seed=18))  # 16 MB
    target = np.asfortranarray((np.random.default_rng(19).random((20_000, 200)) < 0.3).astype(np.float32))
    peak = peak_bytes_of(lambda: fastxent.multilabel_cross_entropy(x, target))
    # a block of rows of each (2 x ROW_BLOCK_BYTES) and per-chunk sums, not two 16 MB copies
    assert peak < 2 * v.ROW_BLOCK_BYTES + 2_000_000, peak
