"""`fastxent score` and `fastxent demo` as a user runs them: subprocesses, exit codes, stdout/stderr, files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fastxent import score_arrays
from arrays import labels_of, logits_of

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "fastxent", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def files(tmp_path):
    z = logits_of((800, 5), np.float32, seed=40)
    y = labels_of((800,), 5, seed=41, ignore_fraction=0.1)
    np.save(tmp_path / "p.npy", z)
    np.save(tmp_path / "y.npy", y)
    names = np.array(["a", "b", "c", "d", "e"], dtype=object)[np.where(y < 0, 0, y)]
    names[y < 0] = None
    pq.write_table(pa.table({**{f"p_{j}": z[:, j] for j in range(5)}, "truth": pa.array(list(names))}),
                   tmp_path / "p.parquet")
    return tmp_path, z, y


def test_score_prints_a_summary_and_json(files):
    folder, z, y = files
    result = run("score", folder / "p.npy", folder / "y.npy")
    assert result.returncode == 0, result.stderr
    expected = score_arrays(z, y)
    assert f"{expected.mean_loss:.8f}" in result.stdout and "rows ignored" in result.stdout
    result = run("score", folder / "p.parquet", "--label-column", "truth", "--classes", "a,b,c,d,e",
                 "--prediction-columns", "p_*", "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mean_loss"] == expected.mean_loss and report["rows_ignored"] == expected.rows_ignored
    assert report["rows_read"] == 800 and len(report["class_counts"]) == 5 and report["rows_per_second"] > 0
    assert result.stderr == ""


def test_score_writes_per_row_losses(files):
    folder, z, y = files
    result = run("score", folder / "p.npy", folder / "y.npy", "--per-row-output", folder / "rows.npy",
                 "--chunk-rows", "100", "--threads", "1")
    assert result.returncode == 0, result.stderr
    rows = np.load(folder / "rows.npy")
    assert rows.shape == (800,) and np.isnan(rows[y < 0]).all() and np.isfinite(rows[y >= 0]).all()


@pytest.mark.parametrize("args, message", [
    (["missing.npy", "y.npy"], "no such file"),
    (["p.npy"], "needs a separate labels file"),
    (["p.npy", "y.npy", "--kind", "binary"], "kind='binary' must have shape"),
    (["p.parquet", "--label-column", "truth"], "pass classes"),
    (["p.parquet", "--label-column", "nope"], "unknown column 'nope'"),
    (["p.npy", "short.npy"], "has 10 labels but the predictions have 800 rows"),
    (["p.npy", "y.npy", "--chunk-rows", "0"], "argument --chunk-rows: must be positive"),
])
def test_score_failures_exit_non_zero_with_a_reason_and_no_output(files, args, message):
    folder, _, y = files
    np.save(folder / "short.npy", y[:10])
    paths = [folder / a if a.endswith((".npy", ".parquet")) else a for a in args]
    result = run("score", *paths, "--per-row-output", folder / "rows.parquet")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and (len(lines) == 1 or lines[0].startswith("usage:")), result.stderr
    assert not (folder / "rows.parquet").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".rows")]


def test_probabilities_that_are_not_warn_on_stderr_or_fail_with_strict(tmp_path):
    p = np.full((50, 4), 0.25)
    p[3] = 0.5
    np.save(tmp_path / "p.npy", p)
    np.save(tmp_path / "y.npy", np.zeros(50, np.int64))
    result = run("score", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs")
    assert result.returncode == 0 and "warning: fastxent score: 1 rows of predictions are not" in result.stderr
    result = run("score", tmp_path / "p.npy", tmp_path / "y.npy", "--input", "probs", "--strict")
    assert result.returncode == 1 and "row 3 holds probabilities" in result.stderr


def test_demo_writes_scores_and_compares_with_numpy(tmp_path):
    result = run("demo", "--rows", "3000", "--classes", "40", "--keep", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    assert "fastxent and NumPy agree." in result.stdout and "Textbook NumPy" in result.stdout
    assert (tmp_path / "demo" / "predictions.npy").exists()
    logits = np.load(tmp_path / "demo" / "predictions.npy")
    assert logits.shape == (3000, 40) and logits.dtype == np.float32


def test_demo_removes_its_temporary_files(tmp_path):
    env_tmp = tmp_path / "tmp"
    env_tmp.mkdir()
    result = subprocess.run([sys.executable, "-m", "fastxent", "demo", "--rows", "500", "--classes", "10"],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(env_tmp)})
    assert result.returncode == 0, result.stderr
    assert list(env_tmp.iterdir()) == []


def test_score_on_a_local_dask_cluster_matches_one_process(files):
    pytest.importorskip("dask.distributed")
    folder, z, y = files
    result = run("score", folder / "p.parquet", "--label-column", "truth", "--classes", "a,b,c,d,e", "--json",
                 "--dask", "local")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mean_loss"] == score_arrays(z, y).mean_loss
    result = run("score", folder / "p.parquet", folder / "y.npy", "--dask", "local")
    assert result.returncode == 1 and "LABELS and --per-row-output are not available" in result.stderr
