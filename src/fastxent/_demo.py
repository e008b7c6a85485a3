"""``fastxent demo``: write a synthetic prediction file, score it in chunks, and compare with textbook NumPy."""

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fastxent._naive import naive_softmax_cross_entropy
from fastxent.scoring import score_file

_WRITE_ROWS = 16_384


def write_synthetic_predictions(directory, rows, classes, seed=0):
    """Write ``predictions.npy`` (rows x classes float32 logits) and ``labels.npy`` (int64) into
    ``directory``, chunk by chunk: a model that ranks the true class first about 70% of the time.

    The rows are appended with plain writes after a ``.npy`` header, as ``np.save`` writes (a file
    written through a memory map instead sits in the page cache in 4 KiB pages, slower to read back
    until it is evicted: docs/benchmarks.md).

    Returns
    -------
    (Path, Path)
        The predictions and labels files.
    """
    directory = Path(directory)
    rng = np.random.default_rng(seed)
    predictions_path, labels_path = directory / "predictions.npy", directory / "labels.npy"
    with open(predictions_path, "wb") as predictions, open(labels_path, "wb") as labels:
        for file, dtype, shape in ((predictions, np.float32, (rows, classes)), (labels, np.int64, (rows,))):
            np.lib.format.write_array_header_1_0(file, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                        "fortran_order": False, "shape": shape})
        for start in range(0, rows, _WRITE_ROWS):
            n = min(start + _WRITE_ROWS, rows) - start
            block = rng.standard_normal((n, classes), dtype=np.float32)
            block *= 3.0
            truth = rng.integers(0, classes, n)
            block[np.arange(n), truth] += 11.0  # the model's evidence for the true class
            predictions.write(block.data)
            labels.write(truth.astype(np.int64, copy=False).data)
    return predictions_path, labels_path


def run_demo(rows, classes, keep=None, progress=None, out=sys.stdout):
    """Write, score and compare; returns the exit status (1 when fastxent and NumPy disagree)."""
    directory = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="fastxent-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        size_gb = rows * classes * 4 / 1e9
        print(f"fastxent demo: writing {rows:,} predictions x {classes:,} classes (float32 logits, "
              f"{size_gb:.2f} GB) to {directory}", file=out, flush=True)
        start = time.perf_counter()
        predictions_path, labels_path = write_synthetic_predictions(directory, rows, classes)
        print(f"  written in {time.perf_counter() - start:.1f} s; scoring it in chunks with fastxent", file=out,
              flush=True)
        report = score_file(predictions_path, labels_path, progress=progress)
        print(report.summary(max_classes=5), file=out)
        print("\nTextbook NumPy on the same file (loads the whole array, then N x C temporaries):", file=out,
              flush=True)
        start = time.perf_counter()
        logits, labels = np.load(predictions_path), np.load(labels_path)
        naive_mean = float(naive_softmax_cross_entropy(logits, labels))
        naive_seconds = time.perf_counter() - start
        del logits
        print(f"  mean loss {naive_mean:.8f} in {naive_seconds:.3f} s (fastxent: {report.elapsed_seconds:.3f} s, "
              f"{naive_seconds / report.elapsed_seconds:.1f}x faster, memory bounded by the chunk size)", file=out)
        if not abs(naive_mean - report.mean_loss) <= 1e-5 * abs(naive_mean):
            print(f"error: fastxent's mean {report.mean_loss!r} disagrees with NumPy's {naive_mean!r}",
                  file=sys.stderr)
            return 1
        print("fastxent and NumPy agree." + (f" Files kept in {directory}." if keep else ""), file=out)
        return 0
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
