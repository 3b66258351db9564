"""Batch scoring: a file of records in, a file of predictions out, streamed in batches.

    python -m batch.score INPUT OUTPUT [--errors ERRORS] [--input-format F] [--output-format F]

INPUT is CSV (gzip-compressed or not) or Parquet; OUTPUT and ERRORS are CSV or Parquet,
each by its extension (.parquet or .pq, else CSV) or the flags. Every row is validated by
the API's own rules (bundle/rules.py) through the columnar core (batch/columnar.py): a
row that fails is reported by its row number (1 = the first data row), left without a
prediction, and the job goes on. OUTPUT has one line per input row, in order:
`row,prediction,probability,model_version` for a binary model (a multiclass one adds a
`probability_<class>` column per class; a regression's `prediction` is its value and it
has no probability: batch/columnar.py). Columns other than the model's features are
ignored. Memory stays flat; the outputs appear under their names only on success.

Exit status: 0 every row scored; 1 finished, some rows invalid; 2 unusable input or
outputs (two of them the same file, an output that is a folder, a full disk); 3 the model
could not be loaded; 143 stopped by SIGTERM (no output written).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import pyarrow as pa

from batch.columnar import (
    PREDICTIONS,
    REJECTED,
    ColumnarScorer,
    Scored,
    configured_bundle,
)
from batch.files import (
    FORMATS,
    AtomicWriter,
    InputError,
    OutputError,
    check_distinct,
    check_writable,
    format_of,
    open_source,
)
from bundle.format import BundleError
from bundle.store import LoadedBundle

# Rows whose errors are echoed to stderr before the rest are only counted.
SHOWN_ROWS = 20
PROGRAM = "batch score"
SCORE_ROWS = 4096  # rows scored at once, at least: fewer Arrow calls per row


def plain_csv(texts: Iterable[str]) -> bool:
    """Whether these texts go into a CSV as they are: not empty (a null is), no comma,
    quote or line break."""
    return all(t and not set(t) & set(',"\r\n') for t in texts)


class Outputs:
    """The predictions file and the optional errors file, committed together."""

    def __init__(
        self,
        args: argparse.Namespace,
        texts: Iterable[str] = (),
        schema: pa.Schema = PREDICTIONS,
    ) -> None:
        self.err = None
        # The predictions' only texts are the class names and the version: when none
        # needs quotes, none gets them, so a label reads as the API's answer and the
        # training CSV's target do (1, not "1").
        self.out = AtomicWriter(
            args.output,
            format_of(args.output, args.output_format),
            schema,
            unquoted=plain_csv(texts),
        )
        try:
            if args.errors:
                self.err = AtomicWriter(
                    args.errors, format_of(args.errors, args.output_format), REJECTED
                )
        except BaseException:
            self.out.discard()
            raise

    def writers(self) -> list[AtomicWriter]:
        return [w for w in (self.out, self.err) if w is not None]

    def commit(self) -> None:
        for writer in self.writers():
            writer.commit()

    def discard(self) -> None:
        for writer in self.writers():
            writer.discard()


def echo(rejected: pa.RecordBatch, shown: set[int], bar) -> None:
    """The first SHOWN_ROWS rejected rows' errors on stderr."""
    for row, field, message in zip(*(c.to_pylist() for c in rejected.columns)):
        if row in shown or len(shown) < SHOWN_ROWS:
            shown.add(row)
            bar.write(f"row {row}: {field}: {message}", file=sys.stderr)


def score_file(
    model: LoadedBundle,
    args: argparse.Namespace,
    stop: threading.Event | None = None,
) -> tuple[int, int]:
    """Score args.input into args.output; return (rows, invalid rows). `stop` set ends
    the run with Terminated after the batch being written."""
    from tqdm import tqdm

    scorer = ColumnarScorer(model)
    fmt = format_of(args.input, args.input_format)
    source = open_source(
        args.input, fmt, scorer.feature_names, args.delimiter, args.quotechar
    )
    lacking = scorer.missing(source.names)
    if lacking:
        raise InputError(f"the input lacks the feature column(s) {', '.join(lacking)}")
    rows = invalid = 0
    shown: set[int] = set()
    bar = tqdm(
        total=source.total_rows,
        unit="rows",
        unit_scale=True,
        disable=args.quiet or None,
    )
    texts = (*model.metadata.target.labels, model.version)
    outputs = Outputs(args, texts, scorer.schema)
    try:
        with bar:
            batches = regroup(read(source, fmt), SCORE_ROWS)
            for scored in scored_batches(scorer, batches, args.threads):
                outputs.out.write(scored.predictions)
                if outputs.err:
                    outputs.err.write(scored.rejected)
                echo(scored.rejected, shown, bar)
                rows += scored.predictions.num_rows
                invalid += scored.rejected_rows
                bar.update(scored.predictions.num_rows)
                if stop is not None and stop.is_set():
                    raise Terminated()
    except BaseException:
        outputs.discard()
        raise
    outputs.commit()
    return rows, invalid


def scored_batches(
    scorer: ColumnarScorer, batches: Iterable[pa.RecordBatch], threads: int
) -> Iterator[Scored]:
    """Each batch scored, in input order, `threads` batches at a time.

    Arrow's compute functions and onnxruntime release the GIL, so batches scored in
    threads use the cores; at most 2 x `threads` batches are held (flat memory).
    """
    if threads <= 1:
        first = 1
        for batch in batches:
            yield scorer.score(batch, first)
            first += batch.num_rows
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="score") as pool:
        pending: deque = deque()
        first = 1
        for batch in batches:
            pending.append(pool.submit(scorer.score, batch, first))
            first += batch.num_rows
            if len(pending) >= threads + 1:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def regroup(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Consecutive batches joined into batches of at least `rows` rows (the last one
    may be smaller): fewer, larger batches to score, from small blocks read."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield held[0] if len(held) == 1 else pa.concat_batches(held)
            held, count = [], 0
    if held:
        yield held[0] if len(held) == 1 else pa.concat_batches(held)


def read(source, fmt: str):
    """The source's batches; a read error midway is an InputError naming it."""
    from batch.files import reason

    try:
        yield from source.batches
    except (pa.ArrowInvalid, OSError, EOFError) as exc:
        raise InputError(reason(exc, fmt)) from exc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m batch.score", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("input", type=Path, help="CSV (may be gzipped) or Parquet")
    parser.add_argument("output", type=Path, help="predictions, CSV or Parquet")
    parser.add_argument("--errors", type=Path, help="also write every error here")
    parser.add_argument("--input-format", choices=FORMATS, help="default: by extension")
    parser.add_argument(
        "--output-format",
        choices=FORMATS,
        help="of OUTPUT and ERRORS (default: by extension)",
    )
    parser.add_argument(
        "--model-dir", type=Path, help="model bundle (default: MODEL_DIR)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="batches scored at once (default: one per core)",
    )
    parser.add_argument(
        "--delimiter",
        type=delimiter,
        default=",",
        help="between a CSV input's fields: one character, \\t for a tab (default: ,)",
    )
    parser.add_argument(
        "--quotechar",
        type=quotechar,
        default='"',
        help="wraps a CSV input's field, as data.quotechar (default: \")",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.quotechar == args.delimiter:
        parser.error("--quotechar and --delimiter must differ")
    return args


def delimiter(text: str) -> str:
    """One character; `\\t` (as a shell passes it) is a tab."""
    value = "\t" if text == "\\t" else text
    if len(value) != 1 or value in '\r\n"':
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one character other than a quote or a line break"
        )
    return value


def quotechar(text: str) -> str:
    """One character other than a line break."""
    if len(text) != 1 or text in "\r\n":
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one character other than a line break"
        )
    return text


class Terminated(Exception):
    """SIGTERM arrived: the run stops, removing its temporary files on the way out."""


@contextmanager
def sigterm_sets() -> Iterator[threading.Event]:
    """An event SIGTERM sets meanwhile, checked between batches: raising from the
    handler could land in library code that swallows it. Python handles signals in the
    main thread only; SIGKILL cannot be caught (the next run removes what it leaves)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_paths(args: argparse.Namespace) -> None:
    """OutputError, before anything is read, if an output would destroy the input or
    the other output, or cannot be a file."""
    check_distinct({"input": args.input, "output": args.output, "errors": args.errors})
    for path in (args.output, args.errors):
        if path is not None:
            check_writable(path)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; the exit status says whether every row was scored."""
    args = parse_args(argv)
    try:
        check_paths(args)
    except OutputError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 2
    try:
        model = configured_bundle(args.model_dir)
    except BundleError as exc:
        print(f"{PROGRAM}: cannot load the model: {exc}", file=sys.stderr)
        return 3
    try:
        with sigterm_sets() as stop:
            rows, invalid = score_file(model, args, stop)
    except Terminated:
        print(f"{PROGRAM}: terminated (SIGTERM); no output written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except OutputError as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 2
    except (InputError, OSError) as exc:
        print(f"{PROGRAM}: {args.input}: {exc}", file=sys.stderr)
        return 2
    print(
        f"scored {rows - invalid} of {rows} rows into {args.output}"
        + (f"; {invalid} invalid row(s) left unscored" if invalid else ""),
        file=sys.stderr,
    )
    return 1 if invalid else 0


class WithoutPandas:
    """An import hook that finds no pandas, as on a serving install (requirements.txt).

    pyarrow imports pandas, where installed, at its first conversion of a Python value
    only to look for pandas types; this program has none, and the import costs 0.5 s.
    """

    def find_spec(self, name: str, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if __name__ == "__main__":
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, WithoutPandas())
    sys.exit(main())
