"""Data checks that hold for any data set, on the configured one as the pipeline fetches
and cleans it (the session's sample of it: the same loader and checks, fewer rows)."""

from __future__ import annotations

import pandas as pd
import pytest

from bundle.files import sha256_file
from training.config import FeatureSpec
from training.features import read_processed, target_values


@pytest.fixture(scope="module")
def spec(full_params) -> FeatureSpec:
    return FeatureSpec.from_params(full_params)


@pytest.fixture(scope="module")
def splits(spec, sampled) -> dict[str, pd.DataFrame]:
    return {
        name: read_processed(sampled.processed / f"{name}.csv", spec, name)
        for name in ("train", "test")
    }


def test_raw_files_match_their_published_checksums(full_params, sampled):
    files = full_params["data"].get("files") or {}
    for spec in files.values():
        name = spec["member"].rsplit("/", 1)[-1]
        assert sha256_file(sampled.raw / name) == spec["sha256"]


def test_both_splits_have_every_feature_and_the_target(splits, spec):
    for df in splits.values():
        assert set(spec.columns + [spec.target]) <= set(df.columns)


@pytest.mark.task("binary")  # a binary target
def test_the_target_takes_two_values_one_of_them_the_positive_label(splits, spec):
    for df in splits.values():
        values = target_values(df[spec.target])
        assert len(values) == 2 and spec.positive_label in values


def test_numeric_values_lie_within_the_bounds_the_api_accepts(splits, spec):
    # A missing number is the model's to fill (tests/training/test_missing_numbers.py).
    for df in splits.values():
        for col, bounds in spec.numeric.items():
            present = df[col].dropna()
            assert present.between(bounds["min"], bounds["max"]).all(), col


def test_no_duplicates_within_or_across_splits(splits, spec):
    train, test = splits["train"], splits["test"]
    assert not train.duplicated().any() and not test.duplicated().any()
    keys = [c for c in train.columns if c != spec.target]
    both = train.fillna("\0").merge(test.fillna("\0"), on=keys)
    assert len(both) == 0
