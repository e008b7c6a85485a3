"""Per-call overhead of the Python layer: the public fused call minus the raw kernel on the same arrays.

    python benches/call_overhead.py                     # 256 x 1,000 float32 and 1 x 1,000, both backends
    python benches/call_overhead.py --rows 256 --classes 1000 --threads 1,2 --rounds 15

Overhead is defined as issue 5 defines it: the time of ``softmax_cross_entropy_with_grad`` (with
``out=`` and allocating) minus the time of the backend's ``softmax_ce_labels_loss_grad`` called directly
on preallocated arrays with the same thread count. On a shared machine absolute times are noisy, so the
variants are timed interleaved (A, B, C, A, B, C, ...) in one process, each round the median of a batch
of calls, and the medians of the rounds are reported.
"""

import argparse
import time

import numpy as np

import fastxent
from fastxent._backends import load_backend


def _batch_median(fn, calls):
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def variants(backend, rows, classes, n_threads, seed=0):
    """The callables timed for one backend: raw kernel, public call with ``out=``, public allocating."""
    rng = np.random.default_rng(seed)
    logits = (rng.standard_normal((rows, classes)) * 3).astype(np.float32)
    labels = rng.integers(0, classes, rows)
    kernels = load_backend(backend)
    grad = np.empty_like(logits)
    row_loss = np.empty(rows)
    ones_c, ones_n = np.ones(classes), np.ones(rows)
    raw = kernels.softmax_ce_labels_loss_grad
    public = fastxent.softmax_cross_entropy_with_grad

    def kernel():
        raw(logits, labels, ones_c, ones_n, -100, 0.0, 1.0 / rows, row_loss, grad, n_threads)
        row_loss.sum()  # the public call's reduction is part of the work, not of the overhead

    return {
        "kernel": kernel,
        "public out=": lambda: public(logits, labels, out=grad, backend=backend, n_threads=n_threads),
        "public alloc": lambda: public(logits, labels, backend=backend, n_threads=n_threads),
    }


def measure(backend, rows, classes, n_threads, rounds, calls):
    """Median over ``rounds`` interleaved rounds of each variant's per-call median, in seconds."""
    fns = variants(backend, rows, classes, n_threads)
    for fn in fns.values():  # warm-up: JIT load, thread-pool start, page faults
        for _ in range(20):
            fn()
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(_batch_median(fn, calls))
    return {name: float(np.median(values)) for name, values in samples.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="256,1", help="comma-separated row counts")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--backend", default="cython,numba")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--calls", type=int, default=200, help="calls per round and variant")
    args = parser.parse_args(argv)
    print(f"{'backend':7} {'shape':>10} {'thr':>3} {'kernel':>9} {'out=':>9} {'alloc':>9} "
          f"{'ovh out=':>9} {'ovh alloc':>9}   (microseconds)")
    for backend in args.backend.split(","):
        for rows in (int(r) for r in args.rows.split(",")):
            for n_threads in (int(t) for t in args.threads.split(",")):
                t = measure(backend, rows, args.classes, n_threads, args.rounds, args.calls)
                k, o, a = (1e6 * t[name] for name in ("kernel", "public out=", "public alloc"))
                print(f"{backend:7} {f'{rows}x{args.classes}':>10} {n_threads:>3} {k:9.1f} {o:9.1f} {a:9.1f} "
                      f"{o - k:9.1f} {a - k:9.1f}", flush=True)


if __name__ == "__main__":
    main()
