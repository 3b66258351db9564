"""Batch scoring: a CSV of records in, a CSV of predictions out, streamed in chunks.

    python -m batch.score INPUT.csv OUTPUT.csv [--errors ERRORS.csv] [--chunk-size N]

Each row is read as the API would receive it (an empty cell is null, a number is a JSON
number, anything else a string) and validated by the API's own rules (bundle/rules.py).
A row that fails is reported by its row number (1 = the first row after the header), left
without a prediction, and the job goes on. OUTPUT has one line per input row, in order:
`row,prediction,probability`. Columns other than the model's features (an id, the target)
are ignored. Memory stays flat: only one chunk of rows is held at a time.

Exit status: 0 every row scored; 1 finished, some rows invalid; 2 unusable input;
3 the model could not be loaded.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

from bundle.format import BundleError
from bundle.rules import FeatureRule, record_errors
from bundle.store import LoadedBundle, load_bundle

OUTPUT_COLUMNS = ["row", "prediction", "probability"]
ERROR_COLUMNS = ["row", "field", "message"]
# Errors echoed to stderr before the rest are only counted (all go to --errors).
SHOWN_ERRORS = 20
PROGRAM = "batch score"


class InputError(ValueError):
    """The input file cannot be scored at all (missing, or lacking feature columns)."""


def read_records(
    fh: IO[str], rules: Sequence[FeatureRule]
) -> Iterator[tuple[int, dict]]:
    """(row number, record) for each CSV row; a short row's missing cells are left out."""
    reader = csv.DictReader(fh)
    lacking = [r.name for r in rules if r.name not in (reader.fieldnames or [])]
    if lacking:
        raise InputError(f"the input lacks the feature column(s) {', '.join(lacking)}")
    for number, row in enumerate(reader, start=1):
        yield number, {
            r.name: r.from_text(row[r.name]) for r in rules if row[r.name] is not None
        }


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most `size` items."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Scorer:
    """Validates and scores chunks of rows with one model and the API's rules."""

    def __init__(self, model: LoadedBundle) -> None:
        self.rules = model.features
        self.loaders = [(r.name, r.load) for r in self.rules]
        self.predictor = model.predictor

    def score(self, rows: list[tuple[int, dict]]) -> tuple[list[list], list[list]]:
        """Output lines for `rows` in order, and (row, field, message) error lines."""
        valid, errors, out = [], [], []
        for number, record in rows:
            problems = record_errors(self.rules, record)
            if problems:
                errors.extend(error_lines(number, problems))
                out.append([number, "", ""])
            else:
                valid.append({name: load(record[name]) for name, load in self.loaders})
                out.append([number, None, None])
        proba = iter(self.predictor.proba_records(valid).tolist())
        for line in out:
            if line[1] is None:
                p = next(proba)
                line[1], line[2] = self.predictor.label(p), repr(p)
        return out, errors


def error_lines(number: int, messages: Any) -> list[list]:
    """Flatten {field: [messages]} into (row, field, message) lines."""
    if not isinstance(messages, dict):
        return [[number, "", str(messages)]]
    return [
        [number, field, text]
        for field, texts in messages.items()
        for text in (texts if isinstance(texts, list) else [texts])
    ]


def count_rows(path: Path) -> int:
    """Data rows in a CSV, by counting newlines (for the progress bar only)."""
    lines = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


class AtomicCsv:
    """A CSV written to a temporary file beside `path`, renamed into place on success."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        fd, self.tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        self.fh = os.fdopen(fd, "w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.fh)
        self.writer.writerow(header)

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.fh.close()
        Path(self.tmp).unlink(missing_ok=True)


def score_file(
    model: LoadedBundle,
    source: Path,
    target: Path,
    errors_path: Path | None = None,
    chunk_size: int = 5000,
    progress: bool = True,
) -> tuple[int, int]:
    """Score `source` into `target`; return (rows, invalid rows). Errors go to stderr."""
    from tqdm import tqdm

    scorer = Scorer(model)
    total = count_rows(source)
    out = AtomicCsv(target, OUTPUT_COLUMNS)
    err = AtomicCsv(errors_path, ERROR_COLUMNS) if errors_path else None
    rows = invalid = 0
    bar = tqdm(total=total, unit="rows", disable=None if progress else True)
    try:
        with open(source, newline="", encoding="utf-8") as fh, bar:
            for chunk in chunks(read_records(fh, model.features), chunk_size):
                lines, errors = scorer.score(chunk)
                out.writer.writerows(lines)
                invalid += report(errors, invalid, err, bar)
                rows += len(chunk)
                bar.update(len(chunk))
    except BaseException:
        out.discard()
        if err:
            err.discard()
        raise
    out.commit()
    if err:
        err.commit()
    return rows, invalid


def report(errors: list[list], shown: int, err: AtomicCsv | None, bar) -> int:
    """Write error lines to the errors CSV and the first few to stderr; count bad rows."""
    if err:
        err.writer.writerows(errors)
    bad_rows = sorted({line[0] for line in errors})
    echoed = set(bad_rows[: max(SHOWN_ERRORS - shown, 0)])
    for number, field, message in errors:
        if number in echoed:
            bar.write(f"row {number}: {field}: {message}", file=sys.stderr)
    return len(bad_rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m batch.score",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("input", type=Path, help="CSV with a header row")
    parser.add_argument(
        "output", type=Path, help="CSV to write: row,prediction,probability"
    )
    parser.add_argument(
        "--errors", type=Path, help="also write every error to this CSV"
    )
    parser.add_argument("--chunk-size", type=int, default=5000, help="rows per chunk")
    parser.add_argument(
        "--model-dir", type=Path, help="model bundle (default: MODEL_DIR)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; the exit status says whether every row was scored."""
    from service.settings import ConfigError, Settings

    args = parse_args(argv)
    if args.chunk_size < 1:
        print(f"{PROGRAM}: --chunk-size must be >= 1", file=sys.stderr)
        return 2
    try:
        model = load_bundle(args.model_dir or Settings.from_env().model_path)
        rows, invalid = score_file(
            model, args.input, args.output, args.errors, args.chunk_size, not args.quiet
        )
    except (BundleError, ConfigError) as exc:
        print(f"{PROGRAM}: cannot load the model: {exc}", file=sys.stderr)
        return 3
    except (InputError, OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"{PROGRAM}: {args.input}: {exc}", file=sys.stderr)
        return 2
    print(
        f"scored {rows - invalid} of {rows} rows into {args.output}"
        + (f"; {invalid} invalid row(s) left unscored" if invalid else ""),
        file=sys.stderr,
    )
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
