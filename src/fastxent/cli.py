"""Command line: ``fastxent`` / ``python -m fastxent``.

``fastxent demo`` (also with no command) writes a synthetic prediction file, scores it and compares
with textbook NumPy; ``fastxent score`` scores a prediction file; ``fastxent check`` runs every backend
against NumPy; ``fastxent info`` describes the installation; ``fastxent bench`` benchmarks fastxent
against NumPy, SciPy and the peers. A failing command exits non-zero with a one-line reason on stderr.
"""

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

import fastxent
from fastxent import _backends
from fastxent._naive import naive_softmax_cross_entropy_with_grad


def _median_seconds(fn, repeats):
    from fastxent.benchmarking import time_calls

    return time_calls(fn, repeats, max_seconds=float("inf"))[0]


def _numba_facts():
    try:
        import numba
    except ImportError as exc:
        return {"numba": f"not importable ({exc})"}
    facts = {"numba": numba.__version__, "numba max threads": numba.config.NUMBA_NUM_THREADS}
    if _backends.is_available("numba"):
        fastxent.logsumexp(np.zeros((1, 1)), backend="numba", n_threads=1)  # starts the thread pool
        facts["numba threading layer"] = numba.threading_layer()
    return facts


def _cython_facts():
    if not _backends.is_available("cython"):
        return {"cython extension": f"not available ({_backends._failed.get('cython')})"}
    ext = _backends.load_backend("cython")
    facts = {"cython extension": os.path.dirname(sys.modules["fastxent._cython"].__file__), "OpenMP": "enabled" if ext.OPENMP_ENABLED else
             "DISABLED (kernels run single-threaded)", "OpenMP max threads": ext.openmp_max_threads()}
    facts.update({f"build {key}": value for key, value in ext.BUILD_INFO.items()})
    return facts


def info(args):
    """Print versions, backends, OpenMP status, numba threading layer and thread counts."""
    facts = {
        "fastxent": fastxent.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "backends available": ", ".join(fastxent.backends()),
        "backend for 'auto'": _backends.resolve_backend_name("auto"),
        "usable cores": fastxent._threads.usable_cores(),
        "default n_threads": fastxent.get_num_threads(),
    }
    facts.update(_numba_facts())
    facts.update(_cython_facts())
    width = max(map(len, facts))
    for key, value in facts.items():
        print(f"{key:<{width}}  {value}")
    return 0


def check(args):
    """Score random logits with every backend, check them against the reference, and time them."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, size=(args.rows, args.classes)).astype(np.float32)
    labels = rng.integers(0, args.classes, size=args.rows)
    print(f"fastxent {fastxent.__version__}: softmax cross-entropy + gradient of {args.rows:,} x "
          f"{args.classes:,} float32 logits ({logits.nbytes / 1e6:.0f} MB), "
          f"{fastxent.get_num_threads()} threads")
    naive_loss, naive_grad = naive_softmax_cross_entropy_with_grad(logits, labels)
    naive_s = _median_seconds(lambda: naive_softmax_cross_entropy_with_grad(logits, labels), args.repeats)
    print(f"  {'textbook NumPy':<22} loss {naive_loss:.6f}   {naive_s * 1e3:8.1f} ms   1.0x")
    out = np.empty_like(logits)
    for name in fastxent.backends():
        if name == "numpy":
            continue
        loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, labels, backend=name, out=out)
        error = float(np.max(np.abs(grad - naive_grad))) * args.rows
        if not (abs(float(loss) - naive_loss) <= 1e-5 * abs(naive_loss) and error <= 1e-4):
            print(f"error: backend {name} disagrees with NumPy (loss {loss} vs {naive_loss}, "
                  f"grad error {error:.2e})", file=sys.stderr)
            return 1
        seconds = _median_seconds(lambda: fastxent.softmax_cross_entropy_with_grad(
            logits, labels, backend=name, out=out), args.repeats)
        print(f"  {'fastxent ' + name:<22} loss {float(loss):.6f}   {seconds * 1e3:8.1f} ms "
              f"{naive_s / seconds:6.1f}x")
    print("All backends agree with NumPy.")
    return 0


def demo(args):
    """Write a synthetic prediction file (about 1 GB by default), score it, compare with NumPy."""
    from fastxent._demo import run_demo

    return run_demo(args.rows, args.classes, keep=args.keep, progress=None)


def _names(text):
    """``--classes`` / column lists: comma-separated, or ``@FILE`` with one name per line."""
    if text.startswith("@"):
        try:
            names = Path(text[1:]).read_text().splitlines()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]!r}: {exc.strerror}") from None
    else:
        names = text.split(",")
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no names in {text!r}")
    return names


def _columns(text):
    """A glob (kept as one pattern) or a comma-separated list of columns."""
    return text if any(ch in text for ch in "*?[") and "," not in text else _names(text)


def score(args):
    """Score a prediction file: a summary table (or --json) on stdout, a progress bar on stderr."""
    import warnings

    from fastxent import scoring

    options = dict(kind=args.kind, input=args.input, label_column=_single(args.label_column, args.kind),
                   prediction_columns=args.prediction_columns, sample_weight_column=args.sample_weight_column,
                   classes=args.classes, ignore_index=args.ignore_index, strict=args.strict)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if args.dask:
                from fastxent.dask import score_parquet_dataset

                if args.labels or args.per_row_output:
                    raise ValueError("--dask scores a Parquet dataset with its label column; LABELS and "
                                     "--per-row-output are not available with it")
                report = score_parquet_dataset(args.predictions, scheduler=args.dask, **options)
            else:
                report = scoring.score_file(args.predictions, args.labels, chunk_rows=args.chunk_rows,
                                            per_row_output=args.per_row_output, backend=args.backend,
                                            n_threads=args.threads, progress=False if args.quiet else None,
                                            **options)
        except KeyboardInterrupt:
            print("error: interrupted; nothing was written", file=sys.stderr)
            return 130
        except (OSError, ValueError, TypeError, ImportError, MemoryError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    print(report.to_json(indent=2) if args.json else report.summary())
    return 0


def _single(columns, kind):
    """A one-name column list as its name (multi-label labels may be several columns)."""
    if columns is None or isinstance(columns, str) or kind == "multilabel" or len(columns) != 1:
        return columns
    return columns[0]


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _thread_count(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("must not be 0 (a positive count, or -k for all cores but k - 1)")
    return value


def _comma_list(kind, choices=None):
    def parse(text):
        values = [item.strip() for item in text.split(",") if item.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"empty {kind} list")
        try:
            values = [int(item) for item in values] if kind == "threads" else values
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be integers, got {text!r}") from None
        bad = [item for item in values if (choices and item not in choices) or (kind == "threads" and item < 1)]
        if bad:
            allowed = f" (choose from {', '.join(choices)})" if choices else ""
            raise argparse.ArgumentTypeError(f"invalid {kind}: {', '.join(map(str, bad))}{allowed}")
        return values
    return parse


def bench(args):
    """Time every competitor on the chosen workloads; print the table (and write JSON / a plot)."""
    from tqdm import tqdm

    from fastxent import benchmarking

    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("error: --plot needs matplotlib (pip install 'fastxent[bench]')", file=sys.stderr)
            return 1
    machine = benchmarking.machine_facts()
    width = max(map(len, machine))
    for key, value in machine.items():
        print(f"{key:<{width}}  {value}")
    print()
    skipped = []
    backends = [b for b in args.backend if _backends.is_available(b)]
    for missing in sorted(set(args.backend) - set(backends)):
        skipped.append(("*", f"fastxent {missing}", _backends._failed.get(missing, "unavailable")))
    # progress steps per workload: the floors per thread count, one per competitor (fastxent's
    # checks, the others' timings) and loss-only call, and the interleaved timing
    per_workload = (len(set(args.threads)) + len(benchmarking.competitors(backends, args.threads))
                    + len(benchmarking.loss_only_competitors(backends, args.threads)) + 1)
    with tqdm(total=len(args.workload) * per_workload, desc="fastxent bench", unit="run", leave=False,
              disable=None) as bar:
        def progress(label):
            bar.set_postfix_str(label)
            bar.update(1)
        try:
            results = benchmarking.run_benchmarks(args.workload, backends, args.threads, quick=args.quick,
                                                  dtype=args.dtype, repeats=args.repeats, progress=progress,
                                                  skipped=skipped, memory=args.memory)
        except (AssertionError, MemoryError, OSError) as exc:
            print(f"error: fastxent bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    print(benchmarking.format_table(results))
    for workload, competitor, reason in skipped:
        print(f"skipped {competitor} on {workload}: {reason}")
    if args.json:
        _write_atomically(args.json, lambda path: path.write_text(json.dumps(
            benchmarking.as_json(results, machine, skipped), indent=2)))
    if args.plot:
        _write_atomically(args.plot, lambda path: benchmarking.plot_results(results, path))
    return 0


def _write_atomically(target, write):
    """``write(temporary_path)`` beside ``target``, renamed into place only when it succeeds."""
    target = Path(target)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def build_parser():
    parser = argparse.ArgumentParser(prog="fastxent", description="Fast cross-entropy losses and "
                                     "gradients. With no command: the demo (fastxent demo).")
    parser.set_defaults(func=demo, rows=250_000, classes=1_000, keep=None)
    commands = parser.add_subparsers(title="commands")
    demo_parser = commands.add_parser(
        "demo", help="score a synthetic ~1 GB prediction file, compare with NumPy (the default)",
        description="Writes a synthetic prediction file (float32 logits and int64 labels, .npy, in a temporary "
                    "folder removed afterwards), scores it in chunks with a progress bar, prints the report and "
                    "the throughput, and the same computation's time with textbook NumPy.")
    demo_parser.add_argument("--rows", type=_positive_int, default=250_000, help="rows of predictions (default 250,000)")
    demo_parser.add_argument("--classes", type=_positive_int, default=1_000, help="classes (default 1,000: about 1 GB)")
    demo_parser.add_argument("--keep", metavar="DIR", help="write the files into DIR and keep them")
    demo_parser.set_defaults(func=demo)
    score_parser = commands.add_parser(
        "score", help="cross-entropy, accuracy and per-class losses of a prediction file, streamed",
        description="Reads PRED in chunks (.npy, .npz, Parquet, Arrow/Feather, CSV/TSV; never the whole file in "
                    "memory) and prints the mean cross-entropy, accuracy and per-class counts and losses. "
                    "Exit 0 on success; on failure non-zero with the reason on stderr, and no output file.")
    score_parser.add_argument("predictions", metavar="PRED", help="the predictions file")
    score_parser.add_argument("labels", metavar="LABELS", nargs="?",
                              help="a separate labels file (.npy, .npz, Parquet, Arrow, CSV or .txt one per line); "
                                   "default: the label column of PRED")
    score_parser.add_argument("--kind", choices=["softmax", "binary", "multilabel"], default="softmax")
    score_parser.add_argument("--input", choices=["logits", "probs"], default="logits")
    score_parser.add_argument("--label-column", type=_columns, help="default 'label' (multi-label: a list "
                              "column, comma-separated columns or a glob)")
    score_parser.add_argument("--prediction-columns", type=_columns,
                              help="comma-separated columns, a glob like 'p_*', or one list column; default: "
                                   "every column but the label and weight columns")
    score_parser.add_argument("--sample-weight-column")
    score_parser.add_argument("--classes", type=_names, help="class names in index order, comma-separated or "
                              "@FILE (one per line), for text labels")
    score_parser.add_argument("--ignore-index", type=int, default=-100, help="label of rows to skip (default -100)")
    score_parser.add_argument("--strict", action="store_true",
                              help="fail on probabilities outside [0, 1] or rows not summing to 1 (default: warn)")
    score_parser.add_argument("--chunk-rows", type=_positive_int, help="rows per chunk (default: about 32 MiB)")
    score_parser.add_argument("--threads", type=_thread_count, help="threads (default: all usable cores)")
    score_parser.add_argument("--backend", choices=["auto", "cython", "numba", "numpy"], default="auto")
    score_parser.add_argument("--per-row-output", metavar="PATH", help="write each row's loss to PATH (.npy or "
                              ".parquet), in place only when the run succeeds")
    score_parser.add_argument("--json", action="store_true", help="print the report as JSON")
    score_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    score_parser.add_argument("--dask", metavar="ADDRESS", help="score a Parquet dataset (a folder or glob) on the "
                              "Dask scheduler at ADDRESS, or 'local' for a local cluster")
    score_parser.set_defaults(func=score)
    check_parser = commands.add_parser("check", help="every backend against NumPy on random logits, timed")
    check_parser.add_argument("--rows", type=_positive_int, default=20_000)
    check_parser.add_argument("--classes", type=_positive_int, default=1_000)
    check_parser.add_argument("--repeats", type=_positive_int, default=5)
    check_parser.set_defaults(func=check)
    info_parser = commands.add_parser("info", help="versions, backends, OpenMP and thread counts")
    info_parser.set_defaults(func=info)
    from fastxent.benchmarking import WORKLOADS
    bench_parser = commands.add_parser(
        "bench", help="benchmark fastxent against NumPy, SciPy and the peers, with the memory floor",
        description="Times the fused loss + gradient of each workload for every competitor (fastxent "
                    "backends, textbook NumPy, SciPy, and scikit-learn / PyTorch / JAX when importable), "
                    "each checked against float64 maths first, and reports median time, GB/s, the "
                    "multiple of the memory floor (a copy of the same bytes, measured in the same run) "
                    "and the speed-up over naive NumPy and over the fastest peer; then fastxent's "
                    "loss-only calls against a read floor (the inputs read once). The floors and "
                    "fastxent's calls are timed interleaved, one call of each per round. Workloads: "
                    + "; ".join(f"{w.name}: {w.description}, {w.dtype}" for w in WORKLOADS.values()))
    bench_parser.add_argument("--workload", type=_comma_list("workload", list(WORKLOADS)),
                              default=["W1", "W3", "W4", "W5", "small"],
                              help="comma-separated (default W1,W3,W4,W5,small; W2 and W6 take longer)")
    bench_parser.add_argument("--backend", type=_comma_list("backend", ["cython", "numba"]),
                              default=["cython", "numba"], help="fastxent backends (default cython,numba)")
    bench_parser.add_argument("--threads", type=_comma_list("threads"), default=[1, 2],
                              help="thread counts for fastxent and the peers (default 1,2)")
    bench_parser.add_argument("--dtype", choices=["float32", "float64"], help="override the workloads' dtype")
    bench_parser.add_argument("--quick", action="store_true", help="a tenth of the rows and fewer repeats")
    bench_parser.add_argument("--repeats", type=_positive_int, help="calls per median (default 7, --quick 3)")
    bench_parser.add_argument("--memory", action="store_true",
                              help="also measure each competitor's peak extra memory (a fresh process each)")
    bench_parser.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    bench_parser.add_argument("--plot", metavar="PATH.png", help="draw the results (needs matplotlib)")
    bench_parser.set_defaults(func=bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)
