"""Interleaved timing of the fused loss + gradient (``out=`` preallocated) against the memory floor.

    python benches/kernel_ratios.py W3 W6 --backends cython,numba --threads 2 --rounds 15

On a shared machine absolute times drift from one second to the next, so the floor (the same copy that
``fastxent bench`` measures) and every backend are timed round-robin in one process, one call each per
round, and each is reported as the median of its own times and as the median over rounds of its time
divided by that round's floor time. Results are checked against float64 maths first (which also loads
the JIT caches).
"""

import argparse

import numpy as np

import fastxent
from fastxent import benchmarking


def _timed(fn):
    return benchmarking.time_calls(fn, 1, 0.0)[0]


def measure(name, backends, threads, rounds, quick=False):
    """``{label: (median seconds, median ratio to the floor)}`` for one workload."""
    workload = benchmarking.WORKLOADS[name].sized(quick)
    logits, target = benchmarking.make_inputs(workload)
    wanted = benchmarking.reference_loss(workload, logits, target)
    out = np.empty_like(logits)
    calls = {"floor": benchmarking.floor_copy(workload, logits, target, threads)}
    for backend in backends:
        # the workload's fused call (softmax, binary or multi-label) into the preallocated gradient
        call = benchmarking._fastxent(backend, threads, "out")(workload, logits, target, out)
        benchmarking.check_result(workload, call(), logits, target, wanted)
        calls[backend] = call
    times = {label: [] for label in calls}
    for _ in range(rounds):
        for label, call in calls.items():
            times[label].append(_timed(call))
    floor = np.array(times["floor"])
    return {label: (float(np.median(t)), float(np.median(np.array(t) / floor))) for label, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workloads", nargs="+")
    parser.add_argument("--backends", default="cython,numba")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for name in args.workloads:
        results = measure(name, args.backends.split(","), args.threads, args.rounds, args.quick)
        cells = "  ".join(f"{label} {seconds * 1e3:7.2f} ms x{ratio:5.2f}"
                          for label, (seconds, ratio) in results.items())
        print(f"{name} t{args.threads}: {cells}", flush=True)


if __name__ == "__main__":
    main()
