"""Auto MPG (UCI, via the Vega data sets): a regression example with missing values.

`cars.json` (shipped in the pinned `vega_datasets` wheel) lists 406 cars of 1970-1982:
fuel consumption in miles per gallon, engine and body figures, model year and origin.
Horsepower is missing for 6 cars (the model fills it) and miles per gallon for 8 (those
rows are dropped: no target). This loader reads the JSON, keeps the year as a number
(`1970-01-01` is 1970), leaves out the car's name (an identifier) and splits the rows
into train and test at random. Chosen in params by `data.loader: examples.auto_mpg.dataset`.
"""

from __future__ import annotations

import json

import pandas as pd

from training.clean import drop_overlap, finish, split
from training.config import Paths
from training.fetch import fetch_from_wheel

RAW_FILE = "cars.json"
TARGET = "Miles_per_Gallon"
CLEANING_STEPS = [
    "the JSON records read as rows; the car's name (an identifier) left out",
    "the model year as a number (1970-01-01 is 1970)",
    "rows without miles per gallon and exact duplicate rows dropped",
    "a random train/test split (data.test_size, data.seed)",
]


def describe(data: dict) -> str:
    return (
        "Auto MPG (UCI, 406 cars of 1970-1982, Vega's cars.json), from the pinned "
        f"wheel {data['wheel']}"
    )


def fetch(paths: Paths, data: dict):
    return fetch_from_wheel(paths, data)


def read(path) -> pd.DataFrame:
    """The cars as rows: a null stays missing, the year is its number."""
    cars = pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))
    cars["Year"] = cars["Year"].str[:4].astype(int)
    return cars.drop(columns=["Name"])


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    data = params["data"]
    df = finish(read(paths.raw / RAW_FILE), TARGET)
    train, test = split(df, TARGET, data["test_size"], data["seed"], stratify=False)
    return {"train": drop_overlap(train, test, TARGET), "test": test}
