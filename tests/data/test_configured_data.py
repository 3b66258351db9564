"""Data checks that hold for any data set, on the configured one as the pipeline fetches
and cleans it (the session's sample of it: the same loader and checks, fewer rows)."""

from __future__ import annotations

import pandas as pd
import pytest

from bundle.files import sha256_file
from testkit.markers import not_for_this_data
from training.config import FeatureSpec
from training.features import imputations, read_processed, target_values
from training.params import DATA_DEFAULTS


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


def test_numeric_values_lie_within_the_bounds_or_are_missing_where_imputed(
    splits, spec
):
    imputed = imputations(spec, splits["train"])
    for df in splits.values():
        for col, bounds in spec.numeric.items():
            values = df[col].dropna() if col in imputed else df[col]
            assert values.between(bounds["min"], bounds["max"]).all(), col


def test_no_duplicates_within_or_across_splits_unless_repeats_are_the_data(
    splits, spec, full_params
):
    if not full_params["data"].get("deduplicate", DATA_DEFAULTS["deduplicate"]):
        not_for_this_data("data.deduplicate is false: repeated rows are the data")
    train, test = splits["train"], splits["test"]
    assert not train.duplicated().any() and not test.duplicated().any()
    keys = [c for c in train.columns if c != spec.target]
    # One frame first: a number column with a gap in one split only is float in the other.
    rows = pd.concat([train[keys], test[keys]], ignore_index=True).fillna("\0")
    both = rows[: len(train)].merge(rows[len(train) :], on=keys)
    assert len(both) == 0
