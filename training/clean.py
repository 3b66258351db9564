"""Stage 2: turn raw census files into clean train/test CSVs.

Pure functions do the work (`clean` takes a frame and returns a frame); `main` only reads
and writes. `python -m training.clean`
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from training.config import Paths, load_params
from training.io import write_text_atomic

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
MISSING = "?"


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
    df = raw.apply(lambda col: col.astype(str).str.strip())
    df = df.replace({MISSING: pd.NA, "": pd.NA})
    df = df.dropna(how="all")
    df[target] = df[target].str.rstrip(".")
    df = df.dropna(subset=[target])
    return df.drop_duplicates().reset_index(drop=True)


def drop_overlap(train: pd.DataFrame, test: pd.DataFrame, target: str) -> pd.DataFrame:
    """Training rows whose features also appear in the test split are dropped (leakage)."""
    features = [c for c in train.columns if c != target]
    keys = pd.MultiIndex.from_frame(test[features].fillna("\0"))
    seen = pd.MultiIndex.from_frame(train[features].fillna("\0")).isin(keys)
    return train[~seen].reset_index(drop=True)


def split_own(df: pd.DataFrame, target: str, test_size: float, seed: int):
    """Stratified train/test split for a census.csv of your own."""
    from sklearn.model_selection import train_test_split

    return train_test_split(
        df, test_size=test_size, random_state=seed, stratify=df[target]
    )


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV text with missing values as empty fields."""
    return df.to_csv(index=False, lineterminator="\n")


def clean_splits(paths: Paths, params: dict) -> dict[str, pd.DataFrame]:
    """Clean train/test frames from data/raw: the UCI files, or your census.csv split."""
    target, data = params["features"]["target"], params["data"]
    if data["source"] != "uci-wheel":
        raw = pd.read_csv(paths.raw / "census.csv", dtype=str, keep_default_na=False)
        train, test = split_own(
            clean(raw, target), target, data["test_size"], data["seed"]
        )
    else:
        train = clean(read_uci(paths.raw / "adult.data"), target)
        test = clean(read_uci(paths.raw / "adult.test", skip_first_line=True), target)
    return {"train": drop_overlap(train, test, target), "test": test}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    paths = Paths()
    for name, df in clean_splits(paths, load_params()).items():
        write_text_atomic(paths.processed / f"{name}.csv", to_csv_text(df))
        print(f"{name}: {len(df)} rows -> {paths.processed / f'{name}.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
