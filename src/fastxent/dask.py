"""fastxent beyond one machine: the losses over ``dask.array`` inputs and scoring of Parquet datasets.

Each block (partition) is computed by fastxent's kernels; the partial results are exact sums
(`fastxent._exact_sum`) combined in a tree, so a mean is bitwise the same for any chunking, any
number of workers, and equal to the single-process `fastxent.score_file` of the same data. Needs the
``dask`` extra: ``pip install 'fastxent[dask]'``.

Inside Dask tasks fastxent uses ``n_threads=1`` unless told otherwise: Dask runs one task per worker
thread already.
"""

import contextlib
import time

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("fastxent.dask needs dask: pip install 'fastxent[dask]'") from exc

from fastxent import _validation as v
from fastxent import binary as _binary
from fastxent._exact_sum import ExactSum
from fastxent.scoring import ScoreState, ScoringOptions
from fastxent.softmax import _check_kernel_result, _prepare as _prepare_softmax

__all__ = [
    "softmax_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
    "multilabel_cross_entropy",
    "score_parquet_dataset",
]

SPLIT_EVERY = 8  # partial results combined per tree node


def _tree_reduce(parts, combine):
    """Combine delayed ``parts`` pairwise-ish in a fixed tree of fan-in `SPLIT_EVERY`."""
    combine = dask.delayed(combine, pure=True)
    while len(parts) > 1:
        parts = [combine(*parts[i:i + SPLIT_EVERY]) for i in range(0, len(parts), SPLIT_EVERY)]
    return parts[0]


def _merge_sums(*parts):
    total, denominator = ExactSum(), ExactSum()
    for part_total, part_denominator in parts:
        total.merge(part_total)
        denominator.merge(part_denominator)
    return total, denominator


def _finish(parts, reduction, dtype, name):
    total, denominator = parts
    if reduction == "sum":
        return np.asarray(total.value, dtype=dtype)
    if denominator.units == 0 and denominator._special() is None:
        import warnings

        warnings.warn(f"{name}: reduction='mean' over zero total weight is NaN", RuntimeWarning, stacklevel=2)
    with np.errstate(over="ignore"):
        return np.asarray(total.ratio(denominator), dtype=dtype)


def _as_dask(array):
    return array if isinstance(array, da.Array) else da.from_array(np.asarray(array), chunks="auto")


def _rows_like(array, rows_chunks, name, trailing):
    """``array`` as a dask array whose row chunks match ``rows_chunks`` (trailing axes one chunk)."""
    if array is None:
        return None
    array = _as_dask(array)
    if array.shape[0] != sum(rows_chunks):
        raise ValueError(f"{name} has {array.shape[0]} rows, the logits {sum(rows_chunks)}")
    return array.rechunk((rows_chunks, *([-1] * trailing)))


def _reduced(name, block_sums, blocks, reduction, dtype):
    """The lazy 0-d mean or sum of ``block_sums(*block)`` partials over every row block."""
    parts = [dask.delayed(block_sums, pure=True)(*block) for block in blocks]
    if not parts:
        parts = [dask.delayed(_merge_sums)()]
    total = _tree_reduce(parts, _merge_sums)
    return da.from_delayed(dask.delayed(_finish, pure=True)(total, reduction, dtype, name), shape=(), dtype=dtype)


def _per_row(rows_of, blocks, shapes, dtype):
    """The lazy concatenation of ``rows_of(*block)`` (reduction "none") over every row block."""
    pieces = [da.from_delayed(dask.delayed(rows_of, pure=True)(*block), shape=shape, dtype=dtype)
              for block, shape in zip(blocks, shapes)]
    return da.concatenate(pieces) if pieces else da.empty((0,), dtype=dtype)


def _delayed_blocks(*arrays):
    """Per row block, a tuple of delayed blocks of each array (None stays None)."""
    present = [a for a in arrays if a is not None]
    n_blocks = present[0].numblocks[0]
    columns = [list(a.to_delayed().reshape(a.numblocks[0], -1)[:, 0]) if a is not None else [None] * n_blocks
               for a in arrays]
    return list(zip(*columns))


def _sums(losses, row_weights, n_rows, per_row_factor=1):
    """Exact partial sums: the losses, and the mean's denominator from each row's weight (``row_weights``,
    or ``n_rows`` ones when None) times ``per_row_factor``, so it too is the same for any chunking."""
    total, denominator = ExactSum(), ExactSum()
    total.add(losses)
    if row_weights is None:
        denominator.add_count(n_rows)
    else:
        denominator.add(row_weights)
    return total, denominator.scale(per_row_factor)


def softmax_cross_entropy(logits, target, *, weight=None, sample_weight=None, ignore_index=-100,
                          label_smoothing=0.0, reduction="mean", backend="auto", n_threads=1):
    """`fastxent.softmax_cross_entropy` over a ``dask.array`` of logits, shape (N, C), rows in blocks.

    ``target`` (labels (N,) or probabilities (N, C)) and ``sample_weight`` (N,) are NumPy or dask
    arrays, rechunked to the logits' row blocks; the class axis is made one block. ``weight`` (C,)
    is a NumPy array. "mean" and "sum" give a lazy 0-d dask array (``.compute()`` it), "none" a lazy
    (N,) array. The mean is an exact sum rounded once: bitwise the same for every chunking.
    """
    from fastxent.softmax import softmax_cross_entropy as loss_of_block

    v.check_reduction(reduction)
    logits = _as_dask(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must be a 2-D dask array (N, C), got {logits.ndim} dimensions")
    logits = logits.rechunk({1: -1})
    labels = np.dtype(getattr(target, "dtype", None) or np.asarray(target).dtype).kind in "iu"
    target = _rows_like(target, logits.chunks[0], "target", 0 if labels else 1)
    sample_weight = _rows_like(sample_weight, logits.chunks[0], "sample_weight", 0)
    class_weight = None if weight is None else np.asarray(weight)
    dtype = v.compute_dtype(logits.dtype, "logits")
    blocks = _delayed_blocks(logits, target, sample_weight)
    if reduction == "none":
        def rows_of(z, t, w):
            return loss_of_block(z, t, weight=class_weight, sample_weight=w, ignore_index=ignore_index,
                                 label_smoothing=label_smoothing, reduction="none", backend=backend,
                                 n_threads=n_threads)
        return _per_row(rows_of, blocks, [(n,) for n in logits.chunks[0]], dtype)

    def block_sums(z, t, w):
        problem = _prepare_softmax(z, t, class_weight, w, ignore_index, label_smoothing, "none", backend,
                                   n_threads, loss_only=True)
        row_loss = np.empty(problem.logits.shape[0])
        _check_kernel_result(problem.run_loss(problem.kernel("loss"), row_loss))
        if not problem.has_labels:  # the mean's denominator: sample weights (torch, scikit-learn)
            return _sums(row_loss, problem.sample_weight, len(row_loss))
        kept = problem.target != ignore_index
        row_weights = problem.class_weight[np.where(kept, problem.target, 0)] * kept
        if problem.sample_weight is not None:
            row_weights *= problem.sample_weight
        return _sums(row_loss, row_weights, len(row_loss))

    return _reduced("softmax_cross_entropy", block_sums, blocks, reduction, dtype)


def _binary_loss(name, x, target, weight, pos_weight, sample_weight, reduction, backend, n_threads, *, eps,
                 per_row):
    v.check_reduction(reduction)
    x = _as_dask(x)
    trailing = x.ndim - 1
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must be a 1-D or 2-D dask array, got {x.ndim} dimensions")
    x = x.rechunk((x.chunks[0], *([-1] * trailing)))
    target = _rows_like(target, x.chunks[0], "target", trailing)
    weight = _rows_like(weight, x.chunks[0], "weight", trailing)
    sample_weight = _rows_like(sample_weight, x.chunks[0], "sample_weight", 0)
    dtype = v.compute_dtype(x.dtype, name)
    prepare = dict(name=name, eps=eps, per_row=per_row, loss_only=True)

    def problem_of(xb, tb, wb, sb, block_reduction):
        return _binary._prepare(xb, tb, wb, pos_weight, sb, block_reduction, backend, n_threads, **prepare)

    blocks = _delayed_blocks(x, target, weight, sample_weight)
    if reduction == "none":
        def rows_of(xb, tb, wb, sb):
            problem = problem_of(xb, tb, wb, sb, "none")
            return _binary._reduce(problem, problem.run("loss"), 1.0, name)
        return _per_row(rows_of, blocks, [(n,) if per_row else (n, *x.shape[1:]) for n in x.chunks[0]], dtype)

    def block_sums(xb, tb, wb, sb):
        problem = problem_of(xb, tb, wb, sb, "sum")
        return _sums(problem.run("loss"), problem.sample_weight, problem.x.shape[0],
                     1 if per_row else problem.x.shape[1])

    return _reduced(name, block_sums, blocks, reduction, dtype)


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                                     reduction="mean", backend="auto", n_threads=1):
    """`fastxent.binary_cross_entropy_with_logits` over dask arrays ((N,) or (N, L), rows in blocks).

    Arguments as there (``pos_weight`` a NumPy array or scalar); the result is lazy (see
    `softmax_cross_entropy`).
    """
    return _binary_loss("binary_cross_entropy_with_logits", logits, target, weight, pos_weight, sample_weight,
                        reduction, backend, n_threads, eps=False, per_row=False)


def binary_cross_entropy(probs, target, *, eps=None, weight=None, pos_weight=None, sample_weight=None,
                         reduction="mean", backend="auto", n_threads=1):
    """`fastxent.binary_cross_entropy` (probabilities, clipped) over dask arrays; lazy result."""
    return _binary_loss("binary_cross_entropy", probs, target, weight, pos_weight, sample_weight, reduction,
                        backend, n_threads, eps=eps, per_row=False)


def multilabel_cross_entropy(logits, target, *, weight=None, pos_weight=None, sample_weight=None,
                             reduction="mean", backend="auto", n_threads=1):
    """`fastxent.multilabel_cross_entropy` over a dask array (N, L) of logits; lazy result."""
    return _binary_loss("multilabel_cross_entropy", logits, target, weight, pos_weight, sample_weight, reduction,
                        backend, n_threads, eps=False, per_row=True)


# --------------------------------------------------------------------------- Parquet datasets


@contextlib.contextmanager
def _scheduler(scheduler):
    """None: Dask's current scheduler; "local": a LocalCluster for the call; else a scheduler address."""
    if scheduler is None:
        yield
        return
    from dask.distributed import Client, LocalCluster

    if scheduler == "local":
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster):
            yield
    else:
        with Client(scheduler):
            yield


def _partition_state(frame, options, pred_names, label_names, weight_name):
    """Score one pandas partition into a fresh `ScoreState`."""
    import pandas as pd

    state = ScoreState(options)
    if len(frame) == 0:
        return state
    if len(pred_names) == 1 and frame[pred_names[0]].dtype == object:  # one list column
        pred = np.stack([np.asarray(row) for row in frame[pred_names[0]]])
    else:  # float32 columns stay float32, as in `fastxent.score_file`
        single = all(dtype == np.float32 for dtype in frame[pred_names].dtypes)
        pred = frame[pred_names].to_numpy(dtype=np.float32 if single else np.float64, na_value=np.nan)
    if options.kind == "multilabel":
        labels = frame[label_names].to_numpy(dtype=np.float64, na_value=np.nan)
    elif pd.api.types.is_numeric_dtype(frame[label_names[0]]):
        labels = frame[label_names[0]].to_numpy(dtype=np.float64, na_value=np.nan)  # NaN: no label
    else:
        labels = frame[label_names[0]].to_numpy(dtype=object, na_value=None)  # class names; None: no label
    weight = None if weight_name is None else frame[weight_name].to_numpy(dtype=np.float64, na_value=np.nan)
    state.add(pred, labels, weight)
    return state


def _merge_states(*states):
    first, *rest = states
    for state in rest:
        first.merge(state)
    return first


def score_parquet_dataset(path_or_glob, *, kind="softmax", input="logits", label_column=None,
                          prediction_columns=None, sample_weight_column=None, classes=None, ignore_index=-100,
                          strict=False, scheduler=None, backend="auto", n_threads=1):
    """Score a Parquet dataset (a file, a folder or a glob) with ``dask.dataframe``, one task per partition.

    Columns and options are those of `fastxent.score_file`; the labels come from ``label_column``
    (default ``"label"``). ``scheduler``: None uses Dask's current scheduler (e.g. an active
    ``Client``), ``"local"`` starts a ``LocalCluster`` for the call, any other string is a scheduler
    address. Returns the same `fastxent.scoring.ScoreReport` as `fastxent.score_file` on the same
    rows, with the same mean to the last bit (exact partial sums).
    """
    import dask.dataframe as dd

    from fastxent._sources import _select_columns

    options = ScoringOptions(kind, input, ignore_index, classes, strict, backend, n_threads)
    start = time.perf_counter()
    with _scheduler(scheduler):
        try:
            frame = dd.read_parquet(path_or_glob)
        except (OSError, ValueError) as exc:
            raise ValueError(f"predictions: cannot read the Parquet dataset {str(path_or_glob)!r}: {exc}") from None
        names = list(frame.columns)
        if not names:
            raise ValueError(f"predictions: no Parquet data at {str(path_or_glob)!r} (no files, or no columns)")
        if kind == "multilabel" and label_column is None:
            raise ValueError("label_column: multi-label labels need label_column (a list of columns or a glob)")
        label_names = _select_columns(names, label_column or "label", "label_column")
        if kind != "multilabel" and len(label_names) != 1:
            raise ValueError(f"label_column: {kind} labels are one column, got {len(label_names)}")
        weight_names = [] if sample_weight_column is None else _select_columns(
            names, [sample_weight_column], "sample_weight_column")
        pred_names = _select_columns(names, prediction_columns, "prediction_columns",
                                     exclude=set(label_names) | set(weight_names))
        frame = frame[pred_names + label_names + weight_names]
        score = dask.delayed(_partition_state, pure=True)
        parts = [score(part, options, pred_names, label_names,
                       weight_names[0] if weight_names else None) for part in frame.to_delayed()]
        state = _tree_reduce(parts, _merge_states).compute()
    if state.rows_read == 0:
        raise ValueError(f"predictions: the Parquet dataset {str(path_or_glob)!r} holds no rows")
    return state.report(time.perf_counter() - start)
