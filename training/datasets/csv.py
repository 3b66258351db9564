"""Bring your own data: one CSV with a header row, split into train and test here.

`data.source` is its path (relative to the project root); `data.test_size` and `data.seed`
make a stratified split (their defaults: training/params.py); `data.missing` lists the
cell texts that mean "missing" (default: an empty cell and "?"; the bundle records
them, so the API's batch reader and Spark read the same cells as missing);
`data.delimiter` is the character between fields ("," by default, ";" for a
semicolon CSV, "auto" to detect it).
"""

from __future__ import annotations

import csv

import pandas as pd

from bundle.format import REGRESSION
from training.clean import drop_overlap, finish, missing_markers, split, strip_cells
from training.config import ConfigError, Paths
from training.fetch import copy_source
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
    return f"your CSV: {data['source']}"


def fetch(paths: Paths, data: dict):
    if not data.get("source"):
        raise ConfigError("data.source is not set (the path of your CSV)")
    return {
        "all": copy_source(paths, (paths.root / data["source"]).resolve(), RAW_NAME)
    }


def read(
    source, delimiter: str = DATA_DEFAULTS["delimiter"], name: str = "data.source"
) -> pd.DataFrame:
    """The CSV as text cells; "auto" lets Python's csv.Sniffer find the delimiter."""
    if delimiter == AUTO_DELIMITER:
        options = {"sep": None, "engine": "python"}
    else:
        options = {"sep": delimiter}
    try:
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
    check_delimiter(paths.raw / RAW_NAME, delimiter)
    raw = read(paths.raw / RAW_NAME, delimiter)
    df = finish(strip_cells(raw, missing_markers(data)), target)
    regression = params["features"].get("task") == REGRESSION
    train, test = split(df, target, data["test_size"], data["seed"], not regression)
    return {"train": drop_overlap(train, test, target), "test": test}
