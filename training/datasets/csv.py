"""Bring your own data: one CSV with a header row, split into train and test here.

`data.source` is its path (relative to the project root); `data.test_size` and `data.seed`
make a stratified split (their defaults: training/params.py); `data.missing` lists the
cell texts that mean "missing" (default: an empty cell and "?"). The bundle records them,
so the API's batch reader and Spark read the same cells as missing.
"""

from __future__ import annotations

import pandas as pd

from training.clean import drop_overlap, finish, missing_markers, split, strip_cells
from training.config import ConfigError, Paths
from training.fetch import copy_source

RAW_NAME = "data.csv"
CLEANING_STEPS = [
    "blanks around every cell stripped",
    "empty cells (and the configured missing markers) mean missing",
    "rows without a target and exact duplicate rows dropped",
    "a stratified train/test split (data.test_size, data.seed)",
    "training rows that also appear in the test split dropped (no leakage)",
]


def describe(data: dict) -> str:
    return f"your CSV: {data['source']}"


def fetch(paths: Paths, data: dict):
    if not data.get("source"):
        raise ConfigError("data.source is not set (the path of your CSV)")
    return {
        "all": copy_source(paths, (paths.root / data["source"]).resolve(), RAW_NAME)
    }


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    data, target = params["data"], params["features"]["target"]
    raw = pd.read_csv(paths.raw / RAW_NAME, dtype=str, keep_default_na=False)
    df = finish(strip_cells(raw, missing_markers(data)), target)
    train, test = split(df, target, data["test_size"], data["seed"])
    return {"train": drop_overlap(train, test, target), "test": test}
