"""score_file over every format (.npy, .npz, Parquet, Arrow/Feather, CSV/TSV, text labels) and its errors."""

import gzip
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastxent
from fastxent import score_arrays, score_chunks, score_file
from fastxent import _sources
from fastxent._backends import is_available
from fastxent._sources import in_order, prefetched
from arrays import labels_of, logits_of

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
from pyarrow import csv as pa_csv  # noqa: E402
from pyarrow import feather  # noqa: E402

N, C = 1234, 6


@pytest.fixture(scope="module")
def data():
    z = logits_of((N, C), np.float32, seed=30)
    y = labels_of((N,), C, seed=31, ignore_fraction=0.05)
    w = np.random.default_rng(32).random(N)
    return z, y, w


def columns_table(z, y, w=None):
    columns = {f"p_{j}": z[:, j] for j in range(z.shape[1])}
    columns["label"] = y
    if w is not None:
        columns["weight"] = w
    return pa.table(columns)


def same(report, expected):
    assert (report.rows_read, report.rows_ignored, report.mean_loss, report.accuracy, report.class_counts) == (
        expected.rows_read, expected.rows_ignored, expected.mean_loss, expected.accuracy, expected.class_counts)


def test_npy_with_npy_and_text_labels(tmp_path, data):
    z, y, _ = data
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    np.savetxt(tmp_path / "y.txt", y, fmt="%d")
    expected = score_arrays(z, y)
    same(score_file(tmp_path / "p.npy", tmp_path / "y.npy", chunk_rows=100), expected)
    same(score_file(tmp_path / "p.npy", tmp_path / "y.txt", chunk_rows=333), expected)
    assert score_file(tmp_path / "p.npy", tmp_path / "y.npy").prediction_bytes == z.nbytes


@pytest.mark.parametrize("backend", ["cython", "numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_logits_read_block_by_block_give_the_in_memory_report(tmp_path, data, monkeypatch, backend, dtype):
    if not is_available(backend):
        pytest.skip(f"backend {backend!r} not built")
    z, y, _ = data
    z = z.astype(dtype)
    z[[5, 700]] = np.nan  # NaN rows are counted, not averaged
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    # blocks of 37 rows (not dividing the chunks), so that every chunk has several, over 1-3 threads
    monkeypatch.setattr(_sources, "BLOCK_BYTES", 37 * C * z.itemsize)
    blocks = []
    read = _sources.NpyRows.for_each_block
    monkeypatch.setattr(_sources.NpyRows, "for_each_block",
                        lambda rows, process, n, **kw: read(rows, lambda b, i, j: blocks.append(j - i) or process(b, i, j),
                                                            n, **kw))
    expected = score_arrays(z, y, backend=backend)
    for n_threads in (1, 2, 3):
        blocks.clear()
        report = score_file(tmp_path / "p.npy", tmp_path / "y.npy", chunk_rows=500, backend=backend,
                            n_threads=n_threads)
        same(report, expected)
        assert (report.rows_nan, report.total_loss) == (expected.rows_nan, expected.total_loss)
        # numba's first chunk is mapped when its threading layer is not known yet; the rest in blocks
        assert sum(blocks) >= N - 500 and max(blocks) == 37


@pytest.mark.parametrize("dtype, kind, input, read_in_blocks", [
    (np.float32, "softmax", "logits", True), (np.float64, "softmax", "logits", True),
    (np.float16, "softmax", "logits", False), (np.float32, "softmax", "probs", False),
    (np.float32, "multilabel", "logits", False)])
def test_npy_chunks_are_large_only_when_read_in_blocks(tmp_path, dtype, kind, input, read_in_blocks):
    """Chunks read block by block are never held whole (256 MiB of the file); mapped ones are 32 MiB."""
    np.save(tmp_path / "p.npy", np.zeros((100_000, 500), dtype=dtype))
    np.save(tmp_path / "y.npy", np.zeros(100_000, dtype=np.int64 if kind == "softmax" else dtype))
    with _sources.open_source(tmp_path / "p.npy", tmp_path / "y.npy", kind=kind, input=input) as source:
        rows = len(next(iter(source.chunks()))[0])
    chunk_bytes = fastxent.scoring.BLOCK_READ_CHUNK_BYTES if read_in_blocks else fastxent.scoring.CHUNK_BYTES
    assert rows == min(100_000, chunk_bytes // (500 * np.dtype(dtype).itemsize))


def test_npy_logits_are_mapped_where_preadv_is_missing(tmp_path, data, monkeypatch):
    z, y, _ = data
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    monkeypatch.setattr(_sources.NpyRows, "can_read_blocks", False)
    monkeypatch.setattr(_sources.NpyRows, "for_each_block", None)  # not called
    same(score_file(tmp_path / "p.npy", tmp_path / "y.npy", chunk_rows=500), score_arrays(z, y))


@pytest.fixture
def rows_in_blocks_of_ten(tmp_path, data, monkeypatch):
    """The fixture's logits and their rows in a .npy file, read in blocks of 10 rows."""
    z, _, _ = data
    np.save(tmp_path / "p.npy", z)
    monkeypatch.setattr(_sources, "BLOCK_BYTES", 10 * C * z.itemsize)
    return z, _sources.NpyRows(_sources._NpyArray(tmp_path / "p.npy", "predictions"), 0, N)


def test_npy_blocks_stop_at_the_first_error(rows_in_blocks_of_ten):
    z, rows = rows_in_blocks_of_ten
    done = []

    def process(block, begin, end):
        np.testing.assert_array_equal(block, z[begin:end])
        if begin == 300:
            raise RuntimeError("kernel failed")
        time.sleep(0.002)  # the failing block's thread raises long before the other could finish the rest
        done.append(begin)
        return 1

    with pytest.raises(RuntimeError, match="kernel failed"):
        rows.for_each_block(process, 2)
    assert len(done) < N // 10 - 1  # the other thread stopped after its current block
    assert rows.for_each_block(lambda block, begin, end: end - begin, 3) == N


def test_npy_blocks_run_the_alongside_work_on_the_calling_thread(rows_in_blocks_of_ten):
    _, rows = rows_in_blocks_of_ten
    ran_on = []
    assert rows.for_each_block(lambda block, begin, end: end - begin, 2,
                               alongside=lambda: ran_on.append(threading.get_ident())) == N
    assert ran_on == [threading.get_ident()]
    done = []

    def failing():
        raise RuntimeError("tally failed")

    with pytest.raises(RuntimeError, match="tally failed"):
        rows.for_each_block(lambda block, begin, end: done.append(begin) or 0, 2, alongside=failing)
    assert sorted(done) == list(range(0, N, 10))  # raised once the other thread had read every block


def test_block_read_chunks_mixed_with_others_give_the_in_memory_report(tmp_path, data):
    # a block-read chunk's totals are added while the next chunk is read: in order, whatever comes next
    z, y, _ = data
    np.save(tmp_path / "p.npy", z)
    npy = _sources._NpyArray(tmp_path / "p.npy", "predictions")
    bounds = [(start, min(start + 300, N)) for start in range(0, N, 300)]  # score_arrays' chunks
    chunks = [(z[a:b] if i == 1 else _sources.NpyRows(npy, a, b), y[a:b]) for i, (a, b) in enumerate(bounds)]
    report = score_chunks(chunks, n_threads=2)
    expected = score_arrays(z, y, chunk_rows=300)
    same(report, expected)
    assert report.class_mean_loss == expected.class_mean_loss


@pytest.mark.parametrize("input", ["logits", "probs"])  # read in blocks / mapped chunk by chunk
def test_npy_truncated_while_being_read(tmp_path, data, input):
    z, y, _ = data
    np.save(tmp_path / "p.npy", z if input == "logits" else fastxent.softmax(z))
    np.save(tmp_path / "y.npy", y)
    with _sources.open_source(tmp_path / "p.npy", tmp_path / "y.npy", kind="softmax", input=input) as source:
        with open(tmp_path / "p.npy", "r+b") as file:
            file.truncate(os.path.getsize(tmp_path / "p.npy") // 2)
        with pytest.raises(ValueError, match="ended at byte .* while being read"):
            fastxent.score_chunks(source.chunks(), input=input)


@pytest.mark.parametrize("kept", [0.25, 0.5])
def test_parquet_truncated_while_being_read(tmp_path, data, kept):
    """Row groups are decoded from a memory map made per row group: one made after the file shrank
    sees the shorter file, and the reader says so instead of reading past its end."""
    z, y, _ = data
    pq.write_table(columns_table(z, y), tmp_path / "p.parquet", row_group_size=400)
    with _sources.open_source(tmp_path / "p.parquet", kind="softmax") as source:
        with open(tmp_path / "p.parquet", "r+b") as file:
            file.truncate(int(os.path.getsize(tmp_path / "p.parquet") * kept))
        with pytest.raises(ValueError, match="predictions: cannot read .*p.parquet"):
            fastxent.score_chunks(source.chunks())


def test_npz_members_streamed_compressed_or_not(tmp_path, data):
    z, y, w = data
    np.savez(tmp_path / "plain.npz", predictions=z, labels=y, weight=w)
    np.savez_compressed(tmp_path / "packed.npz", scores=z, truth=y)
    expected = score_arrays(z, y, sample_weight=w)
    same(score_file(tmp_path / "plain.npz", sample_weight_column="weight", chunk_rows=97), expected)
    same(score_file(tmp_path / "packed.npz", prediction_columns="scores", label_column="truth"), score_arrays(z, y))


@pytest.mark.parametrize("layout", ["columns", "glob", "fixed_size_list", "list"])
def test_parquet_prediction_layouts(tmp_path, data, layout):
    z, y, w = data
    if layout in ("columns", "glob"):
        table = columns_table(z, y, w)
        table = table.append_column("row_id", pa.array(np.arange(N)))
    else:
        flat = pa.array(z.reshape(-1))
        scores = (pa.FixedSizeListArray.from_arrays(flat, C) if layout == "fixed_size_list"
                  else pa.ListArray.from_arrays(pa.array(np.arange(0, N * C + 1, C, dtype=np.int32)), flat))
        table = pa.table({"scores": scores, "label": y, "weight": w})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=400)
    columns = {"columns": [f"p_{j}" for j in range(C)], "glob": "p_*"}.get(layout, "scores")
    report = score_file(tmp_path / "p.parquet", prediction_columns=columns, sample_weight_column="weight",
                        chunk_rows=250)
    same(report, score_arrays(z, y, sample_weight=w))


@pytest.mark.parametrize("layout", ["fixed_size_list", "list"])
def test_parquet_list_column_read_in_small_batches(tmp_path, data, monkeypatch, layout):
    # A list column is read in record batches of ~_LIST_BATCH_BYTES: here 37-38 rows, so the
    # batches cut across row groups (of 400) and chunks (of 250).
    z, y, w = data
    flat = pa.array(z.reshape(-1))
    scores = (pa.FixedSizeListArray.from_arrays(flat, C) if layout == "fixed_size_list"
              else pa.ListArray.from_arrays(pa.array(np.arange(0, N * C + 1, C, dtype=np.int32)), flat))
    pq.write_table(pa.table({"scores": scores, "label": y, "weight": w}), tmp_path / "p.parquet",
                   row_group_size=400, compression="none")
    row_bytes = pq.ParquetFile(tmp_path / "p.parquet").metadata.row_group(0).total_byte_size // 400
    monkeypatch.setattr(_sources, "_LIST_BATCH_BYTES", 37 * row_bytes + row_bytes // 2)
    sizes = []
    real_matrix = _sources._matrix
    monkeypatch.setattr(_sources, "_matrix", lambda batch, *args: sizes.append(batch.num_rows) or real_matrix(
        batch, *args))
    expected = score_arrays(z, y, sample_weight=w)
    for n_threads in (1, 2, 3):
        sizes.clear()
        same(score_file(tmp_path / "p.parquet", prediction_columns="scores", sample_weight_column="weight",
                        chunk_rows=250, n_threads=n_threads), expected)
        assert sum(sizes) == N and max(sizes) <= 38 and len(sizes) > N // 38


def test_decoding_readers_leave_the_kernels_a_core_less(tmp_path, data, monkeypatch):
    # Parquet and CSV chunks are decoded on the reader thread: score_file gives the kernels one
    # thread fewer (at least one); a .npy chunk is a copy and keeps them all.
    z, y, _ = data
    pq.write_table(columns_table(z, y), tmp_path / "p.parquet")
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    seen = []
    real_score_chunks = fastxent.scoring.score_chunks
    monkeypatch.setattr(fastxent.scoring, "score_chunks",
                        lambda *a, n_threads, **k: seen.append(n_threads) or real_score_chunks(*a, n_threads=n_threads,
                                                                                             **k))
    for n_threads in (1, 2, 3):
        score_file(tmp_path / "p.parquet", n_threads=n_threads)
        score_file(tmp_path / "p.npy", tmp_path / "y.npy", n_threads=n_threads)
    assert seen == [1, 1, 1, 2, 2, 3]


def test_arrow_ipc_file_and_stream(tmp_path, data):
    z, y, _ = data
    table = columns_table(z, y)
    feather.write_feather(table, tmp_path / "p.feather", chunksize=500)
    with pa.OSFile(str(tmp_path / "p.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=300)
    expected = score_arrays(z, y)
    same(score_file(tmp_path / "p.feather", chunk_rows=200), expected)
    same(score_file(tmp_path / "p.arrow"), expected)


@pytest.mark.parametrize("name", ["p.csv", "p.tsv", "p.csv.gz"])
def test_csv_tsv_and_compressed_csv(tmp_path, data, name):
    z, y, _ = data
    z64 = z.astype(np.float64)  # CSV holds decimal text: parsed as float64, exactly what was written
    table = columns_table(z64, y)
    path = tmp_path / name
    options = pa_csv.WriteOptions(delimiter="\t" if ".tsv" in name else ",")
    if name.endswith(".gz"):
        with pa.CompressedOutputStream(str(path), "gzip") as sink:
            pa_csv.write_csv(table, sink, write_options=options)
    else:
        pa_csv.write_csv(table, path, write_options=options)
    same(score_file(path), score_arrays(z64, y))


def test_class_names_in_a_csv_and_labels_in_a_separate_parquet(tmp_path, data):
    z, y, _ = data
    names = np.array(["ant", "bee", "cat", "dog", "eel", "fox"], dtype=object)
    text = names[np.where(y < 0, 0, y)]
    text[y < 0] = None
    table = pa.table({**{f"p_{j}": z[:, j].astype(np.float64) for j in range(C)}, "label": pa.array(list(text))})
    pa_csv.write_csv(table, tmp_path / "p.csv")
    expected = score_arrays(z.astype(np.float64), y)
    same(score_file(tmp_path / "p.csv", classes=list(names)), expected)
    np.save(tmp_path / "p.npy", z)
    pq.write_table(pa.table({"truth": pa.array(list(text))}), tmp_path / "y.parquet", row_group_size=100)
    same(score_file(tmp_path / "p.npy", tmp_path / "y.parquet", classes=list(names)), score_arrays(z, y))
    with pytest.raises(TypeError, match="pass classes"):
        score_file(tmp_path / "p.csv")


def test_binary_and_multilabel_files(tmp_path):
    rng = np.random.default_rng(33)
    z = rng.normal(0, 2, (900, 5)).astype(np.float32)
    y = (rng.random((900, 5)) < 0.3).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    same(score_file(tmp_path / "z.npy", tmp_path / "y.npy", kind="multilabel", chunk_rows=128),
         score_arrays(z, y, kind="multilabel"))
    table = pa.table({**{f"z{j}": z[:, j] for j in range(5)}, **{f"y{j}": y[:, j] for j in range(5)}})
    pq.write_table(table, tmp_path / "m.parquet")
    same(score_file(tmp_path / "m.parquet", kind="multilabel", prediction_columns="z*", label_column="y*"),
         score_arrays(z, y, kind="multilabel"))
    pq.write_table(pa.table({"logit": z[:, 0], "label": y[:, 0]}), tmp_path / "b.parquet")
    same(score_file(tmp_path / "b.parquet", kind="binary"), score_arrays(z[:, 0], y[:, 0], kind="binary"))


def test_nan_predictions_and_null_labels_are_reported(tmp_path, data):
    z, y, _ = data
    z = z.copy()
    z[10, 2] = np.nan
    labels = pa.array(np.where(y < 0, 0, y), mask=(y < 0))  # nulls where the label is unknown
    pq.write_table(pa.table({**{f"p_{j}": z[:, j] for j in range(C)}, "label": labels}), tmp_path / "p.parquet")
    report = score_file(tmp_path / "p.parquet")
    assert report.rows_nan == (1 if y[10] >= 0 else 0)
    assert report.rows_ignored == int((y < 0).sum())
    same(report, score_arrays(z, y))


def test_per_row_output_of_a_file_run(tmp_path, data):
    z, y, _ = data
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    score_file(tmp_path / "p.npy", tmp_path / "y.npy", per_row_output=tmp_path / "rows.parquet", chunk_rows=300)
    rows = pq.read_table(tmp_path / "rows.parquet").column("loss").to_numpy()
    expected = fastxent.softmax_cross_entropy(z, y, reduction="none").astype(np.float64)
    np.testing.assert_allclose(rows[y >= 0], expected[y >= 0], rtol=1e-6)


def truncated_npy(tmp_path, z):
    np.save(tmp_path / "t.npy", z)
    with open(tmp_path / "t.npy", "r+b") as file:
        file.truncate(os.path.getsize(tmp_path / "t.npy") - 100)
    return tmp_path / "t.npy"


@pytest.mark.parametrize("case, error, message", [
    ("missing", FileNotFoundError, "no such file"),
    ("folder", IsADirectoryError, "is a folder"),
    ("format", ValueError, "unknown file format"),
    ("truncated", ValueError, "is truncated"),
    ("fortran", ValueError, "Fortran-ordered"),
    ("not npy", ValueError, "not a valid .npy"),
    ("row counts", ValueError, "has 1,233 labels but the predictions have 1,234 rows"),
    ("short csv labels", ValueError, "labels file ends after 1,000 labels"),
    ("long text labels", ValueError, "labels file has 1,300 labels but the predictions have 1,234 rows"),
    ("labels out of range", ValueError, "outside \\[0, 6\\)"),
    ("unknown column", ValueError, "unknown column 'nope'"),
    ("glob matches nothing", ValueError, "no column matches 'q_\\*'"),
    ("no labels for npy", ValueError, "needs a separate labels file"),
    ("empty", ValueError, "holds no rows"),
    ("text columns", TypeError, "not numbers"),
    ("bad npz", ValueError, "not a valid .npz"),
    ("complex npy", TypeError, "predictions must be a real numeric array"),
    ("object npy", TypeError, "holds Python objects"),
    ("zero-byte csv", ValueError, "cannot read"),
])
def test_bad_files_raise_a_clear_error(tmp_path, data, case, error, message):
    z, y, _ = data
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    pq.write_table(columns_table(z, y), tmp_path / "p.parquet")
    args = {
        "missing": (tmp_path / "nothing.npy", tmp_path / "y.npy"),
        "folder": (tmp_path, None),
        "format": (lambda: (tmp_path / "p.xlsx").write_bytes(b"PK") and tmp_path / "p.xlsx", None),
        "truncated": (lambda: truncated_npy(tmp_path, z), tmp_path / "y.npy"),
        "fortran": (lambda: np.save(tmp_path / "f.npy", np.asfortranarray(z)) or tmp_path / "f.npy",
                    tmp_path / "y.npy"),
        "not npy": (lambda: (tmp_path / "x.npy").write_bytes(b"hello") and tmp_path / "x.npy", tmp_path / "y.npy"),
        "row counts": (tmp_path / "p.npy", lambda: np.save(tmp_path / "y2.npy", y[:-1]) or tmp_path / "y2.npy"),
        "short csv labels": (tmp_path / "p.npy", lambda: pa_csv.write_csv(
            pa.table({"label": y[:1000]}), tmp_path / "y.csv") or tmp_path / "y.csv"),
        "long text labels": (tmp_path / "p.npy", lambda: np.savetxt(
            tmp_path / "y.txt", np.r_[y, y[:66]], fmt="%d") or tmp_path / "y.txt"),
        "labels out of range": (tmp_path / "p.npy", lambda: np.save(tmp_path / "y3.npy", y + 6) or tmp_path / "y3.npy"),
        "unknown column": (tmp_path / "p.parquet", None),
        "glob matches nothing": (tmp_path / "p.parquet", None),
        "no labels for npy": (tmp_path / "p.npy", None),
        "empty": (lambda: pq.write_table(columns_table(z[:0], y[:0]), tmp_path / "e.parquet") or
                  tmp_path / "e.parquet", None),
        "text columns": (lambda: pq.write_table(pa.table({"p": ["a", "b"], "label": [0, 1]}), tmp_path / "s.parquet")
                         or tmp_path / "s.parquet", None),
        "bad npz": (lambda: (tmp_path / "b.npz").write_bytes(b"not a zip") and tmp_path / "b.npz", None),
        "complex npy": (lambda: np.save(tmp_path / "c.npy", z.astype(np.complex64)) or tmp_path / "c.npy",
                        tmp_path / "y.npy"),
        "object npy": (lambda: np.save(tmp_path / "o.npy", z.astype(object)) or tmp_path / "o.npy",
                       tmp_path / "y.npy"),
        "zero-byte csv": (lambda: (tmp_path / "e.csv").write_bytes(b"") or tmp_path / "e.csv", None),
    }[case]
    predictions, labels = (arg() if callable(arg) else arg for arg in args)
    extra = {"unknown column": {"prediction_columns": ["p_0", "nope"]},
             "glob matches nothing": {"prediction_columns": "q_*"}}.get(case, {})
    with pytest.raises(error, match=message):
        score_file(predictions, labels, chunk_rows=500, per_row_output=tmp_path / "rows.npy", **extra)
    assert not (tmp_path / "rows.npy").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rows")]


def test_prefetched_passes_errors_through_and_stops_its_reader():
    def chunks():
        yield 1
        yield 2
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for item in prefetched(chunks()):
            seen.append(item)
    assert seen == [1, 2]
    endless = prefetched(iter(range(10**9)))
    assert next(endless) == 0
    endless.close()  # the reader thread is told to stop and joined


def _reader_threads():
    return [t for t in threading.enumerate() if t.name == "fastxent-reader" and t.is_alive()]


@pytest.mark.parametrize("n_workers", [1, 2, 3, 5])
@pytest.mark.parametrize("depth", [1, 3])
def test_in_order_hands_out_every_part_in_order(n_workers, depth):
    lengths = [5, 0, 17, 1, 0, 9, 30, 2]
    parts = [(lambda k=k, n=n: ((k, i) for i in range(n))) for k, n in enumerate(lengths)]
    assert list(in_order(parts, n_workers, depth)) == [(k, i) for k, n in enumerate(lengths) for i in range(n)]
    assert list(in_order([], n_workers, depth)) == []
    assert not _reader_threads()


def test_in_order_raises_a_parts_error_after_the_parts_before_it_and_closes_every_part():
    started, closed = [], []

    def part(k, fail_at=None):
        started.append(k)
        try:
            for i in range(50):
                if i == fail_at:
                    raise OSError(f"part {k} unreadable")
                yield k, i
        finally:
            closed.append(k)

    parts = [lambda: part(0), lambda: part(1), lambda: part(2, fail_at=3), lambda: part(3)]
    seen = []
    with pytest.raises(OSError, match="part 2 unreadable"):
        for item in in_order(parts, 2, depth=2):
            seen.append(item)
    assert seen == [(k, i) for k in (0, 1) for i in range(50)] + [(2, i) for i in range(3)]
    assert not _reader_threads()
    assert {0, 1, 2} <= set(started) and sorted(closed) == sorted(started)  # each started part closed once

    started.clear()
    closed.clear()
    early = in_order([lambda k=k: part(k) for k in range(6)], 3, depth=2)
    assert next(early) == (0, 0)
    early.close()  # the workers are told to stop and joined; the parts they had started are closed
    assert not _reader_threads()
    assert 0 in started and sorted(closed) == sorted(started)


def test_parquet_columns_give_the_in_memory_report_and_rows(tmp_path, data):
    # several row groups, chunks cut across them: the rows come out in order
    z, y, w = data
    pq.write_table(columns_table(z, y, w), tmp_path / "p.parquet", row_group_size=101, compression="none")
    report = score_file(tmp_path / "p.parquet", sample_weight_column="weight", chunk_rows=64,
                        per_row_output=tmp_path / "rows.npy")
    expected = score_arrays(z, y, sample_weight=w, per_row_output=tmp_path / "expected.npy")
    np.testing.assert_allclose(np.load(tmp_path / "rows.npy"), np.load(tmp_path / "expected.npy"), rtol=1e-14)
    same(report, expected)


def test_parquet_list_row_groups_decoded_side_by_side_keep_the_row_order(tmp_path, data, monkeypatch):
    z, y, w = data
    scores = pa.FixedSizeListArray.from_arrays(pa.array(z.reshape(-1)), C)
    pq.write_table(pa.table({"scores": scores, "label": y}), tmp_path / "p.parquet", row_group_size=101,
                   compression="none")
    row_bytes = pq.ParquetFile(tmp_path / "p.parquet").metadata.row_group(0).total_byte_size // 101
    monkeypatch.setattr(_sources, "_LIST_BATCH_BYTES", 13 * row_bytes)  # several batches per row group
    monkeypatch.setattr(_sources, "_LIST_AHEAD_BYTES", 4 * 2 * 13 * row_bytes)  # 2 batches per queue
    monkeypatch.setattr(pa, "cpu_count", lambda: 3)
    score_file(tmp_path / "p.parquet", prediction_columns="scores", per_row_output=tmp_path / "rows.npy",
               chunk_rows=64)
    expected = score_arrays(z, y, per_row_output=tmp_path / "expected.npy")
    # (a row's loss can differ in its last bit with its place in a kernel block: not an order error)
    np.testing.assert_allclose(np.load(tmp_path / "rows.npy"), np.load(tmp_path / "expected.npy"), rtol=1e-14)
    same(score_file(tmp_path / "p.parquet", prediction_columns="scores", chunk_rows=64), expected)


@pytest.mark.slow
def test_memory_stays_bounded_by_the_chunk_not_the_file(tmp_path):
    """A 200 MB file scored in 4 MB chunks: the peak resident memory grows by far less than the file."""
    z = np.random.default_rng(34).normal(size=(100_000, 500)).astype(np.float32)
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", np.random.default_rng(35).integers(0, 500, 100_000))
    del z
    script = textwrap.dedent(f"""
        import numpy as np, fastxent
        def peak():
            return int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) // 1024
        fastxent.score_arrays(np.zeros((10, 500), np.float32), np.zeros(10, np.int64))  # load the kernels
        before = peak()
        report = fastxent.score_file({str(tmp_path / 'p.npy')!r}, {str(tmp_path / 'y.npy')!r}, chunk_rows=2000)
        print(report.rows_read, peak() - before)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    rows, growth_mb = map(int, result.stdout.split())
    assert rows == 100_000
    assert growth_mb < 60, f"peak RSS grew by {growth_mb} MB scoring a 200 MB file in 4 MB chunks"


def test_gzip_text_labels(tmp_path, data):
    z, y, _ = data
    np.save(tmp_path / "p.npy", z)
    with gzip.open(tmp_path / "y.txt.gz", "wt") as file:
        file.write("\n".join(map(str, y)) + "\n")
    same(score_file(tmp_path / "p.npy", tmp_path / "y.txt.gz"), score_arrays(z, y))
