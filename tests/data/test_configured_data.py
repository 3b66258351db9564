"""Data checks that hold for any data set, on the real fetched and cleaned data of the
configured one (`make data` runs first in `make test`)."""

from __future__ import annotations

import pandas as pd
import pytest

from bundle.files import sha256_file
from training.config import FeatureSpec, Paths
from training.features import read_processed, target_values

PATHS = Paths()


@pytest.fixture(scope="module")
def data_ready(full_params):
    if not (PATHS.processed / "test.csv").exists():
        pytest.fail("no data/processed: run `make data` (make test runs it first)")
    return full_params


@pytest.fixture(scope="module")
def spec(data_ready) -> FeatureSpec:
    return FeatureSpec.from_params(data_ready)


@pytest.fixture(scope="module")
def splits(spec) -> dict[str, pd.DataFrame]:
    return {
        name: read_processed(PATHS.processed / f"{name}.csv", spec, name)
        for name in ("train", "test")
    }


def test_raw_files_match_their_published_checksums(data_ready):
    files = data_ready["data"].get("files") or {}
    for spec in files.values():
        name = spec["member"].rsplit("/", 1)[-1]
        assert sha256_file(PATHS.raw / name) == spec["sha256"]


def test_both_splits_have_every_feature_and_the_target(splits, spec):
    for df in splits.values():
        assert set(spec.columns + [spec.target]) <= set(df.columns)


def test_the_target_takes_two_values_one_of_them_the_positive_label(splits, spec):
    for df in splits.values():
        values = target_values(df[spec.target])
        assert len(values) == 2 and spec.positive_label in values


def test_numeric_values_lie_within_the_bounds_the_api_accepts(splits, spec):
    for df in splits.values():
        for col, bounds in spec.numeric.items():
            assert df[col].between(bounds["min"], bounds["max"]).all(), col


def test_no_duplicates_within_or_across_splits(splits, spec):
    train, test = splits["train"], splits["test"]
    assert not train.duplicated().any() and not test.duplicated().any()
    keys = [c for c in train.columns if c != spec.target]
    both = train.fillna("\0").merge(test.fillna("\0"), on=keys)
    assert len(both) == 0
