"""fastxent.dask: losses over dask arrays and Parquet datasets scored on a LocalCluster, equal to one process."""

import numpy as np
import pytest

import fastxent
from arrays import labels_of, logits_of, probs_of

da = pytest.importorskip("dask.array")
pytest.importorskip("dask.distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
fd = pytest.importorskip("fastxent.dask")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_over_dask_equals_numpy_and_every_chunking(reduction, dtype):
    z = logits_of((3000, 11), dtype, seed=50)
    y = labels_of((3000,), 11, seed=51, ignore_fraction=0.1)
    w = np.random.default_rng(52).random(3000)
    expected = fastxent.softmax_cross_entropy(z, y, sample_weight=w, reduction=reduction, label_smoothing=0.1)
    results = [fd.softmax_cross_entropy(da.from_array(z, chunks=(rows, 11)), y, sample_weight=w, reduction=reduction,
                                        label_smoothing=0.1).compute() for rows in (3000, 700, 37)]
    assert results[0].dtype == dtype and results[0].shape == ()
    assert results[0] == results[1] == results[2]  # exact partial sums: bitwise for any chunking
    np.testing.assert_allclose(results[0], expected, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_softmax_probabilities_and_per_row_over_dask():
    z = logits_of((500, 7), np.float64, seed=53)
    t = probs_of((500, 7), np.float64, seed=54)
    dz = da.from_array(z, chunks=(128, 4))  # the class axis is made one block
    assert fd.softmax_cross_entropy(dz, t).compute() == pytest.approx(float(fastxent.softmax_cross_entropy(z, t)),
                                                                      rel=1e-14)
    y = labels_of((500,), 7, seed=55)
    rows = fd.softmax_cross_entropy(dz, da.from_array(y, chunks=99), reduction="none")
    assert rows.shape == (500,)
    np.testing.assert_array_equal(rows.compute(), fastxent.softmax_cross_entropy(z, y, reduction="none"))


@pytest.mark.parametrize("name", ["binary_cross_entropy_with_logits", "binary_cross_entropy", "multilabel_cross_entropy"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_losses_over_dask(name, reduction):
    rng = np.random.default_rng(56)
    x = rng.normal(0, 2, (800, 6))
    if name == "binary_cross_entropy":
        x = 1 / (1 + np.exp(-x))
    y = (rng.random((800, 6)) < 0.3).astype(np.float64)
    pw = np.linspace(0.5, 2, 6)
    expected = getattr(fastxent, name)(x, y, pos_weight=pw, reduction=reduction)
    result = getattr(fd, name)(da.from_array(x, chunks=(150, 6)), y, pos_weight=pw, reduction=reduction).compute()
    np.testing.assert_allclose(result, expected, rtol=1e-13)


def test_dask_rejects_bad_input():
    with pytest.raises(ValueError, match="reduction must be one of"):
        fd.softmax_cross_entropy(da.zeros((4, 3)), np.zeros(4, np.int64), reduction="avg")
    with pytest.raises(ValueError, match="target has 3 rows, the logits 4"):
        fd.softmax_cross_entropy(da.zeros((4, 3)), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="2-D dask array"):
        fd.softmax_cross_entropy(da.zeros((4, 3, 2)), np.zeros((4, 3), np.int64))
    with pytest.raises(ValueError, match="outside \\[0, 3\\)"):
        fd.softmax_cross_entropy(da.zeros((4, 3)), np.full(4, 5)).compute()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    z = logits_of((4000, 8), np.float32, seed=57)
    y = labels_of((4000,), 8, seed=58, ignore_fraction=0.05)
    w = np.random.default_rng(59).random(4000)
    names = np.array(list("abcdefgh"), dtype=object)[np.where(y < 0, 0, y)]
    names[y < 0] = None
    for part in range(5):
        rows = slice(part * 800, (part + 1) * 800)
        table = pa.table({**{f"p_{j}": z[rows, j] for j in range(8)}, "label": pa.array(list(names[rows])),
                          "weight": w[rows]})
        pq.write_table(table, folder / f"part-{part}.parquet", row_group_size=300)
    pq.write_table(pa.concat_tables([pq.read_table(folder / f"part-{p}.parquet") for p in range(5)]),
                   folder.parent / f"{folder.name}-whole.parquet")
    return folder, folder.parent / f"{folder.name}-whole.parquet"


def test_parquet_dataset_on_a_local_cluster_equals_one_process(dataset):
    folder, whole = dataset
    options = dict(classes=list("abcdefgh"), sample_weight_column="weight", prediction_columns="p_*")
    single = fastxent.score_file(whole, **options)
    for scheduler, path in ((None, folder / "*.parquet"), ("local", folder)):
        report = fd.score_parquet_dataset(path, scheduler=scheduler, **options)
        assert (report.rows_read, report.rows_ignored, report.mean_loss, report.total_loss, report.accuracy,
                report.class_counts) == (single.rows_read, single.rows_ignored, single.mean_loss, single.total_loss,
                                         single.accuracy, single.class_counts)
        np.testing.assert_allclose(report.class_mean_loss, single.class_mean_loss, rtol=1e-13)


def test_parquet_dataset_errors(dataset, tmp_path):
    folder, _ = dataset
    with pytest.raises(ValueError, match="unknown column 'truth'"):
        fd.score_parquet_dataset(folder, label_column="truth")
    with pytest.raises(TypeError, match="pass classes"):
        fd.score_parquet_dataset(folder)
    with pytest.raises(ValueError, match="no Parquet data at|cannot read the Parquet dataset"):
        fd.score_parquet_dataset(tmp_path / "nothing-*.parquet")
