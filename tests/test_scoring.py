"""The streaming scorer: score_arrays / score_chunks against whole-array fastxent, NumPy, SciPy and scikit-learn."""

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastxent
from fastxent import _exact_sum
from fastxent._exact_sum import ExactSum
from fastxent.scoring import score_arrays, score_chunks
from arrays import labels_of, logits_of, probs_of

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def per_row_float64(z, y, ignore_index=-100):
    """The reference per-row losses: NumPy backend, float64."""
    return fastxent.softmax_cross_entropy(z.astype(np.float64), y, reduction="none", backend="numpy",
                                          ignore_index=ignore_index)


# --------------------------------------------------------------------------- ExactSum


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, st.integers(0, 300), elements=st.floats(allow_nan=False, allow_infinity=False)),
       st.integers(1, 50))
def test_exact_sum_is_correctly_rounded_for_any_split(values, pieces):
    whole, split = ExactSum(), ExactSum()
    whole.add(values)
    for part in np.array_split(values, pieces):
        split.add(part)
    exact = sum(map(Fraction, values.tolist()), Fraction(0))
    try:
        expected = float(exact)
    except OverflowError:  # the exact sum is beyond float64
        expected = math.inf if exact > 0 else -math.inf
    assert whole.value == split.value == expected


def test_exact_sum_is_exact_across_its_internal_batches():
    # more values than one bincount batch (_exact_sum._BATCH), of every sign and a wide range of exponents
    rng = np.random.default_rng(3)
    values = rng.standard_normal(40_000) * np.exp2(rng.integers(-1070, 1000, 40_000))
    total = ExactSum()
    total.add(values)
    assert total.value == float(sum(map(Fraction, values.tolist()), Fraction(0)))


def test_exact_sum_flushes_its_buckets_before_they_could_round(monkeypatch):
    # small batches and a small flush count: the flush path runs many times within one add
    monkeypatch.setattr(_exact_sum, "_BATCH", 64)
    monkeypatch.setattr(_exact_sum, "_VALUES_PER_FLUSH", 100)
    rng = np.random.default_rng(4)
    values = rng.standard_normal(1000) * np.exp2(rng.integers(-60, 60, 1000))
    total = ExactSum()
    total.add(values)
    assert total.value == float(sum(map(Fraction, values.tolist()), Fraction(0)))


def test_exact_sum_merge_and_specials():
    a, b = ExactSum(), ExactSum()
    a.add(np.array([1e300, 1.0, -1e300]))
    b.add(np.array([2.0**-1074, 3.0]))
    assert a.merge(b).value == 4.0
    c = ExactSum()
    c.add(np.array([np.inf, 1.0]))
    assert c.value == math.inf
    c.add(np.array([-np.inf]))
    assert math.isnan(c.value)
    n, d = ExactSum(), ExactSum()
    n.add(np.array([1.0, 2.0]))
    assert math.isnan(n.ratio(d))
    d.add(np.array([3.0]))
    assert n.ratio(d) == 1.0


# --------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_report_matches_the_whole_array_computation(dtype):
    z = logits_of((3000, 17), dtype)
    y = labels_of((3000,), 17, ignore_fraction=0.1)
    report = score_arrays(z, y, chunk_rows=211)
    kept = y != -100
    assert report.rows_read == 3000 and report.rows_ignored == int((~kept).sum()) and report.rows_nan == 0
    assert report.rows_scored == int(kept.sum()) == report.total_weight
    whole = float(fastxent.softmax_cross_entropy(z, y))  # the same kernel at once, rounded to dtype
    assert report.mean_loss == pytest.approx(whole, rel=1e-6 if dtype == np.float32 else 1e-14)
    reference = per_row_float64(z, y)[kept]
    assert report.mean_loss == pytest.approx(float(np.mean(reference)), rel=2e-6 if dtype == np.float32 else 1e-13)
    assert report.accuracy == pytest.approx(sklearn_metrics.accuracy_score(y[kept], z[kept].argmax(axis=1)), abs=1e-15)
    assert report.class_counts == np.bincount(y[kept], minlength=17).tolist()
    for c in (0, 5, 16):
        assert report.class_mean_loss[c] == pytest.approx(reference[y[kept] == c].mean(), rel=2e-6)


def test_the_report_is_bitwise_the_same_for_every_chunking_thread_count_and_backend_order():
    z = logits_of((2000, 33), np.float32, seed=4)
    y = labels_of((2000,), 33, seed=5, ignore_fraction=0.05)
    w = np.random.default_rng(6).random(2000)
    reports = [score_arrays(z, y, sample_weight=w, chunk_rows=rows, n_threads=threads)
               for rows in (1, 7, 640, 2000) for threads in (1, 2)]
    first = reports[0]
    for report in reports[1:]:
        assert (report.mean_loss, report.total_loss, report.accuracy, report.total_weight) == (
            first.mean_loss, first.total_loss, first.accuracy, first.total_weight)
        assert report.class_counts == first.class_counts


@pytest.mark.parametrize("backend", ["numpy", "numba", "cython"])
def test_every_backend_scores_alike(backend):
    z = logits_of((500, 9), np.float64, seed=8)
    y = labels_of((500,), 9, seed=9)
    report = score_arrays(z, y, backend=backend, chunk_rows=77)
    assert report.mean_loss == pytest.approx(float(np.mean(per_row_float64(z, y))), rel=1e-13)


def test_sample_weight_gives_the_weighted_mean():
    z = logits_of((1000, 5), np.float64, seed=10)
    y = labels_of((1000,), 5, seed=11, ignore_fraction=0.1)
    w = np.random.default_rng(12).random(1000) * 3
    report = score_arrays(z, y, sample_weight=w, chunk_rows=99)
    kept = y != -100
    rows = per_row_float64(z, y)
    assert report.mean_loss == pytest.approx(np.average(rows[kept], weights=w[kept]), rel=1e-13)
    assert report.total_weight == pytest.approx(w[kept].sum(), rel=1e-15)
    assert report.mean_loss == pytest.approx(float(fastxent.softmax_cross_entropy(z, y, sample_weight=w)), rel=1e-13)
    correct = z.argmax(axis=1) == y
    assert report.accuracy == pytest.approx(
        sklearn_metrics.accuracy_score(y[kept], z[kept].argmax(axis=1), sample_weight=w[kept]), rel=1e-13)
    assert correct.any()


def test_nan_predictions_are_counted_and_left_out_of_the_means():
    z = logits_of((300, 4), np.float64, seed=13)
    y = labels_of((300,), 4, seed=14)
    z[[3, 50, 51], 1] = np.nan
    report = score_arrays(z, y, chunk_rows=40)
    assert report.rows_nan == 3 and report.rows_scored == 297
    kept = ~np.isnan(z).any(axis=1)
    assert report.mean_loss == pytest.approx(float(np.mean(per_row_float64(z[kept], y[kept]))), rel=1e-13)


def test_missing_labels_as_nan_or_none_are_ignored_rows():
    z = logits_of((6, 3), np.float64)
    labels = np.array([0, np.nan, 2, 1, np.nan, 0])
    report = score_arrays(z, labels)
    assert report.rows_ignored == 2 and report.rows_scored == 4
    names = np.array(["a", None, "c", "b", None, "a"], dtype=object)
    by_name = score_arrays(z, names, classes=["a", "b", "c"])
    assert by_name.mean_loss == report.mean_loss and by_name.rows_ignored == 2


def test_class_names_map_through_classes():
    z = logits_of((400, 3), np.float32, seed=15)
    y = labels_of((400,), 3, seed=16)
    names = np.array(["cat", "dog", "panda"])[y]
    assert score_arrays(z, names, classes=["cat", "dog", "panda"]).mean_loss == score_arrays(z, y).mean_loss
    with pytest.raises(ValueError, match="'dog' is not in classes"):
        score_arrays(z, names, classes=["cat", "panda", "bird"])
    with pytest.raises(TypeError, match="pass classes"):
        score_arrays(z, names)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_probabilities_match_scikit_learn_log_loss(dtype):
    p = probs_of((800, 6), dtype, seed=17)
    p[::50] = np.eye(6, dtype=dtype)[0]  # exact zeros and ones: clipped as log_loss clips them
    y = labels_of((800,), 6, seed=18)
    report = score_arrays(p, y, input="probs", chunk_rows=130)
    expected = sklearn_metrics.log_loss(y, p, labels=np.arange(6))
    assert report.mean_loss == pytest.approx(expected, rel=1e-12 if dtype == np.float64 else 1e-6)
    assert report.rows_not_probabilities == 0
    assert report.accuracy == pytest.approx(sklearn_metrics.accuracy_score(y, p.argmax(axis=1)))


def test_rows_that_are_not_probabilities_warn_with_a_count_or_fail_when_strict():
    p = probs_of((100, 4), np.float64, seed=19)
    y = labels_of((100,), 4, seed=20)
    p[[5, 6]] *= 1.5          # rows not summing to 1
    p[9, 0] = -0.1            # outside [0, 1]
    with pytest.warns(UserWarning, match="3 rows of predictions are not probabilities"):
        report = score_arrays(p, y, input="probs", chunk_rows=30)
    assert report.rows_not_probabilities == 3
    with pytest.raises(ValueError, match="row 5 holds probabilities"):
        score_arrays(p, y, input="probs", strict=True)


# --------------------------------------------------------------------------- binary and multi-label


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_logits_and_probabilities(dtype):
    rng = np.random.default_rng(21)
    z = (rng.normal(0, 3, 5000)).astype(dtype)
    y = (rng.random(5000) < 0.3).astype(np.int64)
    report = score_arrays(z, y, kind="binary", chunk_rows=333)
    expected = fastxent.binary_cross_entropy_with_logits(z.astype(np.float64), y.astype(np.float64), backend="numpy")
    assert report.mean_loss == pytest.approx(float(expected), rel=1e-6 if dtype == np.float32 else 1e-13)
    assert report.accuracy == pytest.approx(np.mean((z >= 0) == (y == 1)), abs=1e-15)
    assert report.class_counts == np.bincount(y, minlength=2).tolist() and report.n_classes == 2
    p = 1 / (1 + np.exp(-z.astype(np.float64)))
    probs = score_arrays(p, y, kind="binary", input="probs", chunk_rows=700)
    assert probs.mean_loss == pytest.approx(sklearn_metrics.log_loss(y, p), rel=1e-12)
    column = score_arrays(z[:, None], y, kind="binary")
    assert column.mean_loss == score_arrays(z, y, kind="binary").mean_loss


def test_multilabel_matches_multilabel_cross_entropy_and_hamming():
    rng = np.random.default_rng(22)
    z = rng.normal(0, 2, (700, 12))
    y = (rng.random((700, 12)) < 0.2).astype(np.float64)
    report = score_arrays(z, y, kind="multilabel", chunk_rows=64)
    assert report.mean_loss == pytest.approx(float(fastxent.multilabel_cross_entropy(z, y)), rel=1e-13)
    assert report.accuracy == pytest.approx(1 - sklearn_metrics.hamming_loss(y, z >= 0), rel=1e-13)
    assert report.class_counts == (y == 1).sum(axis=0).tolist()
    per_label = fastxent.binary_cross_entropy_with_logits(z, y, reduction="none").mean(axis=0)
    np.testing.assert_allclose(report.class_mean_loss, per_label, rtol=1e-12)
    y[4, 2] = np.nan  # a missing target: the row is ignored
    assert score_arrays(z, y, kind="multilabel").rows_ignored == 1


# --------------------------------------------------------------------------- chunks, per-row output, errors


def test_score_chunks_takes_any_iterable_and_weights():
    z = logits_of((90, 4), np.float64)
    y = labels_of((90,), 4)
    chunks = ((z[i:i + 40], y[i:i + 40], np.ones(len(y[i:i + 40]))) for i in range(0, 90, 40))
    assert score_chunks(chunks).mean_loss == score_arrays(z, y).mean_loss
    with pytest.raises(TypeError, match="each chunk must be a tuple"):
        score_chunks([z])


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_per_row_output_holds_each_rows_loss(tmp_path, suffix):
    parquet = pytest.importorskip("pyarrow.parquet") if suffix == ".parquet" else None  # writing needs it too
    z = logits_of((500, 6), np.float32)
    y = labels_of((500,), 6, ignore_fraction=0.1)
    target = tmp_path / f"rows{suffix}"
    score_arrays(z, y, chunk_rows=77, per_row_output=target)
    if suffix == ".npy":
        rows = np.load(target)
    else:
        rows = parquet.read_table(target).column("loss").to_numpy()
    expected = fastxent.softmax_cross_entropy(z, y, reduction="none").astype(np.float64)
    expected[y == -100] = np.nan
    np.testing.assert_allclose(rows, expected, rtol=1e-6)
    assert np.isnan(rows[y == -100]).all() and rows.dtype == np.float64
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize("failure", [ValueError, KeyboardInterrupt])
def test_a_failed_run_leaves_no_per_row_output(tmp_path, failure):
    z = logits_of((100, 3), np.float64)
    y = labels_of((100,), 3)
    target = tmp_path / "rows.npy"

    def chunks():
        yield z[:50], y[:50]
        if failure is ValueError:
            yield z[50:], np.full(50, 7)  # labels out of range
        raise KeyboardInterrupt

    with pytest.raises(failure):
        score_chunks(chunks(), per_row_output=target)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("call, error, message", [
    (lambda z, y: score_arrays(z, y, kind="poisson"), ValueError, "kind must be one of"),
    (lambda z, y: score_arrays(z, y, input="scores"), ValueError, "input must be one of"),
    (lambda z, y: score_arrays(z, y[:-1]), ValueError, "one entry per row"),
    (lambda z, y: score_arrays(z, y + 10), ValueError, "outside \\[0, 4\\)"),
    (lambda z, y: score_arrays(z, y.astype(float) + 0.5), TypeError, "non-integral"),
    (lambda z, y: score_arrays(z, y, chunk_rows=0), ValueError, "chunk_rows must be at least 1"),
    (lambda z, y: score_arrays(z, y, sample_weight=-np.ones(len(y))), ValueError, "sample_weight"),
    (lambda z, y: score_arrays(z, y, per_row_output="rows.csv"), ValueError, "per_row_output must end in"),
    (lambda z, y: score_arrays(z, None), ValueError, "labels are required"),
    (lambda z, y: score_arrays(z, y, kind="binary"), ValueError, "kind='binary' must have shape"),
    (lambda z, y: score_arrays(z[:, 0], np.full(len(y), 2.0), kind="binary"), ValueError, "outside \\[0, 1\\]"),
    (lambda z, y: score_arrays(z.astype(complex), y), TypeError, "predictions must be a real numeric array"),
])
def test_bad_input_names_the_argument(call, error, message):
    z = logits_of((20, 4), np.float64)
    y = labels_of((20,), 4)
    with pytest.raises(error, match=message):
        call(z, y)


def test_empty_predictions_give_nan_means_and_zero_counts():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = score_arrays(np.empty((0, 5), np.float32), np.empty(0, np.int64))
    assert report.rows_read == 0 and math.isnan(report.mean_loss) and math.isnan(report.accuracy)
    assert report.to_dict()["mean_loss"] is None
    assert "rows read" in report.summary()


def test_progress_bar_on_stderr_counts_rows(capsys):
    z = logits_of((3000, 8), np.float32)
    y = labels_of((3000,), 8)
    score_arrays(z, y, chunk_rows=500, progress=True)
    err = capsys.readouterr().err
    assert "scoring" in err and "/3.00k" in err and "rows/s" in err and "MB/s" in err
    score_arrays(z, y, chunk_rows=500, progress=False)
    assert capsys.readouterr().err == ""


def test_a_full_disk_while_writing_per_row_output_leaves_nothing(tmp_path, monkeypatch):
    """ENOSPC from the writer (a full disk, simulated) fails the run and leaves no file behind."""
    import errno

    from fastxent import _row_output

    writes = []

    def full_disk(self, row_loss):
        writes.append(len(row_loss))
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_row_output._NpyWriter, "write", full_disk)
    z = logits_of((300, 4), np.float64)
    y = labels_of((300,), 4)
    with pytest.raises(OSError, match="No space left"):
        score_arrays(z, y, chunk_rows=100, per_row_output=tmp_path / "rows.npy")
    assert writes == [100, 100] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scale", [1e-3, 0.3, 3.0, 30.0, 3e4])
@pytest.mark.parametrize("n_classes", [1, 2, 3, 50])
def test_accuracy_is_argmax_whatever_the_spread_of_the_logits(scale, n_classes):
    """Top-1 accuracy is argmax's, its tie rule (the first maximum) included."""
    z = logits_of((4000, n_classes), np.float32, seed=60, scale=scale)
    y = labels_of((4000,), n_classes, seed=61)
    z[:50] = z[:50].round(1)  # ties: argmax takes the first maximum
    z[50:60] = 0.0
    report = score_arrays(z, y, chunk_rows=1000)
    assert report.accuracy == np.mean(z.argmax(axis=1) == y)
