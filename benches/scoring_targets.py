"""Batch-scoring benchmarks (issue targets): peak memory and throughput of `fastxent.score_file`.

    python benches/scoring_targets.py                 # 4 GB .npy (1,000,000 x 1,000 float32) + Parquet
    python benches/scoring_targets.py --rows 250000   # a quicker run

Measures, each scoring run in three fresh processes, one after the other (the median process; peak
resident memory = the process's VmHWM):
  1. peak resident memory scoring the .npy, for the file and for a file a quarter of its size (flat?);
  2. throughput scoring the .npy from the page cache vs the in-memory kernel on the same array (also
     both timed in turn in one process: the ratio with the machine's drift cancelled), for three ways
     the file can sit in the page cache: as written (plain writes, like np.save), read back after it
     was evicted (a file read before), and a copy written through a memory map (np.lib.format.open_memmap),
     which Linux keeps in 4 KiB pages until it is evicted;
  3. Parquet: decoded MB/s, for one fixed-size-list column and for one column per class (nullable, as
     pandas writes them, and declared non-nullable);
  4. textbook NumPy on the same file: its peak memory and time.
Prints a Markdown table; --json writes the numbers.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

PEAK = textwrap.dedent("""
    import json, sys, time
    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    """)


PARQUET_LAYOUTS = ("list", "columns", "columns, required")


def run_python(code):
    result = subprocess.run([sys.executable, "-c", PEAK + textwrap.dedent(code)], capture_output=True, text=True,
                            check=False)
    if result.returncode:
        raise SystemExit(f"benchmark step failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def score_in_fresh_processes(predictions, labels, processes=3, **options):
    """`score_in_fresh_process` in ``processes`` processes, one after the other: the process whose
    median time is the median (this VM's first calls, which fault in fresh memory, vary from process
    to process by up to 2x), with every process's median in ``"process_seconds"``."""
    runs = sorted((score_in_fresh_process(predictions, labels, **options) for _ in range(processes)),
                  key=lambda run: run["seconds"])
    return dict(runs[len(runs) // 2], process_seconds=[run["seconds"] for run in runs])


def score_in_fresh_process(predictions, labels, repeats=3, **options):
    return run_python(f"""
        import numpy as np, fastxent
        fastxent.score_arrays(np.zeros((4, 8), np.float32), np.zeros(4, np.int64))   # kernels loaded
        times = []
        for _ in range({repeats}):
            report = fastxent.score_file({str(predictions)!r}, {str(labels) if labels else None!r}, progress=False,
                                         **{options!r})
            times.append(report.elapsed_seconds)
        times.sort()
        print(json.dumps({{"seconds": times[len(times) // 2], "peak_mb": peak_mb(),
                          "mb": report.prediction_bytes / 1e6, "mean_loss": report.mean_loss}}))
    """)


def kernel_in_memory(predictions, labels, repeats=3):
    return run_python(f"""
        import numpy as np, fastxent
        z, y = np.load({str(predictions)!r}), np.load({str(labels)!r})
        fastxent.softmax_cross_entropy(z[:10], y[:10])
        times = []
        for _ in range({repeats}):
            start = time.perf_counter()
            loss = fastxent.softmax_cross_entropy(z, y)
            times.append(time.perf_counter() - start)
        times.sort()
        print(json.dumps({{"seconds": times[len(times) // 2], "mb": z.nbytes / 1e6, "mean_loss": float(loss)}}))
    """)


def interleaved_throughput(predictions, labels, rounds=7):
    """`score_file` and the in-memory kernel timed in turn in one process, so that the machine's drift
    between runs cancels: medians, and the median over rounds of kernel time / scoring time."""
    return run_python(f"""
        import numpy as np, fastxent
        z, y = np.load({str(predictions)!r}), np.load({str(labels)!r})
        fastxent.softmax_cross_entropy(z[:10], y[:10])
        kernel, score = [], []
        for _ in range({rounds}):
            start = time.perf_counter()
            fastxent.softmax_cross_entropy(z, y)
            kernel.append(time.perf_counter() - start)
            score.append(fastxent.score_file({str(predictions)!r}, {str(labels)!r}, progress=False).elapsed_seconds)
        kernel, score = np.array(kernel), np.array(score)
        print(json.dumps({{"kernel_seconds": float(np.median(kernel)), "score_seconds": float(np.median(score)),
                          "ratio": float(np.median(kernel / score))}}))
    """)


def read_back_after_eviction(path):
    """Drop the file's pages from the page cache and read it again (read-ahead brings it back)."""
    with open(path, "rb") as file:
        os.posix_fadvise(file.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while file.read(1 << 26):
            pass


def copy_through_memory_map(source, target):
    """Copy a .npy by writing its rows through a memory map of the new file."""
    import numpy as np

    rows = np.load(source, mmap_mode="r")
    copy = np.lib.format.open_memmap(target, mode="w+", dtype=rows.dtype, shape=rows.shape)
    for start in range(0, rows.shape[0], 16_384):
        copy[start:start + 16_384] = rows[start:start + 16_384]
    copy.flush()
    return target


def naive_numpy(predictions, labels):
    return run_python(f"""
        import numpy as np
        from fastxent._naive import naive_softmax_cross_entropy
        start = time.perf_counter()
        loss = naive_softmax_cross_entropy(np.load({str(predictions)!r}), np.load({str(labels)!r}))
        print(json.dumps({{"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "mean_loss": loss}}))
    """)


def write_parquet(folder, predictions, labels, rows, layout):
    """Parquet with row groups of 50,000 rows, uncompressed: ``list`` (one fixed-size-list column),
    ``columns`` (one column per class, pyarrow's default nullable schema, as pandas writes it) or
    ``columns, required`` (the same columns declared non-nullable: no definition levels to decode)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    z = np.load(predictions, mmap_mode="r")[:rows]
    y = np.load(labels)[:rows]
    path = folder / f"predictions-{layout.replace(', ', '-')}.parquet"
    nullable = layout != "columns, required"
    if layout == "list":
        fields = [pa.field("scores", pa.list_(pa.float32(), z.shape[1]))]
    else:
        fields = [pa.field(f"p_{j}", pa.float32(), nullable=nullable) for j in range(z.shape[1])]
    schema = pa.schema(fields + [pa.field("label", pa.int64(), nullable=nullable)])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for start in range(0, rows, 50_000):
            block = np.ascontiguousarray(z[start:start + 50_000])
            if layout == "list":
                arrays = [pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), type=fields[0].type)]
            else:
                arrays = [pa.array(block[:, j]) for j in range(block.shape[1])]
            table = pa.Table.from_arrays(arrays + [pa.array(y[start:start + 50_000])], schema=schema)
            writer.write_table(table, row_group_size=50_000)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--parquet-rows", type=int, default=200_000)
    parser.add_argument("--dir", help="where to write the files (default: a temporary folder, removed)")
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()

    from fastxent._demo import write_synthetic_predictions

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        folder = Path(folder)
        small, large = folder / "quarter", folder / "full"
        small.mkdir()
        large.mkdir()
        files = {"full": write_synthetic_predictions(large, args.rows, args.classes),
                 "quarter": write_synthetic_predictions(small, args.rows // 4, args.classes)}
        for predictions, _ in files.values():  # into the page cache
            with open(predictions, "rb") as file:
                while file.read(1 << 26):
                    pass
        results = {"machine": os.uname().nodename, "cores": os.cpu_count(), "rows": args.rows,
                   "classes": args.classes}
        results["score npy"] = score_in_fresh_processes(*files["full"])
        results["score npy (a quarter of the rows)"] = score_in_fresh_processes(*files["quarter"])
        results["kernel in memory"] = kernel_in_memory(*files["full"])
        results["interleaved"] = interleaved_throughput(*files["full"])
        predictions, labels = files["full"]
        read_back_after_eviction(predictions)
        results["score npy (read back after eviction)"] = score_in_fresh_processes(predictions, labels)
        results["interleaved (read back after eviction)"] = interleaved_throughput(predictions, labels)
        mapped = copy_through_memory_map(predictions, folder / "written-through-a-map.npy")
        results["score npy (written through a memory map)"] = score_in_fresh_processes(mapped, labels)
        results["interleaved (written through a memory map)"] = interleaved_throughput(mapped, labels)
        mapped.unlink()
        for layout in PARQUET_LAYOUTS:
            path = write_parquet(folder, *files["full"], args.parquet_rows, layout)
            options = {"prediction_columns": "scores"} if layout == "list" else {}
            results[f"score parquet ({layout})"] = score_in_fresh_processes(path, None, **options)
            path.unlink()
        results["naive NumPy"] = naive_numpy(*files["full"])

    kernel = results["kernel in memory"]
    print(f"| measurement | time | MB/s of predictions | peak resident MB | mean loss |")
    print("|---|---|---|---|---|")
    for name in ("score npy", "score npy (a quarter of the rows)", "score npy (read back after eviction)",
                 "score npy (written through a memory map)", "kernel in memory",
                 *(f"score parquet ({layout})" for layout in PARQUET_LAYOUTS), "naive NumPy"):
        r = results[name]
        mb = r.get("mb", kernel["mb"])
        print(f"| {name} | {r['seconds']:.3f} s | {mb / r['seconds']:,.0f} | {r.get('peak_mb', float('nan')):,.0f} "
              f"| {r['mean_loss']:.8f} |")
    npy = results["score npy"]
    print()
    for name in ("score npy", "score npy (read back after eviction)", "score npy (written through a memory map)",
                 *(f"score parquet ({layout})" for layout in PARQUET_LAYOUTS)):
        run = results[name]
        print(f"{name}, the median of each fresh process: "
              + ", ".join(f"{seconds:.3f} s ({run['mb'] / seconds:,.0f} MB/s)" for seconds in run["process_seconds"]))
    for state in ("", " (read back after eviction)", " (written through a memory map)"):
        fresh, both = results[f"score npy{state}"], results[f"interleaved{state}"]
        print(f"score npy{state} / in-memory kernel throughput: {kernel['seconds'] / fresh['seconds']:.0%} "
              f"(fresh processes); {both['ratio']:.0%} interleaved in one process (kernel "
              f"{both['kernel_seconds']:.3f} s, score_file {both['score_seconds']:.3f} s)")
    print(f"naive NumPy / fastxent score: {results['naive NumPy']['seconds'] / npy['seconds']:.1f}x the time, "
          f"{results['naive NumPy']['peak_mb'] / npy['peak_mb']:.1f}x the peak memory")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
