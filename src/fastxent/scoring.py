"""Batch scoring: the cross-entropy (log-loss) and accuracy of a model's predictions, streamed in chunks.

One streaming core (`ScoreState`, fed chunk by chunk) serves `score_arrays` (data in memory),
`score_chunks` (the user's own reader), `score_file` (``.npy``, ``.npz``, Parquet, Arrow/Feather,
CSV/TSV, read in chunks) and `fastxent.dask` (one state per partition, merged). Totals are exact sums
of the per-row float64 losses (`fastxent._exact_sum`), rounded once: the report is bitwise the same
however the rows are chunked, threaded or partitioned.
"""

import functools
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from fastxent import _scratch
from fastxent import _validation as v
from fastxent import binary as _binary
from fastxent._backends import allows_concurrent_calls, resolve_backend, resolve_backend_name
from fastxent._exact_sum import ExactSum
from fastxent._sources import NpyRows, block_readable
from fastxent._threads import resolve_n_threads
from fastxent.softmax import _check_kernel_result, _prepare as _prepare_softmax

KINDS = ("softmax", "binary", "multilabel")
INPUTS = ("logits", "probs")
CHUNK_BYTES = 1 << 25  # predictions per chunk when chunk_rows is None: 32 MiB
# The same for `.npy` logits, which `ScoreState` reads block by block and never holds whole: larger
# chunks halve the per-row cost of the bookkeeping (122 -> 56 ns per row, 8,388 -> 65,536 rows of 1,000).
BLOCK_READ_CHUNK_BYTES = 1 << 28

__all__ = ["ScoreReport", "score_arrays", "score_chunks", "score_file"]


@dataclass
class ScoreReport:
    """What scoring a set of predictions found.

    Attributes
    ----------
    kind, input : str
        ``"softmax"``/``"binary"``/``"multilabel"`` and ``"logits"``/``"probs"``.
    n_classes : int
        C for softmax, 2 for binary, the number of labels L for multi-label.
    rows_read : int
        Rows of predictions read.
    rows_scored : int
        Rows that entered the means: ``rows_read - rows_ignored - rows_nan``.
    rows_ignored : int
        Rows without a usable label (a missing label, ``ignore_index``, a NaN target).
    rows_nan : int
        Rows whose loss is NaN (a NaN, or an inf that makes the loss undefined, in the predictions):
        counted here and left out of every mean, never averaged in silently.
    rows_not_probabilities : int
        ``input="probs"`` only: rows with a value outside [0, 1] or (softmax) not summing to 1 within
        ``sqrt(eps)``. They are scored after clipping, as scikit-learn's ``log_loss`` does, with a
        warning (an error with ``strict=True``).
    total_weight : float
        Sum of the sample weights of the scored rows (their count when unweighted).
    total_loss : float
        Sum of ``sample_weight * loss`` over scored rows, in nats (exact, rounded once).
    mean_loss : float
        ``total_loss / total_weight``: the (weighted) mean cross-entropy; NaN when nothing was scored.
    accuracy : float
        Weighted fraction of correct predictions: argmax (softmax), threshold 0.5 on the probability
        (binary), and per label for multi-label (the mean over labels, ``1 - hamming_loss``).
    class_counts : list of int
        Scored rows per true class (softmax, binary: target >= 0.5), positives per label (multi-label).
    class_mean_loss : list of float
        Weighted mean loss of the scored rows of each true class (multi-label: of each label over all
        scored rows); NaN for a class without rows.
    elapsed_seconds : float
        Wall time of the scoring, reading included.
    prediction_bytes : int
        Bytes of predictions decoded (rows x columns x itemsize).
    """

    kind: str
    input: str
    n_classes: int
    rows_read: int
    rows_scored: int
    rows_ignored: int
    rows_nan: int
    rows_not_probabilities: int
    total_weight: float
    total_loss: float
    mean_loss: float
    accuracy: float
    class_counts: list = field(repr=False)
    class_mean_loss: list = field(repr=False)
    elapsed_seconds: float
    prediction_bytes: int

    @property
    def rows_per_second(self):
        return self.rows_read / self.elapsed_seconds if self.elapsed_seconds > 0 else math.inf

    @property
    def megabytes_per_second(self):
        """Decoded predictions per second, in MB (1e6 bytes)."""
        return self.prediction_bytes / 1e6 / self.elapsed_seconds if self.elapsed_seconds > 0 else math.inf

    def to_dict(self):
        """A JSON-ready dict (NaN and inf as None), throughput included."""
        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, list):
                return [clean(item) for item in value]
            return value
        result = {key: clean(value) for key, value in asdict(self).items()}
        result["rows_per_second"] = clean(self.rows_per_second)
        result["megabytes_per_second"] = clean(self.megabytes_per_second)
        return result

    def to_json(self, **kwargs):
        return json.dumps(self.to_dict(), **kwargs)

    def summary(self, max_classes=20):
        """A readable table: the totals, then the per-class counts and mean losses."""
        names = {"softmax": "class", "binary": "class", "multilabel": "label"}
        plural = {"class": "classes", "label": "labels"}[names[self.kind]]
        lines = [
            f"fastxent score: {self.kind} cross-entropy from {self.input}, {self.n_classes:,} {plural}",
            f"  rows read               {self.rows_read:>16,}",
            f"  rows scored             {self.rows_scored:>16,}",
            f"  rows ignored (no label) {self.rows_ignored:>16,}",
            f"  rows with NaN loss      {self.rows_nan:>16,}",
        ]
        if self.input == "probs":
            lines.append(f"  rows not probabilities  {self.rows_not_probabilities:>16,}")
        lines += [
            f"  mean loss (nats)        {self.mean_loss:>16.8f}",
            f"  total loss (nats)       {self.total_loss:>16.6f}",
            f"  accuracy                {self.accuracy:>16.6f}",
            f"  elapsed                 {self.elapsed_seconds:>14.3f} s",
            f"  throughput              {self.rows_per_second:>14,.0f} rows/s, "
            f"{self.megabytes_per_second:,.0f} MB/s",
            f"  {names[self.kind]:<10}{'rows' if self.kind != 'multilabel' else 'positives':>14}{'mean loss':>16}",
        ]
        shown = range(min(self.n_classes, max_classes))
        for c in shown:
            lines.append(f"  {c:<10}{self.class_counts[c]:>14,}{self.class_mean_loss[c]:>16.6f}")
        if self.n_classes > max_classes:
            lines.append(f"  ... {self.n_classes - max_classes:,} more {plural} (every one in to_dict() / --json)")
        return "\n".join(lines)


@dataclass
class ScoringOptions:
    """The validated options of a scoring run (see `score_arrays` for their meaning)."""

    kind: str = "softmax"
    input: str = "logits"
    ignore_index: int = -100
    classes: object = None      # class names -> indices, or None
    strict: bool = False
    backend: str = "auto"
    n_threads: object = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {INPUTS}, got {self.input!r}")
        self.ignore_index = v.check_ignore_index(self.ignore_index)
        if self.classes is not None:
            classes = list(self.classes)
            if not classes:
                raise ValueError("classes must name at least one class")
            if len(set(classes)) != len(classes):
                raise ValueError("classes must not repeat a name")
            self.classes = classes


class ScoreState:
    """The running totals of a scoring run; `add` one chunk at a time, `merge` partial states (Dask)."""

    def __init__(self, options):
        self.options = options
        self.n_classes = None
        self.rows_read = self.rows_ignored = self.rows_nan = self.rows_not_probabilities = 0
        self.prediction_bytes = 0
        self.loss, self.weight, self.correct = ExactSum(), ExactSum(), ExactSum()
        self.class_rows = self.class_loss = self.class_weight = None
        self._pending = None  # the last block-read chunk's `_tally`, run while the next chunk's blocks are read

    def _start(self, n_classes):
        if self.n_classes is None:
            self.n_classes = n_classes
            self.class_rows = np.zeros(n_classes, dtype=np.int64)
            self.class_loss = np.zeros(n_classes)
            self.class_weight = np.zeros(n_classes)
        elif n_classes != self.n_classes:
            raise ValueError(f"predictions: a chunk has {n_classes} columns, earlier chunks had {self.n_classes}")

    def add(self, predictions, labels, sample_weight=None):
        """Score one chunk; returns its per-row float64 losses (NaN for ignored rows).

        Parameters
        ----------
        predictions : array_like, shape (n, C) softmax / (n,) or (n, 1) binary / (n, L) multi-label
            Logits or probabilities, float (float16 computed as float32, ints as float64).
        labels : array_like
            Softmax: (n,) integer class indices, or class names when ``classes`` was given; NaN /
            None / ``ignore_index`` mark rows without a label. Binary: (n,) targets in [0, 1]
            (NaN: no label). Multi-label: (n, L) targets in [0, 1] (a NaN anywhere: no label).
        sample_weight : array_like, shape (n,), optional
            Finite, non-negative.
        """
        options = self.options
        in_blocks = self._reads_in_blocks(predictions)
        if not in_blocks:  # (block reads tally the previous chunk alongside their own first blocks)
            self._settle()
        pred = predictions if in_blocks else _as_predictions(predictions, options.kind)
        n_rows = pred.shape[0]
        self._start(pred.shape[1] if options.kind != "binary" else 2)
        if options.kind == "softmax":
            labels = _label_indices(labels, n_rows, self.n_classes, options)
            ignored = labels == options.ignore_index
        else:
            labels = _binary_targets(labels, pred.shape, options)
            ignored = np.isnan(labels).any(axis=1) if labels.ndim == 2 else np.isnan(labels)
        weight = None if sample_weight is None else v.as_weights(
            np.asarray(sample_weight).reshape(-1) if np.ndim(sample_weight) else sample_weight,
            (n_rows,), "sample_weight", "one weight per row of predictions")
        if options.kind == "softmax":
            row_loss, correct, true_class, label_loss = self._softmax_chunk(pred, labels, ignored)
        else:
            row_loss, correct, true_class, label_loss = self._binary_chunk(pred, labels, ignored)
        row_loss[ignored] = np.nan
        nan_rows = np.isnan(row_loss) & ~ignored
        scored = ~(ignored | nan_rows)
        self.rows_read += n_rows
        self.rows_ignored += int(np.count_nonzero(ignored))
        self.rows_nan += int(np.count_nonzero(nan_rows))
        self.prediction_bytes += pred.nbytes
        if in_blocks:
            self._pending = functools.partial(self._tally, row_loss, correct, true_class, label_loss, labels, weight,
                                              scored)
        else:
            self._tally(row_loss, correct, true_class, label_loss, labels, weight, scored)
        return row_loss

    def _settle(self):
        """Apply a block-read chunk's deferred `_tally` (the totals are complete after this)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()

    def _tally(self, row_loss, correct, true_class, label_loss, labels, weight, scored):
        """Add a chunk's per-row results (``scored``: the rows neither ignored nor NaN) to the totals."""
        n_rows = len(row_loss)
        all_scored = bool(scored.all())
        w = _scratch.ones(n_rows) if weight is None else weight  # only read (fresh ones cost ~0.5 ms a chunk)
        if not all_scored:
            w = np.where(scored, w, 0.0)
        kept_loss = row_loss if all_scored else np.where(scored, row_loss, 0.0)
        self.loss.add(kept_loss if weight is None else w * kept_loss)
        if weight is None:
            self.weight.add_count(np.count_nonzero(scored))
        else:
            self.weight.add(w)
        if weight is None and correct.dtype == bool:
            self.correct.add_count(np.count_nonzero(correct & scored))
        else:
            self.correct.add(w * correct)
        if true_class is not None:  # one true class per row
            kept = scored if not all_scored else slice(None)
            cls = true_class[kept]
            class_rows = np.bincount(cls, minlength=self.n_classes)
            self.class_rows += class_rows
            if weight is None:  # unit weights: the float64 sums are the row counts (exact below 2**53)
                self.class_loss += np.bincount(cls, weights=kept_loss[kept], minlength=self.n_classes)
                self.class_weight += class_rows
            else:
                wk = w[kept]
                self.class_loss += np.bincount(cls, weights=wk * kept_loss[kept], minlength=self.n_classes)
                self.class_weight += np.bincount(cls, weights=wk, minlength=self.n_classes)
        else:  # multi-label: every label of every scored row
            kept_targets = labels[scored]
            self.class_rows += np.count_nonzero(kept_targets >= 0.5, axis=0)
            self.class_loss += w[scored] @ label_loss[scored]
            self.class_weight += float(np.sum(w[scored]))

    def _reads_in_blocks(self, predictions):
        """Whether ``predictions`` (rows of a ``.npy`` file) are scored by `_softmax_blocks`."""
        options = self.options
        return (isinstance(predictions, NpyRows) and block_readable(options.kind, options.input, predictions.dtype)
                and predictions.ndim == 2 and predictions.shape[1] > 0
                and allows_concurrent_calls(resolve_backend_name(options.backend)))

    def _softmax_blocks(self, rows, labels):
        """The logits kernel's per-row losses and top-1 flags over file rows read block by block on
        the call's threads, each block scored by one thread while it is in that core's cache."""
        options = self.options
        n_rows, n_classes = rows.shape  # labels: int64, range-checked by _label_indices
        kernels, class_weight = resolve_backend(options.backend), _scratch.ones(n_classes)
        row_loss, top1 = np.empty(n_rows), np.empty(n_rows, dtype=np.uint8)

        def score_block(block, begin, end):  # one thread per block: the kernel gets n_threads=1
            return kernels.softmax_ce_labels_loss_top1(block, labels[begin:end], class_weight, None,
                                                       options.ignore_index, 0.0, row_loss[begin:end],
                                                       top1[begin:end], 1)

        n_threads = resolve_n_threads(options.n_threads, n_rows * n_classes, n_rows)
        _check_kernel_result(rows.for_each_block(score_block, n_threads, alongside=self._settle))
        return row_loss, top1.view(bool)

    def _softmax_chunk(self, pred, labels, ignored):
        options = self.options
        safe_labels = np.where(ignored, 0, labels) if ignored.any() else labels
        if isinstance(pred, NpyRows):
            return (*self._softmax_blocks(pred, labels), safe_labels, None)
        if options.input == "logits":
            problem = _prepare_softmax(pred, labels, None, None, options.ignore_index, 0.0, "none",
                                        options.backend, options.n_threads, loss_only=True)
            row_loss, top1 = np.empty(pred.shape[0]), np.empty(pred.shape[0], dtype=np.uint8)
            # the top-1 check runs in the loss pass (each row still in cache): no second read of the chunk
            _check_kernel_result(problem.run_loss(problem.kernels.softmax_ce_labels_loss_top1, row_loss, top1))
            return row_loss, top1.view(bool), safe_labels, None
        self._count_not_probabilities(pred, ignored, row_sums=True)
        eps = float(np.finfo(pred.dtype).eps)
        label_p = pred[np.arange(pred.shape[0]), safe_labels].astype(np.float64)
        with np.errstate(invalid="ignore"):
            row_loss = -np.log(np.clip(label_p, eps, 1 - eps))
        row_loss[np.isnan(pred.sum(axis=1))] = np.nan  # a NaN anywhere in the row: the row is undefined
        return row_loss, np.argmax(pred, axis=1) == safe_labels, safe_labels, None

    def _binary_chunk(self, pred, targets, ignored):
        options = self.options
        safe_targets = np.where(np.isnan(targets), 0.0, targets) if ignored.any() else targets
        if options.input == "probs":
            self._count_not_probabilities(pred, ignored, row_sums=False)
            with np.errstate(invalid="ignore"):
                pred = np.clip(pred, 0, 1)  # scored clipped, like log_loss; NaN stays NaN
        problem = _binary._prepare(pred, safe_targets.astype(pred.dtype), None, None, None, "none",
                                   options.backend, options.n_threads, name=options.input,
                                   eps=False if options.input == "logits" else None, loss_only=True)
        element_loss = problem.run("loss").reshape(pred.shape)
        threshold = 0.0 if options.input == "logits" else 0.5
        correct_elements = (pred >= threshold) == (safe_targets >= 0.5)
        if options.kind == "binary":
            return (element_loss[:, 0], correct_elements[:, 0],
                    (safe_targets[:, 0] >= 0.5).astype(np.intp), None)
        return element_loss.sum(axis=1), correct_elements.mean(axis=1), None, element_loss

    def _count_not_probabilities(self, p, ignored, row_sums):
        with np.errstate(invalid="ignore"):
            bad = ~((p >= 0) & (p <= 1)).all(axis=1) & ~np.isnan(p).any(axis=1)
            if row_sums:
                sums = p.sum(axis=1, dtype=np.float64)
                bad |= ~np.isclose(sums, 1.0, rtol=math.sqrt(np.finfo(p.dtype).eps)) & ~np.isnan(sums)
        bad &= ~ignored
        count = int(np.count_nonzero(bad))
        if count and self.options.strict:
            first = self.rows_read + int(np.argmax(bad))
            what = "outside [0, 1] or not summing to 1" if row_sums else "outside [0, 1]"
            raise ValueError(f"predictions: row {first} holds probabilities {what} (strict mode)")
        self.rows_not_probabilities += count

    def merge(self, other):
        """Add another state's totals (from another partition of the same data) into this one."""
        self._settle()
        other._settle()
        if other.n_classes is None:
            return self
        self._start(other.n_classes)
        for name in ("rows_read", "rows_ignored", "rows_nan", "rows_not_probabilities", "prediction_bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("loss", "weight", "correct"):
            getattr(self, name).merge(getattr(other, name))
        self.class_rows += other.class_rows
        self.class_loss += other.class_loss
        self.class_weight += other.class_weight
        return self

    def report(self, elapsed_seconds):
        """The `ScoreReport` of everything added so far (warns about rows that were not probabilities)."""
        self._settle()
        n_classes = self.n_classes or 0
        if self.rows_not_probabilities:
            warnings.warn(f"fastxent score: {self.rows_not_probabilities} rows of predictions are not "
                          f"probabilities (outside [0, 1]{' or not summing to 1' if self.options.kind == 'softmax' else ''}"
                          f"); they were clipped and scored", UserWarning, stacklevel=3)
        with np.errstate(invalid="ignore", divide="ignore"):
            class_mean = (self.class_loss / self.class_weight).tolist() if n_classes else []
        return ScoreReport(
            kind=self.options.kind, input=self.options.input, n_classes=n_classes, rows_read=self.rows_read,
            rows_scored=self.rows_read - self.rows_ignored - self.rows_nan, rows_ignored=self.rows_ignored,
            rows_nan=self.rows_nan, rows_not_probabilities=self.rows_not_probabilities,
            total_weight=self.weight.value, total_loss=self.loss.value, mean_loss=self.loss.ratio(self.weight),
            accuracy=self.correct.ratio(self.weight),
            class_counts=[] if not n_classes else self.class_rows.tolist(), class_mean_loss=class_mean,
            elapsed_seconds=elapsed_seconds, prediction_bytes=self.prediction_bytes)


def _as_predictions(predictions, kind):
    """Predictions as a 2-D float array (binary: (n, 1)); no copy when already float32/64."""
    arr = np.asarray(predictions)
    dtype = v.compute_dtype(arr.dtype, "predictions")
    if kind == "binary":
        if arr.ndim == 2 and arr.shape[1] != 1:
            raise ValueError(f"predictions for kind='binary' must have shape (n,) or (n, 1), got {arr.shape} "
                             f"(use kind='softmax' for one column per class, or 'multilabel')")
        if arr.ndim not in (1, 2):
            raise ValueError(f"predictions for kind='binary' must have shape (n,) or (n, 1), got {arr.shape}")
        arr = arr.reshape(-1, 1)
    elif arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"predictions for kind={kind!r} must have shape (n, C) with C >= 1, got {arr.shape}")
    return arr.astype(dtype, copy=False)


def _label_indices(labels, n_rows, n_classes, options):
    """Softmax labels as int64 class indices; missing ones (None, NaN) become ``ignore_index``."""
    if labels is None:
        raise ValueError("labels are required: give a labels array/file or the label column")
    arr = np.asarray(labels)
    if arr.shape != (n_rows,):
        raise ValueError(f"labels must have one entry per row of predictions ({n_rows}), got shape {arr.shape}")
    if arr.dtype.kind in "OUS":
        arr = _indices_of_names(arr, options)
    elif arr.dtype.kind == "f":
        missing = np.isnan(arr)
        whole = np.where(missing, 0, arr)
        if not (np.isfinite(whole).all() and (whole == np.round(whole)).all()):
            raise TypeError("labels must be integer class indices; got non-integral floats")
        arr = np.where(missing, options.ignore_index, whole).astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices (or class names with classes=), got dtype {arr.dtype}")
    return v.as_labels(arr, (n_rows,), n_classes, options.ignore_index)


def _indices_of_names(labels, options):
    """Class names (str, or objects with None/NaN for a missing label) as int64 indices; missing ones
    become ``ignore_index``. Without ``classes``, object labels must be integers."""
    missing = np.array([label is None or (isinstance(label, float) and label != label) for label in labels],
                       dtype=bool) if labels.dtype.kind == "O" else np.zeros(len(labels), dtype=bool)
    present = labels[~missing]
    indices = np.full(len(labels), options.ignore_index, dtype=np.int64)
    if options.classes is None:
        if labels.dtype.kind != "O" or not all(isinstance(x, (int, np.integer)) for x in present):
            raise TypeError("labels are class names: pass classes=[...] (--classes) to map them to indices")
        indices[~missing] = present.astype(np.int64)
        return indices
    unique, inverse = np.unique(present.astype(str), return_inverse=True)
    index = {name: i for i, name in enumerate(map(str, options.classes))}
    unknown = [str(name) for name in unique if name not in index]
    if unknown:
        raise ValueError(f"labels: class name {unknown[0]!r} is not in classes "
                         f"({len(options.classes)} names: {', '.join(map(repr, options.classes[:5]))}"
                         f"{', ...' if len(options.classes) > 5 else ''})")
    indices[~missing] = np.array([index[name] for name in unique], dtype=np.int64)[inverse]
    return indices


def _binary_targets(labels, pred_shape, options):
    """Binary / multi-label targets as float64 of ``pred_shape`` in [0, 1]; NaN marks a missing label."""
    if labels is None:
        raise ValueError("labels are required: give a labels array/file or the label column")
    arr = np.asarray(labels)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"labels for kind={options.kind!r} must be numbers in [0, 1], got dtype {arr.dtype}")
    n_rows = pred_shape[0]
    if options.kind == "binary":
        if arr.shape not in ((n_rows,), (n_rows, 1)):
            raise ValueError(f"labels must have one entry per row of predictions ({n_rows}), got shape {arr.shape}")
    elif arr.shape != pred_shape:
        raise ValueError(f"labels for kind='multilabel' must have the predictions' shape {pred_shape}, got {arr.shape}")
    targets = arr.astype(np.float64).reshape(pred_shape)
    if arr.dtype.kind in "iu":
        targets[arr.reshape(pred_shape) == options.ignore_index] = np.nan
    with np.errstate(invalid="ignore"):
        bad = (targets < 0) | (targets > 1)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise ValueError(f"labels: row {row} holds a target outside [0, 1] ({targets[row][bad[row]][0]!r})")
    return targets


def default_chunk_rows(n_columns, itemsize, chunk_bytes=CHUNK_BYTES):
    """Rows per chunk for a chunk of about ``chunk_bytes`` of predictions."""
    return max(1, chunk_bytes // max(1, n_columns * itemsize))


class _ProgressBar:
    """tqdm on stderr: rows (of ``total_rows`` when known, with an ETA) and MB/s of predictions."""

    def __init__(self, progress, total_rows):
        from tqdm import tqdm

        self.start = time.perf_counter()
        self.bar = tqdm(total=total_rows, unit=" rows", unit_scale=True, desc="scoring", leave=False,
                        disable=None if progress is None else not progress, dynamic_ncols=True,
                        postfix="0 MB/s")

    def update(self, rows, bytes_so_far):
        if not self.bar.disable:
            rate = bytes_so_far / 1e6 / max(time.perf_counter() - self.start, 1e-9)
            self.bar.set_postfix_str(f"{rate:,.0f} MB/s", refresh=False)
        self.bar.update(rows)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.bar.close()


def score_chunks(chunks, *, kind="softmax", input="logits", ignore_index=-100, classes=None, strict=False,
                 per_row_output=None, backend="auto", n_threads=None, progress=None, total_rows=None):
    """Score an iterable of ``(predictions, labels)`` or ``(predictions, labels, sample_weight)`` chunks.

    The chunks can have any number of rows; the report does not depend on how the rows are split.
    Parameters are those of `score_arrays`; ``total_rows`` sizes the progress bar when known.

    Returns
    -------
    ScoreReport
    """
    options = ScoringOptions(kind, input, ignore_index, classes, strict, backend, n_threads)
    from fastxent._row_output import open_row_output

    start = time.perf_counter()
    state = ScoreState(options)
    with open_row_output(per_row_output) as writer, _ProgressBar(progress, total_rows) as bar:
        for chunk in chunks:
            if not isinstance(chunk, tuple) or len(chunk) not in (2, 3):
                raise TypeError("each chunk must be a tuple (predictions, labels) or (predictions, labels, "
                                "sample_weight)")
            row_loss = state.add(*chunk)
            writer.write(row_loss)
            bar.update(len(row_loss), state.prediction_bytes)
        report = state.report(time.perf_counter() - start)
    return report


def score_arrays(predictions, labels, *, kind="softmax", input="logits", sample_weight=None, ignore_index=-100,
                 classes=None, strict=False, chunk_rows=None, per_row_output=None, backend="auto", n_threads=None,
                 progress=False):
    """Score predictions already in memory (or memory-mapped), in chunks of ``chunk_rows`` rows.

    Parameters
    ----------
    predictions : array_like
        Softmax: (N, C) logits or class probabilities. Binary: (N,) or (N, 1), the positive class's
        logit or probability. Multi-label: (N, L).
    labels : array_like
        Softmax: (N,) integer class indices (or class names with ``classes``); missing labels
        (NaN/None) and ``ignore_index`` mark rows to ignore. Binary: (N,) 0/1 or soft targets in
        [0, 1]; multi-label: (N, L). NaN marks a missing label.
    kind : {"softmax", "binary", "multilabel"}
    input : {"logits", "probs"}
        Probabilities are clipped to ``[eps, 1 - eps]`` (eps of their dtype), as scikit-learn's
        ``log_loss``; rows outside [0, 1] or (softmax) not summing to 1 are counted and warned about.
    sample_weight : array_like, shape (N,), optional
        Per-row weight (finite, non-negative) of the means.
    ignore_index : int, default -100
    classes : sequence of str, optional
        Class names in index order, to map string labels to class indices.
    strict : bool, default False
        Raise instead of warning when probabilities are not probabilities.
    chunk_rows : int, optional
        Rows per chunk; default about 32 MiB of predictions.
    per_row_output : str or Path, optional
        ``.npy`` or ``.parquet`` file receiving each row's float64 loss (NaN for ignored rows), written
        to a temporary file beside it and renamed into place only when scoring succeeds.
    backend, n_threads
        As in `fastxent.softmax_cross_entropy`.
    progress : bool or None, default False
        A progress bar on stderr; None shows it when stderr is a terminal.

    Returns
    -------
    ScoreReport
        Its mean equals the mean of the whole array computed at once, to float64 rounding: the totals
        are exact sums, rounded once, so every chunking gives the same bits.
    """
    pred = np.asarray(predictions)
    n_rows = pred.shape[0] if pred.ndim else 0
    if chunk_rows is None:
        chunk_rows = default_chunk_rows(pred.shape[1] if pred.ndim == 2 else 1, pred.dtype.itemsize)
    chunk_rows = check_chunk_rows(chunk_rows)
    lab = None if labels is None else np.asarray(labels)
    if lab is not None and (lab.ndim == 0 or lab.shape[0] != n_rows):
        raise ValueError(f"labels must have one entry per row of predictions ({n_rows}), got shape {lab.shape}")
    sw = None if sample_weight is None else np.asarray(sample_weight)
    if sw is not None and sw.shape != (n_rows,):
        raise ValueError(f"sample_weight must have shape ({n_rows},) (one weight per row), got {sw.shape}")

    def chunks():
        for start in range(0, max(n_rows, 1), chunk_rows):
            stop = min(start + chunk_rows, n_rows)
            yield (pred[start:stop], None if lab is None else lab[start:stop],
                   None if sw is None else sw[start:stop])

    return score_chunks(chunks(), kind=kind, input=input, ignore_index=ignore_index, classes=classes,
                        strict=strict, per_row_output=per_row_output, backend=backend, n_threads=n_threads,
                        progress=progress, total_rows=n_rows)


def check_chunk_rows(chunk_rows):
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)):
        raise TypeError(f"chunk_rows must be a positive int, got {type(chunk_rows).__name__}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    return int(chunk_rows)


def score_file(predictions, labels=None, *, kind="softmax", input="logits", label_column=None,
               prediction_columns=None, sample_weight_column=None, classes=None, ignore_index=-100, strict=False,
               chunk_rows=None, per_row_output=None, backend="auto", n_threads=None, progress=None):
    """Score a prediction file in chunks, never holding the whole file in memory.

    Parameters
    ----------
    predictions : str or Path
        ``.npy`` (C order; logits read block by block, other predictions memory-mapped chunk by
        chunk), ``.npz`` (one member streamed), Parquet (``.parquet``,
        ``.pq``), Arrow IPC/Feather (``.arrow``, ``.feather``, ``.ipc``), CSV (``.csv``, ``.tsv``,
        optionally ``.gz``/``.bz2``; a header row names the columns).
    labels : str or Path, optional
        A separate labels file: ``.npy``, Parquet/Arrow/CSV (its ``label_column``, or its only column),
        or plain text (``.txt``: one label per line). Without it the labels are ``label_column`` of the
        predictions table.
    label_column : str or list of str, optional
        The labels' column (default ``"label"`` in a table; in ``.npz`` the member, default
        ``"labels"``). For multi-label: a list column, a list of columns or a glob (``"y_*"``).
    prediction_columns : str or list of str, optional
        The predictions' columns: a list of names, a glob (``"p_*"``, in table order), or one
        list / fixed-size-list column. Default: every column but the label and weight columns (in
        ``.npz``, the member ``"predictions"`` or the only other one).
    sample_weight_column : str, optional
    kind, input, classes, ignore_index, strict, per_row_output, backend, n_threads
        As in `score_arrays`. For Parquet and CSV the thread that decodes the file counts as one of
        ``n_threads``: the kernels get the others (at least one).
    chunk_rows : int, optional
        Rows per chunk (CSV reads blocks of about that size). Default about 32 MiB of predictions.
    progress : bool or None
        A progress bar (rows, MB/s, ETA) on stderr; None (default) shows it when stderr is a terminal.

    Returns
    -------
    ScoreReport

    Raises
    ------
    FileNotFoundError, ValueError, TypeError
        A missing file, an unknown format or column, a truncated ``.npy``, a row count that differs
        between predictions and labels, labels out of range, ... with a message saying which.
    """
    from fastxent._sources import open_source, prefetched

    if chunk_rows is not None:
        chunk_rows = check_chunk_rows(chunk_rows)
    source = open_source(predictions, labels, kind=kind, label_column=label_column,
                         prediction_columns=prediction_columns, sample_weight_column=sample_weight_column,
                         classes=classes, ignore_index=ignore_index, chunk_rows=chunk_rows, input=input)
    if source.decodes:
        # The reader thread decodes the next chunk on a core of its own; the kernels get the others.
        # Else an OpenMP team, spinning after each of the many chunk calls, takes a core from the
        # decoder (Parquet with one list column, 2 cores: 680-780 -> 850-1050 MB/s).
        n_threads = max(1, resolve_n_threads(n_threads) - 1)
    with source:
        return score_chunks(prefetched(source.chunks()), kind=kind, input=input, ignore_index=ignore_index,
                            classes=classes, strict=strict, per_row_output=per_row_output, backend=backend,
                            n_threads=n_threads, progress=progress, total_rows=source.n_rows)
