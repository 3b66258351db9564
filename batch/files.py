"""Files of the batch scorer: CSV (gzip or not) and Parquet, read and written in batches.

Readers stream record batches (pyarrow's multi-threaded CSV reader, Parquet row groups),
so memory stays flat whatever the file size. Writers write beside the final name and
rename into place on success: a failed or interrupted run leaves no partial output, and
the temporary files of a run that was killed are removed by the next one.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from bundle.files import remove_stale_temps, temp_prefix

FORMATS = ("csv", "parquet")
FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet"}
GZIP_MAGIC = b"\x1f\x8b"
CSV_BLOCK = 1 << 17  # bytes of CSV per batch (~1,200 census rows): flat memory
PARQUET_BATCH = 4096  # rows per batch: flat memory
HEADER_BYTES = 1 << 16  # enough for any header row


class InputError(ValueError):
    """The input cannot be scored at all: unreadable, empty, or lacking a feature column."""


def format_of(path: Path, given: str | None) -> str:
    """The file's format: as given, else by extension (.parquet/.pq, else CSV)."""
    if given:
        return given
    suffixes = [s.lower() for s in path.suffixes]
    return "parquet" if suffixes[-1:] in ([".parquet"], [".pq"]) else "csv"


@dataclass
class Source:
    """An open input: its column names, the total rows if known, and its batches."""

    names: list[str]
    total_rows: int | None
    batches: Iterator[pa.RecordBatch]


def compression(path: Path) -> str | None:
    """ "gzip" when the bytes say so; a .gz name on other bytes is an error."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == GZIP_MAGIC:
        return "gzip"
    if path.suffix.lower() == ".gz":
        raise InputError("the file is named .gz but is not gzip-compressed")
    return None


def csv_reader(
    path: Path, columns: Sequence[str], delimiter: str = ",", quotechar: str = '"'
) -> pcsv.CSVStreamingReader:
    """A streaming CSV reader; the given columns only, read as text."""
    stream = pa.input_stream(str(path), compression=compression(path))
    convert = pcsv.ConvertOptions(
        column_types={c: pa.string() for c in columns},
        include_columns=list(columns),
        strings_can_be_null=False,
    )
    options = pcsv.ReadOptions(use_threads=True, block_size=CSV_BLOCK)
    # A quoted cell may hold a line break (a comment column, say), as csv readers allow.
    parse = pcsv.ParseOptions(
        newlines_in_values=True, delimiter=delimiter, quote_char=quotechar
    )
    return pcsv.open_csv(
        stream, read_options=options, parse_options=parse, convert_options=convert
    )


def csv_header(path: Path, delimiter: str = ",", quotechar: str = '"') -> list[str]:
    """The CSV's column names, from its first line (decompressed if need be)."""
    with pa.input_stream(str(path), compression=compression(path)) as stream:
        head = stream.read(HEADER_BYTES)
    if not head.strip():
        raise InputError("the file is empty (no header row)")
    text = head.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar))


def open_csv(
    path: Path, features: Sequence[str], delimiter: str = ",", quotechar: str = '"'
) -> Source:
    names = csv_header(path, delimiter, quotechar)
    if not set(features) <= set(names):
        return Source(names, None, iter(()))
    reader = csv_reader(path, features, delimiter, quotechar)
    return Source(names, None, iter(reader))


def open_parquet(path: Path, features: Sequence[str]) -> Source:
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if not set(features) <= set(names):
        return Source(names, None, iter(()))
    batches = pf.iter_batches(
        batch_size=PARQUET_BATCH, columns=list(features), use_threads=True
    )
    return Source(names, pf.metadata.num_rows, batches)


def open_source(
    path: Path,
    fmt: str,
    features: Sequence[str],
    delimiter: str = ",",
    quotechar: str = '"',
) -> Source:
    """Open `path` for its feature columns (InputError if it is unusable); `delimiter`
    separates a CSV's fields, `quotechar` wraps a field."""
    if not Path(path).exists():
        raise InputError("no such file")
    if not Path(path).is_file():
        raise InputError("not a file")
    try:
        if fmt == "parquet":
            return open_parquet(Path(path), features)
        return open_csv(Path(path), features, delimiter, quotechar)
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise InputError(reason(exc, fmt)) from exc


def reason(exc: BaseException, fmt: str) -> str:
    """Arrow's error as one line naming the problem."""
    text = " ".join(str(exc).split())
    if "Empty CSV file" in text:
        return "the file is empty (no header row)"
    return f"not a readable {FORMAT_NAMES[fmt]} file: {text}"


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class OutputError(OSError):
    """An output file cannot be written where it was asked for."""


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same once symlinks and `..` are resolved, or
    (for files that exist) the same device and inode, as two hard links are."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def clashing_pair(paths: dict, clash) -> tuple | None:
    """The first (name, path, other, other_path) of the named paths, in order, for which
    `clash(path, other_path)` holds; None when no two clash. Unset (None) paths are left
    out."""
    given = [(name, path) for name, path in paths.items() if path is not None]
    for i, (name, path) in enumerate(given):
        for other, other_path in given[i + 1 :]:
            if clash(path, other_path):
                return name, path, other, other_path
    return None


def check_distinct(paths: dict[str, Path | None]) -> None:
    """OutputError if any two of the named paths (input, output, errors) are one file:
    writing one would destroy the other."""
    pair = clashing_pair(paths, same_file)
    if pair:
        name, path, other, other_path = pair
        raise OutputError(
            f"the {name} {path} and the {other} {other_path} are the same file: "
            f"give the {other} another name"
        )


def check_writable(path: Path) -> None:
    """OutputError if `path` exists as something a file cannot replace (a folder, a
    device): checked before anything is read."""
    if os.path.lexists(path) and not Path(path).is_file():
        what = "a folder" if Path(path).is_dir() else "not a regular file"
        raise OutputError(f"cannot write {path}: it is {what}")


def write_failure(path: Path, exc: BaseException) -> OutputError:
    """An error writing `path` (disk full, say) as one line naming the output."""
    why = getattr(exc, "strerror", None) or " ".join(str(exc).split())
    return OutputError(f"cannot write {path}: {why}")


class AtomicWriter:
    """Arrow batches to a temporary file beside `path`, renamed into place on commit.

    The temporary file is `.<name>.<pid>.<random>` (bundle/files.py): those of a run that
    was killed are removed by the next run writing the same output. `unquoted`: the
    caller knows no text needs CSV quotes, so none are written (a label `1`, not `"1"`).
    """

    def __init__(
        self, path: Path, fmt: str, schema: pa.Schema, unquoted: bool = False
    ) -> None:
        self.path = Path(path)
        check_writable(self.path)
        remove_stale_temps(self.path)
        try:
            fd, self.tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=temp_prefix(self.path)
            )
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}") from exc
        try:
            os.fchmod(fd, 0o666 & ~current_umask())  # as a plain open() would make it
            os.close(fd)
            if fmt == "parquet":
                self.writer = pq.ParquetWriter(self.tmp, schema)
            else:
                quoting = "none" if unquoted else "needed"
                options = pcsv.WriteOptions(quoting_style=quoting)
                self.writer = pcsv.CSVWriter(self.tmp, schema, write_options=options)
        except BaseException:
            Path(self.tmp).unlink(missing_ok=True)
            raise

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self.writer.write_batch(batch)
        except (OSError, pa.ArrowException) as exc:
            raise write_failure(self.path, exc) from exc

    def commit(self) -> None:
        try:
            self.writer.close()
            os.replace(self.tmp, self.path)
        except (OSError, pa.ArrowException) as exc:
            Path(self.tmp).unlink(missing_ok=True)
            raise write_failure(self.path, exc) from exc

    def discard(self) -> None:
        try:
            self.writer.close()
        except (OSError, pa.ArrowException):
            pass  # a disk-full flush, say: the file is removed all the same
        finally:
            Path(self.tmp).unlink(missing_ok=True)
