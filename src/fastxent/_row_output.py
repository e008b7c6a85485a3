"""Per-row loss output of the scorer: ``.npy`` or Parquet, renamed into place only when the run succeeds.

The rows arrive chunk by chunk and their number may be unknown until the end (CSV), so the ``.npy``
writer reserves a fixed-size header, streams the float64 losses after it, and writes the real header
(the final shape) last. Until the rename, the output lives in a hidden temporary file beside the
target; any failure (an exception, KeyboardInterrupt, a full disk) deletes it and leaves the target
untouched.
"""

import contextlib
import os
from pathlib import Path

import numpy as np

_NPY_HEADER_BYTES = 128  # magic (8) + length (2) + a header dict padded with spaces; multiple of 64


class _NoOutput:
    def write(self, row_loss):
        pass


class _NpyWriter:
    def __init__(self, file):
        self.file, self.rows = file, 0
        file.write(b"\0" * _NPY_HEADER_BYTES)

    def write(self, row_loss):
        np.ascontiguousarray(row_loss, dtype="<f8").tofile(self.file)
        self.rows += len(row_loss)

    def finish(self):
        header = repr({"descr": "<f8", "fortran_order": False, "shape": (self.rows,)}).encode("latin1")
        padding = _NPY_HEADER_BYTES - 10 - len(header) - 1
        self.file.seek(0)
        self.file.write(b"\x93NUMPY\x01\x00" + (_NPY_HEADER_BYTES - 10).to_bytes(2, "little")
                        + header + b" " * padding + b"\n")

    def discard(self):
        pass


class _ParquetWriter:
    def __init__(self, file):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        self.writer = pq.ParquetWriter(file, pa.schema([("loss", pa.float64())]))

    def write(self, row_loss):
        self.writer.write_table(self.pa.table({"loss": self.pa.array(row_loss, type=self.pa.float64())}))

    def finish(self):
        self.writer.close()

    def discard(self):
        """Close the Parquet writer of a failed run before its file goes (the file is deleted anyway)."""
        try:
            self.writer.close()
        except (OSError, ValueError):
            pass


_WRITERS = {".npy": _NpyWriter, ".parquet": _ParquetWriter, ".pq": _ParquetWriter}


def check_row_output_path(path):
    """The target `Path`, or raise ValueError when its format is unknown or its folder is missing."""
    target = Path(path)
    if target.suffix.lower() not in _WRITERS:
        raise ValueError(f"per_row_output must end in .npy or .parquet, got {str(path)!r}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"per_row_output: folder {str(target.parent)!r} does not exist")
    if target.suffix.lower() != ".npy":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise ImportError("per_row_output as Parquet needs pyarrow: pip install 'fastxent[parquet]'") from None
    return target


@contextlib.contextmanager
def open_row_output(path):
    """A writer with ``write(row_loss)``; for a path, the file appears only if the block succeeds."""
    if path is None:
        yield _NoOutput()
        return
    target = check_row_output_path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            writer = _WRITERS[target.suffix.lower()](file)
            try:
                yield writer
            except BaseException:
                writer.discard()
                raise
            writer.finish()
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
