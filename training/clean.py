"""Stage 2: turn the raw files into clean train/test CSVs, and refuse data that cannot work.

The data set's loader (training/datasets/) does the cleaning particular to its files; the
helpers here are what every loader shares. Before anything is written, the tables are
checked against params.yaml exactly as the next stage will read them: a missing feature, a
numeric column that does not parse, a positive label the target never takes, a categorical
feature with one value, a class too small for the CV folds each stop the stage with one
line. `python -m training.clean`
"""

from __future__ import annotations

import argparse
import io
import sys

import pandas as pd

from bundle.files import write_text_atomic
from bundle.rules import cell_text
from training.config import ConfigError, FeatureSpec, Paths
from training.datasets import dataset_for
from training.features import read_processed, target_values
from training.params import Params, load
from training.stage import run_stage

MISSING_MARKERS = ("?", "")


def missing_markers(data: dict) -> tuple[str, ...]:
    """The cell texts that mean missing: `data.missing`, else an empty cell and "?"."""
    return tuple(data.get("missing", MISSING_MARKERS))


def strip_cells(raw: pd.DataFrame, markers=MISSING_MARKERS) -> pd.DataFrame:
    """Cells read as scoring reads them (stripped, a missing marker as missing, by
    bundle.rules.cell_text, which the bundle's readers share), empty rows gone."""
    df = raw.apply(lambda col: col.astype(str).map(lambda t: cell_text(t, markers)))
    return df.dropna(how="all")


def finish(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows without a target and exact duplicates dropped."""
    if target not in df.columns:
        raise ConfigError(
            f"features.target {target!r} is not a column of the data "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    df = df.dropna(subset=[target])
    return df.drop_duplicates().reset_index(drop=True)


def drop_overlap(train: pd.DataFrame, test: pd.DataFrame, target: str) -> pd.DataFrame:
    """Training rows whose features also appear in the test split are dropped (leakage)."""
    features = [c for c in train.columns if c != target]
    keys = pd.MultiIndex.from_frame(test[features].fillna("\0"))
    seen = pd.MultiIndex.from_frame(train[features].fillna("\0")).isin(keys)
    return train[~seen].reset_index(drop=True)


def split(df: pd.DataFrame, target: str, test_size: float, seed: int):
    """Stratified train/test split of one table."""
    from sklearn.model_selection import train_test_split

    counts = df[target].value_counts()
    if len(counts) >= 2 and counts.min() < 2:
        raise ConfigError(
            f"target {target!r}: class {counts.idxmin()!r} has {counts.min()} row; "
            "a stratified split needs at least 2"
        )
    return train_test_split(
        df, test_size=test_size, random_state=seed, stratify=df[target]
    )


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV text with missing values as empty fields."""
    return df.to_csv(index=False, lineterminator="\n")


def check_split(name: str, df: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The processed table as the fit stage will read it, or ConfigError saying why not."""
    lacking = [c for c in spec.columns if c not in df.columns]
    if lacking:
        raise ConfigError(
            f"feature {lacking[0]!r} is not a column of the {name} data "
            f"(columns: {', '.join(map(str, df.columns))})"
        )
    return read_processed(io.StringIO(to_csv_text(df)), spec, name)


def check_training_data(train: pd.DataFrame, spec: FeatureSpec, folds: int) -> None:
    """Labels, categories and class sizes the fit stage needs, checked before any fit."""
    values = target_values(train[spec.target])
    if len(values) != 2:
        raise ConfigError(
            f"target {spec.target!r} must take exactly two values, found "
            f"{len(values)}: {', '.join(map(repr, values[:10]))}"
        )
    label = spec.positive_label
    if not any(v == label and type(v) is type(label) for v in values):
        hint = [v for v in values if str(v) == str(spec.positive_label)]
        raise ConfigError(
            f"features.positive_label {spec.positive_label!r} is not a value of "
            f"target {spec.target!r}; values found: "
            f"{', '.join(map(repr, values))}"
            + (f" (write it as {hint[0]!r})" if hint else "")
        )
    for col in spec.categorical:
        seen = train[col].dropna().unique()
        if len(seen) < 2:
            raise ConfigError(
                f"categorical feature {col!r} has {len(seen)} value(s) in the training "
                "data: it cannot inform the model; drop it from features.categorical"
            )
    counts = train[spec.target].value_counts()
    if counts.min() < folds:
        raise ConfigError(
            f"class {counts.idxmin()!r} of target {spec.target!r} has {counts.min()} "
            f"training rows, fewer than train.cv_folds={folds}"
        )


def clean_splits(paths: Paths, params: Params) -> dict[str, pd.DataFrame]:
    """Clean, checked train/test tables from data/raw, by the configured loader."""
    spec = params.features
    frames = dataset_for(params.data.loader).load(paths, params.raw)
    checked = {name: check_split(name, df, spec) for name, df in frames.items()}
    check_training_data(checked["train"], spec, params.train.cv_folds)
    return frames


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    paths = Paths()
    for name, df in clean_splits(paths, load()).items():
        write_text_atomic(paths.split(name), to_csv_text(df))
        print(f"{name}: {len(df)} rows -> {paths.split(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("clean", main))
