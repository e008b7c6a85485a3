"""The benchmarks users run (``fastxent bench``): fastxent against textbook NumPy, SciPy and the peers
(scikit-learn, PyTorch, JAX, when importable), each as a multiple of the memory floor measured in the
same run.

Every competitor's result is checked against float64 maths before it is timed (which also warms up
the Numba JIT and the peers' own compilers), so compile time never enters a measurement. Times are
medians of several calls; the floor is a multithreaded copy of the same bytes (softmax: read the
logits, write one array of their size; binary: read the logits and the targets, write one array).
fastxent's loss-only calls are measured against a read floor (the inputs summed once). The floors and
fastxent's calls are timed interleaved, one call of each per round, so that a drift of the machine's
memory bandwidth during the run moves them together and their ratios stay meaningful.
"""

import importlib
import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

import fastxent
from fastxent import _backends
from fastxent._naive import naive_binary_cross_entropy_with_grad, naive_softmax_cross_entropy_with_grad

__all__ = ["WORKLOADS", "Workload", "Measurement", "run_benchmarks", "machine_facts", "format_table",
           "plot_results"]


@dataclass(frozen=True)
class Workload:
    """One benchmark problem: ``kind`` "softmax" (integer labels), "binary" or "multilabel"."""

    name: str
    kind: str
    shape: tuple
    dtype: str
    description: str

    def sized(self, quick, dtype=None):
        """This workload with its rows divided by 10 for ``quick`` (at least 256 rows) and its dtype
        replaced by ``dtype`` when given."""
        rows = self.shape[0] if not quick else max(min(self.shape[0], 256), self.shape[0] // 10)
        return Workload(self.name, self.kind, (rows, *self.shape[1:]), dtype or self.dtype, self.description)


WORKLOADS = {w.name: w for w in (
    Workload("W1", "softmax", (100_000, 1_000), "float32", "softmax CE, 100,000 x 1,000"),
    Workload("W2", "softmax", (100_000, 1_000), "float64", "softmax CE, 100,000 x 1,000"),
    Workload("W3", "softmax", (2_000_000, 10), "float32", "softmax CE, 2,000,000 x 10 (small C)"),
    Workload("W4", "binary", (50_000_000,), "float32", "binary CE with logits, 50,000,000"),
    Workload("W5", "multilabel", (200_000, 500), "float32", "multi-label CE, 200,000 x 500"),
    Workload("W6", "softmax", (4_096, 131_072), "float32", "softmax CE, 4,096 x 131,072 (large vocabulary)"),
    Workload("small", "softmax", (256, 1_000), "float32", "softmax CE, 256 x 1,000 (call overhead)"),
)}


@dataclass
class Measurement:
    """One competitor on one workload. Times in seconds; ratios are None when undefined."""

    workload: str
    shape: tuple
    dtype: str
    competitor: str
    family: str          # "fastxent", "floor", "baseline" (NumPy, SciPy) or "peer"
    threads: int
    median_s: float
    min_s: float
    rounds: int
    gb_per_s: float
    operation: str = "loss+grad"  # or "loss": fastxent's loss-only calls and the read floor
    x_floor: object = None
    speedup_vs_naive: object = None
    speedup_vs_fastest_peer: object = None
    peak_extra_bytes: object = None  # with memory=True: the call's peak resident memory above its inputs


class Unavailable(Exception):
    """A competitor that cannot run here (a peer that is not installed); the message says why."""


def _require(module, package):
    """``import module``, or Unavailable naming ``package`` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(f"{package} is not installed ({exc})") from None


def make_inputs(workload, seed=1234):
    """Logits ~ N(0, 3) of the workload's shape and dtype, and labels (softmax) or 0/1 targets."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=workload.shape).astype(workload.dtype)
    if workload.kind == "softmax":
        return logits, rng.integers(0, workload.shape[-1], size=workload.shape[0])
    return logits, (rng.random(workload.shape) < 0.3).astype(workload.dtype)


def bytes_moved(workload, logits, target, operation="loss+grad"):
    """The compulsory traffic: inputs read once, and for "loss+grad" the gradient written once."""
    return logits.nbytes * (2 if operation == "loss+grad" else 1) + target.nbytes


# --------------------------------------------------------------------------- competitors


_FUSED = {"softmax": "softmax_cross_entropy_with_grad", "binary": "binary_cross_entropy_with_logits_with_grad",
          "multilabel": "multilabel_cross_entropy_with_grad"}
_LOSS_ONLY = {"softmax": "softmax_cross_entropy", "binary": "binary_cross_entropy_with_logits",
              "multilabel": "multilabel_cross_entropy"}


def _fastxent(backend, threads, mode):
    """fastxent's call: ``mode`` "out" (fused, into a preallocated gradient), "alloc" (fused, the call
    allocates the gradient) or "loss" (the loss only). ``make``'s ``out`` is the preallocated
    gradient for "out" (one buffer can serve several competitors; None: a new one)."""
    def make(workload, logits, target, out=None):
        function = getattr(fastxent, (_LOSS_ONLY if mode == "loss" else _FUSED)[workload.kind])
        if mode == "loss":
            return lambda: function(logits, target, backend=backend, n_threads=threads)
        if mode == "alloc":
            out = None
        elif out is None:
            out = np.empty_like(logits)
        return lambda: function(logits, target, backend=backend, n_threads=threads, out=out)
    return make


def _naive(workload, logits, target):
    if workload.kind == "softmax":
        return lambda: naive_softmax_cross_entropy_with_grad(logits, target)
    return lambda: naive_binary_cross_entropy_with_grad(logits, target, workload.kind == "multilabel")


def _scale(workload, logits):
    return logits.shape[0] if workload.kind != "binary" else logits.size


def _scipy(workload, logits, target):
    special = _require("scipy.special", "scipy")
    scale = _scale(workload, logits)
    if workload.kind == "softmax":
        rows = np.arange(logits.shape[0])

        def run():
            logp = special.log_softmax(logits, axis=1)
            grad = np.exp(logp)
            grad[rows, target] -= 1
            return float(-np.mean(logp[rows, target])), grad / scale
        return run

    def run_binary():
        loss = -np.sum(target * special.log_expit(logits) + (1 - target) * special.log_expit(-logits),
                       dtype=np.float64)
        return loss / scale, (special.expit(logits) - target) / scale
    return run_binary


def _sklearn(threads):
    def make(workload, logits, target):
        sk_loss = _require("sklearn._loss.loss", "scikit-learn")
        scale = _scale(workload, logits)
        if workload.kind == "softmax":
            loss = sk_loss.HalfMultinomialLoss(n_classes=logits.shape[1])
            y = target.astype(logits.dtype)
            raw = logits
        else:
            loss = sk_loss.HalfBinomialLoss()
            y, raw = target.reshape(-1), logits.reshape(-1)

        def run():
            values, grad = loss.loss_gradient(y_true=y, raw_prediction=raw, n_threads=threads)
            return float(np.sum(values, dtype=np.float64)) / scale, (grad / scale).reshape(logits.shape)
        return run
    return make


def _torch(threads):
    def make(workload, logits, target):
        torch = _require("torch", "torch")
        F = torch.nn.functional
        x = torch.from_numpy(logits)
        t = torch.from_numpy(target)
        if workload.kind == "multilabel":
            def loss_of(z):
                return F.binary_cross_entropy_with_logits(z, t, reduction="sum") / z.shape[0]
        elif workload.kind == "binary":
            def loss_of(z):
                return F.binary_cross_entropy_with_logits(z, t)
        else:
            def loss_of(z):
                return F.cross_entropy(z, t)

        def run():
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                z = x.detach().requires_grad_(True)
                value = loss_of(z)
                value.backward()
                return float(value.detach()), z.grad.numpy()
            finally:
                torch.set_num_threads(previous)
        return run
    return make


def _jax(workload, logits, target):
    jax = _require("jax", "jax")
    jnp = jax.numpy
    z, t = jnp.asarray(logits), jnp.asarray(target)  # moved to the device once, outside the timing
    if workload.kind == "softmax":
        def loss_of(z, t):
            logp = jax.nn.log_softmax(z, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))
    else:
        scale = _scale(workload, logits)

        def loss_of(z, t):
            return -jnp.sum(t * jax.nn.log_sigmoid(z) + (1 - t) * jax.nn.log_sigmoid(-z)) / scale
    # the targets are an argument, not a closed-over constant (XLA would constant-fold them)
    value_and_grad = jax.jit(jax.value_and_grad(loss_of))

    def run():
        value, grad = value_and_grad(z, t)
        grad.block_until_ready()
        return float(value), grad
    return run


def competitors(backends, threads):
    """``(name, family, threads, make)`` of every competitor (``make(workload, logits, target)``
    returns the timed callable or raises Unavailable)."""
    rows = []
    for backend in backends:
        for n in threads:
            rows.append((f"fastxent {backend} out=", "fastxent", n, _fastxent(backend, n, "out")))
            rows.append((f"fastxent {backend}", "fastxent", n, _fastxent(backend, n, "alloc")))
    rows += [("numpy naive", "baseline", 1, _naive), ("scipy", "baseline", 1, _scipy)]
    for n in sorted(set(threads)):
        rows += [("scikit-learn", "peer", n, _sklearn(n)), ("pytorch", "peer", n, _torch(n))]
    rows.append(("jax", "peer", 0, _jax))  # XLA picks its own threads
    return rows


def loss_only_competitors(backends, threads):
    """``(name, family, threads, make)`` of fastxent's loss-only calls (measured against the read floor)."""
    return [(f"fastxent {backend} loss only", "fastxent", n, _fastxent(backend, n, "loss"))
            for backend in backends for n in threads]


# --------------------------------------------------------------------------- checking and timing


def reference_loss(workload, logits, target, chunk_elements=1 << 22):
    """The mean loss in float64, computed in chunks of rows (memory stays small)."""
    rows = max(1, chunk_elements // max(1, logits.size // max(1, logits.shape[0])))
    total = 0.0
    for start in range(0, logits.shape[0], rows):
        z = logits[start:start + rows].astype(np.float64)
        y = target[start:start + rows]
        if workload.kind == "softmax":
            total += naive_softmax_cross_entropy_with_grad(z, y)[0] * z.shape[0]
        else:
            total += naive_binary_cross_entropy_with_grad(z, y.astype(np.float64))[0] * z.size
    return total / _scale(workload, logits)


def check_result(workload, result, logits, target, wanted_loss, elements=4096):
    """Raise AssertionError unless ``result = (loss, grad)`` agrees with float64 maths (the loss to
    1e-4 relative, the first gradient elements to 1e-4 in units of the unscaled gradient)."""
    loss, grad = result
    if not abs(float(loss) - wanted_loss) <= 1e-4 * abs(wanted_loss):
        raise AssertionError(f"loss {float(loss)} differs from the float64 reference {wanted_loss}")
    scale = _scale(workload, logits)
    rows = max(1, elements // max(1, logits.size // max(1, logits.shape[0])))
    z, y = logits[:rows].astype(np.float64), target[:rows]
    if workload.kind == "softmax":
        wanted = naive_softmax_cross_entropy_with_grad(z, y)[1] * z.shape[0]
    else:
        wanted = naive_binary_cross_entropy_with_grad(z, y.astype(np.float64))[1] * z.size
    got = np.asarray(grad)[:rows].astype(np.float64) * scale
    if not np.max(np.abs(got - wanted), initial=0.0) <= 1e-4:
        raise AssertionError("the gradient differs from the float64 reference")


def check_loss(workload, loss, wanted_loss):
    """Raise AssertionError unless a loss-only call's ``loss`` agrees with float64 maths (1e-4 relative)."""
    if not abs(float(loss) - wanted_loss) <= 1e-4 * abs(wanted_loss):
        raise AssertionError(f"loss {float(loss)} differs from the float64 reference {wanted_loss}")


def time_calls(fn, repeats, max_seconds):
    """``(median, min, rounds)`` of ``fn()``'s wall time over ``repeats`` calls (fewer, at least 3,
    when they exceed ``max_seconds`` in total)."""
    times = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() < deadline):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), float(min(times)), len(times)


def time_interleaved(fns, repeats, max_seconds):
    """`time_calls` for several callables at once, round-robin: each round calls every one of ``fns``
    (a dict) once, so that they all see the same machine. Returns ``{name: (median, min, rounds)}``."""
    times = {name: [] for name in fns}
    deadline = time.perf_counter() + max_seconds * len(fns)
    rounds = 0
    while rounds < repeats and (rounds < 3 or time.perf_counter() < deadline):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        rounds += 1
    return {name: (float(np.median(t)), float(min(t)), rounds) for name, t in times.items()}


def _with_numba_threads(run, threads):
    import numba

    def run_with_threads():
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            run()
        finally:
            numba.set_num_threads(previous)
    run_with_threads()  # compiles
    return run_with_threads


def floor_copy(workload, logits, target, threads):
    """The memory floor's callable: a ``prange`` copy of the same traffic (Numba)."""
    import numba

    @numba.njit(parallel=True, cache=False)
    def read_one_write_one(dst, a):
        for i in numba.prange(a.shape[0]):
            dst[i] = a[i]

    @numba.njit(parallel=True, cache=False)
    def read_two_write_one(dst, a, b):
        for i in numba.prange(a.shape[0]):
            dst[i] = a[i] + b[i]

    flat = logits.reshape(-1)
    dst = np.empty_like(flat)
    if workload.kind == "softmax":
        def run():
            read_one_write_one(dst, flat)
    else:
        second = target.reshape(-1)

        def run():
            read_two_write_one(dst, flat, second)
    return _with_numba_threads(run, threads)


def floor_read(workload, logits, target, threads):
    """The loss-only call's floor: a ``prange`` sum of the inputs it must read (softmax: the logits;
    binary: the logits and the targets), vectorised (reassociated: the value is not used)."""
    import numba

    @numba.njit(parallel=True, cache=False, fastmath={"reassoc", "nsz"})
    def read_one(a):
        total = 0.0
        for i in numba.prange(a.shape[0]):
            total += a[i]
        return total

    @numba.njit(parallel=True, cache=False, fastmath={"reassoc", "nsz"})
    def read_two(a, b):
        total = 0.0
        for i in numba.prange(a.shape[0]):
            total += a[i] + b[i]
        return total

    flat = logits.reshape(-1)
    if workload.kind == "softmax":
        def run():
            read_one(flat)
    else:
        second = target.reshape(-1)

        def run():
            read_two(flat, second)
    return _with_numba_threads(run, threads)


def run_benchmarks(workloads, backends, threads, *, quick=False, dtype=None, repeats=None, progress=None,
                   skipped=None, memory=False):
    """Run every competitor on every workload.

    Parameters
    ----------
    workloads : list of str
        Names in ``WORKLOADS``.
    backends : list of str
        fastxent backends ("cython", "numba").
    threads : list of int
        Thread counts for fastxent and the peers.
    quick : bool
        Rows / 10 and fewer repeats.
    dtype : {"float32", "float64"}, optional
        Overrides each workload's dtype.
    repeats : int, optional
        Calls per median (default 7, quick 3).
    progress : callable, optional
        Called with a short label before each measurement (e.g. a progress bar's update).
    skipped : list, optional
        Receives ``(workload, competitor, reason)`` for competitors that could not run.
    memory : bool
        Also measure each competitor's peak extra resident memory (`peak_extra_memory`, one fresh
        process per competitor; Linux only).

    Returns
    -------
    list of Measurement
    """
    repeats = repeats or (3 if quick else 7)
    max_seconds = 1.0 if quick else 3.0
    results = []
    for name in workloads:
        workload = WORKLOADS[name].sized(quick, dtype)
        logits, target = make_inputs(workload)
        wanted = reference_loss(workload, logits, target)
        measured = []

        def record(label, family, n, operation, timing, peak=None):
            median, low, rounds = timing
            traffic = bytes_moved(workload, logits, target, operation)
            measured.append(Measurement(name, workload.shape, workload.dtype, label, family, n, median, low, rounds,
                                        traffic / median / 1e9, operation, peak_extra_bytes=peak))

        # The floors and fastxent's calls, checked, then timed interleaved; one gradient buffer serves
        # every out= call.
        out = np.empty_like(logits)
        timed = {}
        for n in sorted(set(threads)):
            if progress:
                progress(f"{name} floors t{n}")
            timed[("memory floor (copy)", "floor", n, "loss+grad")] = floor_copy(workload, logits, target, n)
            timed[("memory floor (read)", "floor", n, "loss")] = floor_read(workload, logits, target, n)
        for operation, rows in (("loss+grad", competitors(backends, threads)),
                                ("loss", loss_only_competitors(backends, threads))):
            for label, family, n, make in rows:
                if family != "fastxent":
                    continue
                if progress:
                    progress(f"{name} {label} t{n} (check)")
                fn = make(workload, logits, target, out=out)
                result = fn()
                if operation == "loss":
                    check_loss(workload, result, wanted)
                else:
                    check_result(workload, result, logits, target, wanted)
                del result
                timed[(label, family, n, operation)] = fn
        if progress:
            progress(f"{name} floors and fastxent, interleaved")
        for key, timing in time_interleaved(timed, repeats, max_seconds).items():
            label, family, n, operation = key
            peak = (peak_extra_memory(name, label, n, quick, dtype)
                    if memory and family == "fastxent" else None)
            record(label, family, n, operation, timing, peak)
        del timed, out

        for label, family, n, make in competitors(backends, threads):
            if family == "fastxent":
                continue
            if progress:
                progress(f"{name} {label}" + (f" t{n}" if n else ""))
            try:
                fn = make(workload, logits, target)
                check_result(workload, fn(), logits, target, wanted)
            except Exception as exc:  # noqa: BLE001 - a peer's failure is reported, not raised
                if skipped is not None:
                    reason = str(exc) if isinstance(exc, Unavailable) else f"failed: {type(exc).__name__}: {exc}"
                    skipped.append((name, label, reason))
                continue
            timing = time_calls(fn, repeats, max_seconds)
            del fn
            record(label, family, n, "loss+grad", timing,
                   peak_extra_memory(name, label, n, quick, dtype) if memory else None)
        _add_ratios(measured)
        results += measured
        del logits, target
    return results


def _resident_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _peak_extra_in_this_process(workload_name, competitor, threads, quick, dtype):
    import gc

    workload = WORKLOADS[workload_name].sized(quick, dtype)
    logits, target = make_inputs(workload)
    rows = competitors(["cython", "numba"], [threads]) + loss_only_competitors(["cython", "numba"], [threads])
    make = next(m for label, _, n, m in rows if label == competitor and n in (threads, 0))
    fn = make(workload, logits, target)
    fn()  # warm-up: JIT compiles and thread pools start outside the measurement
    gc.collect()
    baseline = _resident_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM, the peak resident size, to the current size
    result = fn()
    peak = _resident_kib("VmHWM")
    del result
    return (peak - baseline) * 1024


def peak_extra_memory(workload_name, competitor, threads, quick=False, dtype=None):
    """Peak resident memory (bytes) of one call of ``competitor`` above the process's size with its
    inputs in memory and the call warmed up once: the temporaries plus the returned gradient. Measured
    in a fresh process (Linux ``/proc/self/clear_refs``); None where that is not available."""
    import multiprocessing

    if not os.path.exists("/proc/self/clear_refs"):
        return None
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_peak_extra_in_this_process, (workload_name, competitor, threads, quick, dtype))


def _add_ratios(measured):
    """Each row's multiple of its operation's fastest floor; for loss + gradient rows also the speed-ups
    over textbook NumPy and the fastest peer (which are timed for loss + gradient only)."""
    floors = {op: min((m.median_s for m in measured if m.family == "floor" and m.operation == op), default=None)
              for op in ("loss+grad", "loss")}
    naive = next((m.median_s for m in measured if m.competitor == "numpy naive"), None)
    peer = min((m.median_s for m in measured if m.family == "peer"), default=None)
    for m in measured:
        floor = floors[m.operation]
        m.x_floor = m.median_s / floor if floor else None
        if m.operation == "loss+grad":
            m.speedup_vs_naive = naive / m.median_s if naive else None
            m.speedup_vs_fastest_peer = peer / m.median_s if peer else None


# --------------------------------------------------------------------------- reporting


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts():
    """The machine and the versions a benchmark ran with (a dict of str)."""
    facts = {"cpu": _cpu_model(), "usable cores": str(fastxent._threads.usable_cores()),
             "logical cpus": str(os.cpu_count()), "python": platform.python_version(),
             "numpy": np.__version__, "fastxent": fastxent.__version__}
    try:
        import numba
        facts["numba"] = numba.__version__
    except ImportError:
        facts["numba"] = "not installed"
    if _backends.is_available("cython"):
        ext = _backends.load_backend("cython")
        facts["compiler"] = f"{ext.BUILD_INFO['compiler_id']} {ext.BUILD_INFO['compiler_version']}"
        facts["compiler flags"] = ext.BUILD_INFO["c_flags"]
        facts["openmp"] = "enabled" if ext.OPENMP_ENABLED else "DISABLED"
    for module in ("scipy", "sklearn", "torch", "jax"):
        try:
            facts[module] = __import__(module).__version__
        except ImportError:
            facts[module] = "not installed"
    return facts


def _ratio(value):
    return "" if value is None else f"{value:.2f}"


def format_table(results):
    """A plain-text table of ``results`` grouped by workload."""
    header = ("workload", "competitor", "threads", "median", "GB/s", "x floor", "x naive", "x peer")
    # per workload, loss + gradient first, then the loss-only rows with their read floor
    order = {name: k for k, name in enumerate(dict.fromkeys(m.workload for m in results))}
    results = sorted(results, key=lambda m: (order[m.workload], m.operation != "loss+grad"))
    with_memory = any(m.peak_extra_bytes is not None for m in results)
    header += ("peak extra MB",) if with_memory else ()
    rows = [header]
    for m in results:
        row = (m.workload, m.competitor, str(m.threads) if m.threads else "auto", _seconds(m.median_s),
               f"{m.gb_per_s:.1f}", _ratio(m.x_floor), _ratio(m.speedup_vs_naive),
               _ratio(m.speedup_vs_fastest_peer))
        if with_memory:
            row += ("" if m.peak_extra_bytes is None else f"{m.peak_extra_bytes / 1e6:.0f}",)
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for k, row in enumerate(rows):
        if k > 1 and row[0] != rows[k - 1][0]:
            lines.append("")
        lines.append("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines)


def _seconds(value):
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} us"


def as_json(results, machine, skipped):
    return {"machine": machine, "results": [asdict(m) for m in results],
            "skipped": [{"workload": w, "competitor": c, "reason": r} for w, c, r in skipped]}


def plot_results(results, path):
    """Median time per workload per competitor (log scale), the memory floor marked; PNG at ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(m.workload for m in results))
    figure, axes = plt.subplots(len(workloads), 1, figsize=(9, 2.0 + 0.32 * max(
        sum(1 for m in results if m.workload == w) for w in workloads) * len(workloads)), squeeze=False)
    for ax, name in zip(axes[:, 0], workloads):
        rows = [m for m in results if m.workload == name and m.family != "floor" and m.operation == "loss+grad"]
        labels = [f"{m.competitor}" + (f" t{m.threads}" if m.threads else "") for m in rows]
        colors = [{"fastxent": "tab:blue", "baseline": "tab:gray", "peer": "tab:orange"}[m.family] for m in rows]
        ax.barh(range(len(rows)), [m.median_s for m in rows], color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.set_xscale("log")
        ax.invert_yaxis()
        floor = min((m.median_s for m in results if m.workload == name and m.family == "floor"
                     and m.operation == "loss+grad"), default=None)
        if floor:
            ax.axvline(floor, color="tab:red", linestyle="--", linewidth=1, label="memory floor")
            ax.legend(fontsize=7, loc="lower right")
        shape = " x ".join(f"{n:,}" for n in rows[0].shape) if rows else ""
        ax.set_title(f"{name}: {WORKLOADS[name].kind} cross-entropy, {shape} {rows[0].dtype if rows else ''}",
                     fontsize=9)
        ax.set_xlabel("median time per loss + gradient call (s)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
