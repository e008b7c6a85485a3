"""Interleaved timing of the loss of column-major (Fortran-order) logits.

    python benches/column_major.py W1 W3 --rounds 15

The logits of a softmax workload in Fortran order, scored by each backend (which copies them into
rows a block at a time with its ``transpose`` kernel), against NumPy's transposing copy followed by the
Cython kernel, and against the same logits in row-major order. One call of each per round, round-robin
in one process (absolute times drift on a shared machine); medians are reported. Every result is
checked against float64 maths first (which also loads the JIT caches).
"""

import argparse

import numpy as np

import fastxent
from fastxent import benchmarking


def measure(name, rounds, threads):
    """``{competitor: median seconds}`` for one softmax workload."""
    workload = benchmarking.WORKLOADS[name]
    if workload.kind != "softmax":
        raise SystemExit(f"{name} is not a softmax workload")
    rows, target = benchmarking.make_inputs(workload)
    wanted = benchmarking.reference_loss(workload, rows, target)
    columns = np.asfortranarray(rows)

    def loss(logits, backend):
        return lambda: fastxent.softmax_cross_entropy(logits, target, backend=backend, n_threads=threads)

    calls = {"cython": loss(columns, "cython"), "numba": loss(columns, "numba"),
             "NumPy copy + cython": lambda: loss(np.ascontiguousarray(columns), "cython")(),
             "row-major cython": loss(rows, "cython")}
    for competitor, call in calls.items():
        got = float(call())
        if abs(got - wanted) > 1e-4 * abs(wanted):
            raise SystemExit(f"{name} {competitor}: loss {got} != {wanted}")
    times = {competitor: [] for competitor in calls}
    for _ in range(rounds):
        for competitor, call in calls.items():
            times[competitor].append(benchmarking.time_calls(call, 1, 0.0)[0])
    return {competitor: float(np.median(t)) for competitor, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workloads", nargs="*", default=["W1", "W3"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("| workload | " + " | ".join(("cython", "numba", "NumPy copy + cython", "row-major cython")) + " |")
    print("|---|---|---|---|---|")
    for name in args.workloads:
        result = measure(name, args.rounds, args.threads)
        print(f"| {name} | " + " | ".join(f"{seconds * 1e3:.1f} ms" for seconds in result.values()) + " |")


if __name__ == "__main__":
    main()
