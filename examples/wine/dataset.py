"""Wine (UCI, Forina et al.): a multiclass example, three cultivars from 13 measurements.

`wine_data.csv` (shipped in the pinned `scikit-learn` wheel) has 178 rows; its first line
is not a header but `178,13,class_0,class_1,class_2` (rows, features, the class names).
This loader names the 13 columns as scikit-learn's `load_wine` does (`/` as `_`), writes
each class as its name (`class_0`...) and splits the rows into train and test, stratified.
Chosen in params by `data.loader: examples.wine.dataset`.
"""

from __future__ import annotations

import pandas as pd

from training.clean import drop_overlap, finish, split
from training.config import Paths
from training.fetch import fetch_from_wheel

RAW_FILE = "wine_data.csv"
TARGET = "cultivar"
FEATURES = [
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280_od315_of_diluted_wines",
    "proline",
]
CLEANING_STEPS = [
    "the file's first line (row count, feature count, class names) read, not kept",
    "columns named as scikit-learn's load_wine names them",
    "the class codes 0, 1, 2 written as the file's class names",
    "exact duplicate rows dropped; a stratified train/test split (data.test_size, "
    "data.seed)",
]


def describe(data: dict) -> str:
    return f"Wine (UCI, 178 wines of three cultivars), from the pinned wheel {data['wheel']}"


def fetch(paths: Paths, data: dict):
    return fetch_from_wheel(paths, data)


def read(path) -> pd.DataFrame:
    """The rows under their names; the class codes as the first line names them."""
    with open(path, encoding="utf-8") as fh:
        first = fh.readline().strip().split(",")
    names = first[2:]
    df = pd.read_csv(path, skiprows=1, header=None, names=FEATURES + [TARGET])
    unknown = sorted(set(df[TARGET]) - set(range(len(names))))
    if unknown:
        raise ValueError(f"{RAW_FILE}: class codes {unknown} beyond {names}")
    df[TARGET] = [names[code] for code in df[TARGET]]
    return df


def load(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    data = params["data"]
    df = finish(read(paths.raw / RAW_FILE), TARGET)
    train, test = split(df, TARGET, data["test_size"], data["seed"])
    return {"train": drop_overlap(train, test, TARGET), "test": test}
