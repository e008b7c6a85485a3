"""Prediction and label files for the scorer, read in chunks: ``.npy``, ``.npz``, Parquet, Arrow IPC/Feather, CSV.

`open_source` turns a predictions file (and optionally a separate labels file) into a `Source` whose
`Source.chunks` yields ``(predictions, labels, sample_weight)`` NumPy chunks of bounded size, never the
whole file. ``.npy`` chunks are `NpyRows`: mapped when used as arrays (each unmapped once scored), or
read block by block into per-thread buffers by the scorer's fused softmax path;
tables are read batch by batch with pyarrow (Parquet row groups, IPC record batches, the streaming
CSV reader). `prefetched` reads the next chunk on a thread while the current one is scored.
"""

import concurrent.futures
import contextlib
import fnmatch
import functools
import mmap
import os
import queue
import threading
import zipfile
from pathlib import Path

import numpy as np

_NPY, _NPZ, _PARQUET, _ARROW, _CSV, _TEXT = "npy", "npz", "parquet", "arrow", "csv", "text"
_SUFFIXES = {".npy": _NPY, ".npz": _NPZ, ".parquet": _PARQUET, ".pq": _PARQUET, ".arrow": _ARROW,
             ".feather": _ARROW, ".ipc": _ARROW, ".csv": _CSV, ".tsv": _CSV, ".txt": _TEXT}
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")
_DEFAULT_LABEL_COLUMN = "label"
_CSV_BLOCK_BYTES = 1 << 24
# A Parquet list column is read in record batches of about this many decoded bytes (see _Table.blocks).
_LIST_BATCH_BYTES = 1 << 23
_LIST_AHEAD_BYTES = 3 << 27  # decoded bytes a list column's row groups may hold ahead of the scorer
_PARQUET_READ_BUFFER = 1 << 20


def _format_of(path, what):
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
        if not suffixes or suffixes[-1] not in (".csv", ".tsv", ".txt"):
            raise ValueError(f"{what}: compressed files are read for CSV/TSV/text only, got {str(path)!r}")
    fmt = _SUFFIXES.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ValueError(f"{what}: unknown file format {str(path)!r}; expected one of "
                         f"{', '.join(sorted(_SUFFIXES))} (CSV/TSV/text also compressed)")
    return fmt


def _existing(path, what):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what}: no such file {str(path)!r}")
    if path.is_dir():
        raise IsADirectoryError(f"{what}: {str(path)!r} is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise PermissionError(f"{what}: {str(path)!r} is not readable")
    return path


def _pyarrow(what):
    try:
        import pyarrow
        import pyarrow.compute  # noqa: F401
    except ImportError:
        raise ImportError(f"{what} needs pyarrow: pip install 'fastxent[parquet]'") from None
    return pyarrow


# --------------------------------------------------------------------------- .npy and .npz


def _read_ahead(mapping):
    """Ask for the mapping's pages to be read ahead (a hint, for files not yet in the page cache).

    The pages are not populated here: measured, letting the kernel's threads fault them in while they
    compute is faster than populating them on the reader thread (``MADV_POPULATE_READ`` holds the GIL).
    """
    try:
        mapping.madvise(mmap.MADV_WILLNEED)
    except (AttributeError, OSError):
        pass


class _NpyArray:
    """A ``.npy`` file's rows, memory-mapped chunk by chunk (C order)."""

    def __init__(self, path, what):
        self.path, self.what = path, what
        with open(path, "rb") as file:
            try:
                version = np.lib.format.read_magic(file)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                self.shape, fortran_order, self.dtype = read_header(file)
            except ValueError as exc:
                raise ValueError(f"{what}: {str(path)!r} is not a valid .npy file ({exc})") from None
            self.offset = file.tell()
        if self.dtype.hasobject:
            raise TypeError(f"{what}: {str(path)!r} holds Python objects; a numeric array is needed")
        if fortran_order and len(self.shape) > 1:
            raise ValueError(f"{what}: {str(path)!r} is Fortran-ordered; rows cannot be streamed from it "
                             f"(save it in C order: np.save(path, np.ascontiguousarray(a)))")
        if not self.shape:
            raise ValueError(f"{what}: {str(path)!r} holds a scalar, not rows")
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        expected = self.offset + self.shape[0] * self.row_bytes
        actual = path.stat().st_size
        if actual < expected:
            raise ValueError(f"{what}: {str(path)!r} is truncated: its header promises {self.shape[0]:,} rows "
                             f"({expected:,} bytes) but the file has {actual:,} bytes")
        self.n_rows = self.shape[0]

    def rows(self, start, stop):
        """Rows [start, stop) as a view of a private mapping of just those bytes (unmapped with the view)."""
        if stop <= start or self.row_bytes == 0:
            return np.empty((max(stop - start, 0), *self.shape[1:]), dtype=self.dtype)
        begin = self.offset + start * self.row_bytes
        aligned = begin - begin % mmap.ALLOCATIONGRANULARITY
        length = begin - aligned + (stop - start) * self.row_bytes
        with open(self.path, "rb", buffering=0) as file:
            # a file truncated after it was opened: the block reader's error, naming the file
            # (mmap's own is "mmap length is greater than file size")
            size = os.fstat(file.fileno()).st_size
            if size < aligned + length:
                raise ValueError(f"{self.what}: {str(self.path)!r} ended at byte {size:,} while being read "
                                 f"(truncated after it was opened?)")
            # Copy-on-write, never written: NumPy's argmax copies read-only arrays, writeable ones it reads.
            mapping = mmap.mmap(file.fileno(), length, access=mmap.ACCESS_COPY, offset=aligned)
        _read_ahead(mapping)
        view = np.frombuffer(mapping, dtype=self.dtype, count=(stop - start) * self.row_bytes // self.dtype.itemsize,
                             offset=begin - aligned)
        return view.reshape(stop - start, *self.shape[1:])

    def read_into(self, fd, raw, row):
        """Fill the byte array ``raw`` from row ``row`` on (``fd``: this file, opened unbuffered)."""
        done, offset = 0, self.offset + row * self.row_bytes
        while done < raw.size:
            got = os.preadv(fd, [raw[done:]], offset + done)  # releases the GIL
            if got == 0:
                raise ValueError(f"{self.what}: {str(self.path)!r} ended at byte {offset + done:,} while being "
                                 f"read (truncated after it was opened?)")
            done += got


class NpyRows:
    """Rows ``[start, stop)`` of a `.npy` file, not yet read.

    ``np.asarray(rows)`` maps them (`_NpyArray.rows`). `for_each_block` instead reads them with
    ``os.preadv`` in blocks of about `BLOCK_BYTES`, on several threads, each into a buffer of its own
    that stays in its core's cache while a function (a kernel) processes it: one pass over memory
    where the mapping costs a page-table entry per 4 KiB page, and unmapping them again.
    """

    # os.preadv is POSIX (Linux, the BSDs, macOS): elsewhere the rows are only mapped
    can_read_blocks = hasattr(os, "preadv")

    def __init__(self, npy, start, stop):
        self.npy, self.start, self.stop = npy, start, stop
        self.shape = (stop - start, *npy.shape[1:])
        self.dtype, self.ndim = npy.dtype, len(self.shape)
        self.nbytes = (stop - start) * npy.row_bytes

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        rows = self.npy.rows(self.start, self.stop)
        return rows if dtype is None else rows.astype(dtype)

    def for_each_block(self, process, n_threads, alongside=None):
        """Call ``process(block, begin, end)`` for consecutive blocks of these rows (``block`` holds
        rows ``[begin, end)``, counted from this object's first row; valid only during the call),
        on ``n_threads`` threads, each taking the next block when it is done with one; the sum of the
        results. Every block has been processed, or the first error raised, when this returns.
        ``alongside()``, if given, runs on the calling thread while the other threads take the first
        blocks (work that would otherwise leave them idle), before the calling thread takes blocks.
        """
        n = len(self)
        block_rows = max(1, BLOCK_BYTES // max(1, self.npy.row_bytes))
        starts = iter(range(0, n, block_rows))
        lock, failed = threading.Lock(), threading.Event()

        def next_start():
            with lock:
                return None if failed.is_set() else next(starts, None)

        def work(fd):
            buffer = _block_buffer(block_rows * self.npy.row_bytes)
            total = 0
            try:
                while (begin := next_start()) is not None:
                    end = min(begin + block_rows, n)
                    raw = buffer[:(end - begin) * self.npy.row_bytes]
                    self.npy.read_into(fd, raw, self.start + begin)
                    total += process(raw.view(self.dtype).reshape(end - begin, *self.shape[1:]), begin, end)
            except BaseException:
                failed.set()  # the other threads stop after their current block
                raise
            return total

        with open(self.npy.path, "rb", buffering=0) as file:  # preadv: one descriptor serves every thread
            with contextlib.suppress(AttributeError, OSError):  # read-ahead of a file not in the page cache
                os.posix_fadvise(file.fileno(), self.npy.offset + self.start * self.npy.row_bytes, self.nbytes,
                                 os.POSIX_FADV_WILLNEED)
            others = [_pool().submit(work, file.fileno()) for _ in range(1, min(n_threads, -(-n // block_rows)))]
            try:
                if alongside is not None:
                    alongside()
                total = work(file.fileno())
            finally:
                concurrent.futures.wait(others)  # no thread is still reading or writing when this returns
        return total + sum(future.result() for future in others)


def block_readable(kind, input, dtype):
    """Whether `.npy` predictions of this kind, input and dtype can be scored block by block
    (`NpyRows.for_each_block`): softmax logits in a dtype the kernels take as they are."""
    return (NpyRows.can_read_blocks and kind == "softmax" and input == "logits"
            and dtype in (np.dtype(np.float32), np.dtype(np.float64)))


# Rows read and scored per block, while in the caches: on the EPYC of docs/benchmarks.md (1 MiB of L2 a
# core, 32 MiB of L3) a 4 GB file scores in 0.36 s with 4 MiB blocks, 0.37 s with 1, 2 or 8 MiB (the
# kernel is as fast from L3 as from L2), 0.42 s with 512 KiB (the per-block calls), 0.44 s with 16 MiB.
BLOCK_BYTES = 1 << 22
_blocks = threading.local()
_executor = None
_executor_lock = threading.Lock()


def _block_buffer(nbytes):
    """This thread's reusable read buffer, at least ``nbytes`` (kept: fresh memory is faulted in)."""
    buffer = getattr(_blocks, "buffer", None)
    if buffer is None or buffer.size < nbytes:
        buffer = _blocks.buffer = np.empty(max(nbytes, BLOCK_BYTES), dtype=np.uint8)
    return buffer


def _pool():
    global _executor
    with _executor_lock:
        if _executor is None:  # threads are started as they are needed, up to the cap
            from fastxent._threads import MAX_THREADS

            _executor = concurrent.futures.ThreadPoolExecutor(MAX_THREADS, thread_name_prefix="fastxent-block")
        return _executor


class _NpzMember:
    """One member of a ``.npz`` archive, streamed (decompressed on the fly when compressed)."""

    def __init__(self, archive, member, what):
        self.archive, self.what, self.member = archive, what, member
        with archive.open(member + ".npy") as file:
            self._read_header(file)
        self.n_rows = self.shape[0]

    def _read_header(self, file):
        version = np.lib.format.read_magic(file)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        self.shape, fortran_order, self.dtype = read_header(file)
        if self.dtype.hasobject or not self.shape or (fortran_order and len(self.shape) > 1):
            raise ValueError(f"{self.what}: member {self.member!r} must be a C-ordered numeric array with rows")
        self.row_items = int(np.prod(self.shape[1:], dtype=np.int64))

    def batches(self, chunk_rows):
        with self.archive.open(self.member + ".npy") as file:
            self._read_header(file)
            for start in range(0, self.n_rows, chunk_rows):
                n = min(chunk_rows, self.n_rows - start)
                data = file.read(n * self.row_items * self.dtype.itemsize)
                if len(data) != n * self.row_items * self.dtype.itemsize:
                    raise ValueError(f"{self.what}: member {self.member!r} is truncated at row {start:,}")
                yield np.frombuffer(data, dtype=self.dtype).reshape(n, *self.shape[1:])


def _open_npz(path, what):
    """The archive and the names of its arrays."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{what}: {str(path)!r} is not a valid .npz file ({exc})") from None
    return archive, [name[:-4] for name in archive.namelist() if name.endswith(".npy")]


def _pick_member(members, wanted, default, others, path, what):
    if wanted is not None:
        if wanted not in members:
            raise ValueError(f"{what}: {str(path)!r} has no member {wanted!r} (members: {', '.join(members)})")
        return wanted
    if default in members:
        return default
    candidates = [m for m in members if m not in others]
    if len(candidates) == 1:
        return candidates[0]
    raise ValueError(f"{what}: cannot tell which member of {str(path)!r} to use (members: {', '.join(members)}); "
                     f"name it")


# --------------------------------------------------------------------------- tables (pyarrow)


class _Table:
    """A Parquet, Arrow IPC/Feather or CSV/TSV/text file read batch by batch with pyarrow."""

    def __init__(self, path, fmt, what, chunk_rows, header=True):
        self.pa = _pyarrow(f"{what} ({fmt} file)")
        self.path, self.fmt, self.what, self.chunk_rows, self.header = path, fmt, what, chunk_rows, header
        self.n_rows = None
        try:
            if fmt == _PARQUET:
                import pyarrow.parquet as pq

                self.parquet = pq.ParquetFile(path)
                self.schema = self.parquet.schema_arrow
                self.n_rows = self.parquet.metadata.num_rows
            elif fmt == _ARROW:
                self.ipc = self._open_ipc()
                self.schema = self.ipc.schema
                if hasattr(self.ipc, "num_record_batches"):
                    self.n_rows = sum(self.ipc.get_batch(i).num_rows for i in range(self.ipc.num_record_batches))
            else:
                with self._csv_reader() as reader:
                    self.schema = reader.schema
        except (self.pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{what}: cannot read {str(path)!r} as {fmt}: {exc}") from None

    def _open_ipc(self):
        source = self.pa.memory_map(str(self.path))
        try:
            return self.pa.ipc.open_file(source)
        except self.pa.ArrowInvalid:
            return self.pa.ipc.open_stream(self.pa.memory_map(str(self.path)))

    def _csv_reader(self):
        from pyarrow import csv

        suffixes = [s.lower() for s in self.path.suffixes]
        tab = ".tsv" in suffixes
        if self.fmt == _TEXT:  # one value per line, no header; a blank line is a missing label
            read = csv.ReadOptions(column_names=["label"], block_size=_CSV_BLOCK_BYTES)
            parse = csv.ParseOptions(delimiter="\x1f", quote_char=False, ignore_empty_lines=False)
        else:
            read = csv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
            parse = csv.ParseOptions(delimiter="\t" if tab else ",")
        convert = csv.ConvertOptions(strings_can_be_null=True)
        return csv.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert)

    @property
    def names(self):
        return list(self.schema.names)

    def blocks(self, columns):
        """Record batches holding ``columns`` as the file stores them: a Parquet row group, an Arrow
        IPC record batch, a CSV block (the caller cuts them into chunks)."""
        try:
            if self.fmt == _PARQUET and self._has_list_column(columns):
                yield from self._list_batches(columns)
            elif self.fmt == _PARQUET:
                # A row group at a time, its columns decoded in parallel: ~2x faster than
                # `iter_batches`, which holds a row group's column chunks in memory as well.  Decoded
                # from a memory map of the file (the page cache) rather than from column chunks first
                # read into new buffers, which this VM hands out slowly; mapped per row group, so the
                # group's pages leave the resident set with it.  800 MB in 4 row groups of nullable
                # columns: 0.68-0.72 -> 0.57-0.62 s, first call of a process 1.3-3.7 -> 0.85-0.92 s.
                import pyarrow.parquet as pq

                for group in range(self.parquet.num_row_groups):
                    with pq.ParquetFile(self.path, metadata=self.parquet.metadata, memory_map=True) as mapped:
                        table = mapped.read_row_group(group, columns=columns, use_threads=True)
                    yield from table.to_batches()
                    del table
            elif self.fmt == _ARROW:
                ipc = self._open_ipc()
                batches = (ipc.get_batch(i) for i in range(ipc.num_record_batches)) if hasattr(
                    ipc, "num_record_batches") else iter(ipc)
                for batch in batches:
                    yield batch.select(columns)
            else:
                with self._csv_reader() as reader:
                    for batch in reader:
                        yield batch.select(columns)
        except (self.pa.ArrowInvalid, OSError) as exc:
            raise ValueError(f"{self.what}: cannot read {str(self.path)!r}: {exc}") from None

    def _has_list_column(self, columns):
        types = self.pa.types
        return any(types.is_list(t) or types.is_large_list(t) or types.is_fixed_size_list(t)
                   for t in (self.schema.field(name).type for name in columns))

    def _list_batches(self, columns):
        """Record batches of ~8 MiB from a file with a list column, its pages read through a 1 MiB buffer.

        A list column is one column: a row group is decoded on one thread, mostly its repetition and
        definition levels, so reading it whole (``read_row_group``) gains nothing from threads and
        allocates a row group's worth of new memory each time, which this VM hands out slowly (fresh
        pages: 0.9-16 s for 800 MB measured, against 0.76-0.82 s here, where the same few batch-sized
        buffers are reused and peak memory stays ~150 MB instead of ~1.3 GB).  The row groups are
        decoded side by side instead, one per thread (``pyarrow.cpu_count()`` threads), and their
        batches handed out in file order; the decoded batches not yet scored stay under
        `_LIST_AHEAD_BYTES` whatever the core count (scoring 800 MB in 4 row groups on 2 cores, where
        each row group may run 128 MiB ahead: 0.92 -> 0.63 s, peak RSS 0.23 -> 0.49 GB; with 16 MiB
        ahead the second thread mostly waited: 0.88 s).
        """
        import pyarrow.parquet as pq

        meta = self.parquet.metadata
        row_bytes = max(1, sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups))
                        // max(1, meta.num_rows))
        batch_rows = max(1, _LIST_BATCH_BYTES // row_bytes)

        def row_group(group):
            reader = pq.ParquetFile(self.path, metadata=meta, pre_buffer=False, buffer_size=_PARQUET_READ_BUFFER)
            try:
                yield from reader.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns,
                                               use_threads=False)
            finally:
                reader.close()

        parts = [functools.partial(row_group, g) for g in range(meta.num_row_groups)]
        workers = max(1, min(self.pa.cpu_count(), len(parts)))
        # every worker's current part and the part being consumed (workers + 1 queues) share
        # _LIST_AHEAD_BYTES: 16 batches each on 2 cores
        depth = max(2, _LIST_AHEAD_BYTES // (_LIST_BATCH_BYTES * (workers + 1)))
        yield from in_order(parts, workers, depth=depth)


def _select_columns(names, spec, what, exclude=()):
    """Column names from ``spec``: None (all but ``exclude``), a name, a glob, or a list of names."""
    if spec is None:
        chosen = [n for n in names if n not in exclude]
    elif isinstance(spec, str) and spec in names:
        chosen = [spec]
    elif isinstance(spec, str) and any(ch in spec for ch in "*?["):
        chosen = [n for n in names if fnmatch.fnmatchcase(n, spec)]
        if not chosen:
            raise ValueError(f"{what}: no column matches {spec!r} (columns: {_some(names)})")
    elif isinstance(spec, str):
        raise ValueError(f"{what}: unknown column {spec!r} (columns: {_some(names)})")
    else:
        chosen = list(spec)
        unknown = [n for n in chosen if n not in names]
        if unknown:
            raise ValueError(f"{what}: unknown column{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} (columns: {_some(names)})")
    if not chosen:
        raise ValueError(f"{what}: no columns left to read (columns: {_some(names)})")
    return chosen


def _some(names, limit=8):
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _matrix(batch, columns, what):
    """``columns`` of a record batch as a 2-D float array: one list column (row-major), or one column
    each (column-major)."""
    pa = _pyarrow(what)
    if len(columns) == 1 and pa.types.is_list(batch.schema.field(columns[0]).type) or len(columns) == 1 and (
            pa.types.is_fixed_size_list(batch.schema.field(columns[0]).type)
            or pa.types.is_large_list(batch.schema.field(columns[0]).type)):
        column = batch.column(columns[0])
        if column.null_count:
            raise ValueError(f"{what}: column {columns[0]!r} has {column.null_count} missing (null) rows")
        lengths = pa.compute.list_value_length(column).to_numpy(zero_copy_only=False)
        if len(lengths) and lengths.min() != lengths.max():
            raise ValueError(f"{what}: the lists of column {columns[0]!r} have different lengths "
                             f"({lengths.min()} to {lengths.max()})")
        values = _floats(column.flatten(), what, columns[0])
        return values.reshape(len(column), int(lengths[0]) if len(lengths) else 0)
    batch = batch.select(columns)
    for name, field in zip(columns, batch.schema):
        if pa.types.is_boolean(field.type):
            batch = batch.set_column(batch.schema.get_field_index(name), name, batch.column(name).cast(pa.int8()))
        elif not (pa.types.is_floating(field.type) or pa.types.is_integer(field.type)):
            raise TypeError(f"{what}: column {name!r} has type {field.type}, not numbers")
    # Column-major (Arrow: one memcpy per column); the scorer copies it into rows with the transpose
    # kernel (softmax logits a 4 MiB block at a time), much faster than Arrow's row-major `to_tensor`.
    # float32 columns stay float32, integer ones become float64 with nulls as NaN.
    return np.asarray(batch.to_tensor(row_major=False, null_to_nan=True))


def _floats(array, what, name):
    pa = _pyarrow(what)
    if not (pa.types.is_floating(array.type) or pa.types.is_integer(array.type) or pa.types.is_boolean(array.type)):
        raise TypeError(f"{what}: column {name!r} has type {array.type}, not numbers")
    if pa.types.is_integer(array.type) or pa.types.is_boolean(array.type):
        array = array.cast(pa.float64())
    return array.to_numpy(zero_copy_only=False)  # a null becomes NaN


def _labels_of(array, kind, ignore_index, what, name):
    """An Arrow label column as NumPy: class indices (nulls -> ignore_index), names, or float targets."""
    pa = _pyarrow(what)
    if pa.types.is_dictionary(array.type):
        array = array.cast(pa.string())
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        if kind != "softmax":
            raise TypeError(f"{what}: column {name!r} holds text; {kind} labels must be numbers in [0, 1]")
        return array.to_numpy(zero_copy_only=False)  # None marks a missing label
    if pa.types.is_integer(array.type) and kind == "softmax":
        return array.fill_null(ignore_index).to_numpy(zero_copy_only=False)
    return _floats(array, what, name)


# --------------------------------------------------------------------------- sources


class Source:
    """Predictions (and labels, weights) of a file, chunk by chunk; use as a context manager.

    ``decodes`` is True when making a chunk is CPU work (Parquet or CSV decoding), not a copy.
    """

    def __init__(self, n_rows, chunk_factory, closers=(), decodes=False):
        self.n_rows = n_rows
        self.decodes = decodes
        self._chunks = chunk_factory
        self._closers = list(closers)

    def chunks(self):
        return self._chunks()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for close in self._closers:
            close()


class _LabelStream:
    """Labels from their own file, handed out in runs matching the prediction chunks."""

    def __init__(self, batches, n_rows):
        self.batches, self.n_rows = batches, n_rows
        self.pending, self.served = [], 0

    def take(self, n, expected_total):
        have = sum(len(p) for p in self.pending)
        while have < n:
            batch = next(self.batches, None)
            if batch is None:
                raise ValueError(f"labels file ends after {self.served + have:,} labels, but the predictions "
                                 f"have {'at least ' if expected_total is None else ''}"
                                 f"{expected_total if expected_total is not None else self.served + n:,} rows")
            self.pending.append(batch)
            have += len(batch)
        joined = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)
        self.pending = [joined[n:]] if len(joined) > n else []
        self.served += n
        return joined[:n]

    def finish(self, rows_read):
        extra = sum(len(p) for p in self.pending) + sum(len(b) for b in self.batches)
        if extra:
            raise ValueError(f"labels file has {rows_read + extra:,} labels but the predictions have {rows_read:,} rows")


def _label_batches(path, label_column, kind, ignore_index, chunk_rows):
    """``(n_rows or None, iterator of NumPy label arrays)`` of a separate labels file."""
    what = "labels"
    fmt = _format_of(path, what)
    if fmt == _NPY:
        array = _NpyArray(path, what)
        return array.n_rows, (np.array(array.rows(s, min(s + chunk_rows, array.n_rows)))
                              for s in range(0, array.n_rows, chunk_rows)), ()
    if fmt == _NPZ:
        archive, members = _open_npz(path, what)
        member = _NpzMember(archive, _pick_member(members, label_column, "labels", (), path, what), what)
        return member.n_rows, member.batches(chunk_rows), (archive.close,)
    table = _Table(path, fmt, what, chunk_rows)
    names = table.names
    if label_column is None and len(names) == 1:
        label_column = names[0]
    columns = _select_columns(names, label_column if label_column is not None else _DEFAULT_LABEL_COLUMN, what)
    if kind == "multilabel":
        batches = (np.ascontiguousarray(_matrix(b, columns, what)) for b in table.blocks(columns))
    else:
        if len(columns) != 1:
            raise ValueError(f"labels: {kind} labels are one column, got {len(columns)}: {_some(columns)}")
        batches = (_labels_of(b.column(0), kind, ignore_index, what, columns[0]) for b in table.blocks(columns))
    return table.n_rows, batches, ()


def open_source(predictions, labels=None, *, kind, label_column=None, prediction_columns=None,
                sample_weight_column=None, classes=None, ignore_index=-100, chunk_rows=None, input="logits"):
    """A `Source` over a predictions file and (optionally) a separate labels file."""
    from fastxent.scoring import BLOCK_READ_CHUNK_BYTES, CHUNK_BYTES, KINDS, default_chunk_rows

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    what = "predictions"
    path = _existing(predictions, what)
    fmt = _format_of(path, what)
    if fmt == _TEXT:
        raise ValueError(f"predictions: {str(path)!r} is plain text; predictions need .npy, .npz, Parquet, "
                         f"Arrow or CSV")
    label_path = None if labels is None else _existing(labels, "labels")
    closers = []
    if fmt in (_NPY, _NPZ):
        if sample_weight_column is not None and fmt == _NPY:
            raise ValueError("sample_weight_column: a .npy file has no columns (use .npz, Parquet, Arrow or CSV)")
        if fmt == _NPY:
            if label_path is None:
                raise ValueError("labels: a .npy file of predictions needs a separate labels file")
            if prediction_columns is not None:
                raise ValueError("prediction_columns: a .npy file has no columns")
            array = _NpyArray(path, what)
            n_rows, width, itemsize = array.n_rows, int(np.prod(array.shape[1:], dtype=np.int64)), array.dtype.itemsize
            # rows read block by block are never held whole: larger chunks (ScoreState._reads_in_blocks)
            chunk_bytes = BLOCK_READ_CHUNK_BYTES if block_readable(kind, input, array.dtype) else CHUNK_BYTES
            chunk_rows = chunk_rows or default_chunk_rows(width, itemsize, chunk_bytes)
            pred_batches = lambda: (NpyRows(array, s, min(s + chunk_rows, n_rows)) for s in range(0, n_rows, chunk_rows))
            label_batches = weight_batches = lambda: None
        else:
            archive, members = _open_npz(path, what)
            closers.append(archive.close)
            label_member = None
            if label_path is None:
                label_member = _pick_member(members, label_column, "labels", (), path, "labels")
            excluded = {label_member, sample_weight_column} - {None}
            pred_member = _NpzMember(archive, _pick_member(members, prediction_columns, "predictions", excluded,
                                                           path, what), what)
            n_rows = pred_member.n_rows
            chunk_rows = chunk_rows or default_chunk_rows(pred_member.row_items, pred_member.dtype.itemsize)
            members_of = {}
            for role, name in (("labels", label_member), ("sample_weight_column", sample_weight_column)):
                if name is not None:
                    member = _NpzMember(archive, _pick_member(members, name, None, (), path, role), role)
                    if member.n_rows != n_rows:
                        raise ValueError(f"{role}: member {name!r} has {member.n_rows:,} rows, the predictions "
                                         f"{n_rows:,}")
                    members_of[role] = member
            pred_batches = lambda: pred_member.batches(chunk_rows)
            label_batches = lambda: members_of["labels"].batches(chunk_rows) if "labels" in members_of else None
            weight_batches = lambda: (members_of["sample_weight_column"].batches(chunk_rows)
                                      if "sample_weight_column" in members_of else None)
    else:
        table = _Table(path, fmt, what, chunk_rows or 65536)
        names = table.names
        label_names = []
        if label_path is None:
            if kind == "multilabel":
                if label_column is None:
                    raise ValueError("label_column: multi-label labels in the predictions table need label_column "
                                     "(a list column, a list of columns or a glob)")
                label_names = _select_columns(names, label_column, "label_column")
            else:
                label_names = _select_columns(names, label_column or _DEFAULT_LABEL_COLUMN, "label_column")
                if len(label_names) != 1:
                    raise ValueError(f"label_column: {kind} labels are one column, got {_some(label_names)}")
        weight_names = [] if sample_weight_column is None else _select_columns(
            names, [sample_weight_column], "sample_weight_column")
        pred_names = _select_columns(names, prediction_columns, "prediction_columns",
                                     exclude=set(label_names) | set(weight_names))
        overlap = set(pred_names) & (set(label_names) | set(weight_names))
        if overlap:
            raise ValueError(f"prediction_columns: {_some(sorted(overlap))} also named as labels or weights")
        if chunk_rows is None:
            first = table.schema.field(pred_names[0]).type
            width = len(pred_names) if len(pred_names) > 1 else (
                first.list_size if table.pa.types.is_fixed_size_list(first) else 1000)
            table.chunk_rows = default_chunk_rows(width, 8)
        n_rows = table.n_rows
        columns = pred_names + label_names + weight_names

        def split():
            for block in table.blocks(columns):
                pred = _matrix(block.select(pred_names), pred_names, what)
                if kind == "binary" and pred.shape[1] != 1:
                    raise ValueError(f"prediction_columns: kind='binary' needs one prediction column, got "
                                     f"{pred.shape[1]}: {_some(pred_names)}")
                lab = None
                if label_names:
                    lab = (_matrix(block.select(label_names), label_names, "labels") if kind == "multilabel"
                           else _labels_of(block.column(len(pred_names)), kind, ignore_index, "labels",
                                           label_names[0]))
                weight = (None if not weight_names else
                          _floats(block.column(len(columns) - 1), "sample_weight_column", weight_names[0]))
                del block
                for start in range(0, len(pred), table.chunk_rows):
                    stop = start + table.chunk_rows
                    # rows of a column-major block: the scorer's thread copies them into rows (the
                    # transpose kernel) while this reader decodes the next row group
                    yield (pred[start:stop], None if lab is None else lab[start:stop],
                           None if weight is None else weight[start:stop])
        chunk_rows = table.chunk_rows
        pred_batches, label_batches, weight_batches = split, (lambda: None), (lambda: None)

    label_stream = None
    if label_path is not None:
        label_rows, batches, label_closers = _label_batches(label_path, label_column, kind, ignore_index,
                                                            chunk_rows or 65536)
        closers.extend(label_closers)
        if label_rows is not None and n_rows is not None and label_rows != n_rows:
            raise ValueError(f"labels: {str(label_path)!r} has {label_rows:,} labels but the predictions have "
                             f"{n_rows:,} rows")
        label_stream = _LabelStream(batches, label_rows)

    def chunks():
        rows_read = 0
        labels_from, weights_from = label_batches(), weight_batches()
        for item in pred_batches():
            pred, lab, weight = item if isinstance(item, tuple) else (item, None, None)
            n = len(pred)
            if labels_from is not None:
                lab = next(labels_from)
            if weights_from is not None:
                weight = next(weights_from)
            if label_stream is not None:
                lab = label_stream.take(n, n_rows)
            rows_read += n
            yield pred, lab, weight
        if label_stream is not None:
            label_stream.finish(rows_read)
        if rows_read == 0:
            raise ValueError(f"predictions: {str(path)!r} holds no rows")
    return Source(n_rows, chunks, closers, decodes=fmt in (_PARQUET, _CSV))


def in_order(parts, n_workers, depth=1):
    """The items of ``parts`` (callables, each returning an iterator), part after part, while worker
    threads make them: part ``k`` on thread ``k % n_workers``, each part up to ``depth`` items ahead
    of the consumer.

    The workers stop when the consumer stops (an error, a break, KeyboardInterrupt) and have all
    ended when the iteration ends; an exception in a worker is raised in the consumer when it
    reaches that part.
    """
    parts = list(parts)
    queues = [queue.Queue(maxsize=depth) for _ in parts]
    stop = threading.Event()
    done = object()

    def put(box, item):
        while not stop.is_set():
            try:
                box.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work(first):
        for k in range(first, len(parts), n_workers):
            items = None
            try:
                items = iter(parts[k]())
                for item in items:
                    if not put(queues[k], (item, None)):
                        return
                put(queues[k], (done, None))
            except BaseException as exc:  # handed to the consumer, which raises it
                put(queues[k], (None, exc))
                return
            finally:
                if hasattr(items, "close"):  # a generator left early closes its files now
                    items.close()

    workers = [threading.Thread(target=work, args=(w,), name="fastxent-reader", daemon=True)
               for w in range(max(1, min(n_workers, len(parts))))]
    for worker in workers:
        worker.start()
    try:
        for box in queues:
            while True:
                item, error = box.get()
                if error is not None:
                    raise error
                if item is done:
                    break
                yield item
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def prefetched(chunks, depth=1):
    """Iterate ``chunks`` with the next ``depth`` items read ahead on a thread (reading overlaps scoring).

    The reader thread stops when the consumer stops (an error, a break, KeyboardInterrupt); an
    exception in the reader is raised in the consumer.
    """
    return in_order([lambda: chunks], 1, depth)
