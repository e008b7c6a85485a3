"""Long-run profile: score a synthetic prediction file of about 20 GB and check memory and the mean.

    python benches/long_run.py                      # 5,000,000 x 1,000 float32 = 20 GB, in a temporary folder
    python benches/long_run.py --rows 500000        # 2 GB

The scorer runs in a fresh process (its peak resident memory is that process's VmHWM); the reference is
textbook NumPy applied chunk by chunk in float64, its per-row losses summed exactly (math.fsum). Prints
one line of JSON; exits 1 if the means differ by more than float32 rounding or the memory is not bounded.
"""

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fastxent._demo import write_synthetic_predictions

SCORER = """
import json, sys, fastxent
report = fastxent.score_file(sys.argv[1], sys.argv[2], progress=False)
peak = int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) // 1024
print(json.dumps({"mean_loss": report.mean_loss, "rows": report.rows_read, "seconds": report.elapsed_seconds,
                  "peak_mb": peak}))
"""


def chunked_numpy_mean(predictions, labels, rows_per_chunk=20_000):
    z = np.load(predictions, mmap_mode="r")
    y = np.load(labels, mmap_mode="r")
    partials = []
    for start in range(0, z.shape[0], rows_per_chunk):
        block = np.asarray(z[start:start + rows_per_chunk], dtype=np.float64)
        shifted = block - block.max(axis=1, keepdims=True)
        rows = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(block)), y[start:start + rows_per_chunk]]
        partials.extend(rows.tolist())
    return math.fsum(partials) / len(partials)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--dir", help="where to write (default: a temporary folder, removed afterwards)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        start = time.perf_counter()
        predictions, labels = write_synthetic_predictions(Path(folder), args.rows, args.classes)
        written = time.perf_counter() - start
        run = subprocess.run([sys.executable, "-c", SCORER, str(predictions), str(labels)], capture_output=True,
                             text=True, check=True)
        scored = json.loads(run.stdout)
        start = time.perf_counter()
        reference = chunked_numpy_mean(predictions, labels)
        result = {"rows": args.rows, "classes": args.classes, "gigabytes": predictions.stat().st_size / 1e9,
                  "write_seconds": round(written, 1), "score_seconds": round(scored["seconds"], 1),
                  "reference_seconds": round(time.perf_counter() - start, 1), "peak_mb": scored["peak_mb"],
                  "mean_loss": scored["mean_loss"], "numpy_mean_loss": reference,
                  "relative_difference": abs(scored["mean_loss"] - reference) / reference}
    print(json.dumps(result))
    ok = result["relative_difference"] < 1e-6 and result["peak_mb"] < 400 and scored["rows"] == args.rows
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
