"""Data checks particular to the census files, on the real fetched and cleaned data."""

from __future__ import annotations

import pandas as pd
import pytest

from training.config import Paths
from training.datasets.uci_adult import COLUMNS

PATHS = Paths()
pytestmark = pytest.mark.dataset("census-income")


@pytest.fixture(scope="module")
def splits() -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(PATHS.processed / f"{name}.csv", dtype=str)
        for name in ("train", "test")
    }


def test_clean_splits_keep_the_uci_columns_in_order(splits):
    for df in splits.values():
        assert list(df.columns) == COLUMNS


def test_labels_are_exactly_the_two_classes(splits):
    for df in splits.values():
        assert set(df["salary"]) == {"<=50K", ">50K"}


def test_split_sizes_and_positive_rate_are_the_known_ones(splits):
    assert len(splits["train"]) == 32511 and len(splits["test"]) == 16276
    rate = (splits["test"]["salary"] == ">50K").mean()
    assert 0.23 < rate < 0.24


def test_no_question_marks_or_blank_padding_survive(splits):
    for df in splits.values():
        values = df.stack()
        assert not values.eq("?").any()
        assert not values.str.startswith(" ").any()


def test_missing_values_only_where_uci_has_them(splits):
    missing = splits["train"].isna().sum()
    assert set(missing[missing > 0].index) == {
        "workclass",
        "occupation",
        "native-country",
    }


def test_numeric_columns_parse_as_integers_in_range(splits, full_params):
    numeric = full_params["features"]["numeric"]
    for df in splits.values():
        for col, bounds in numeric.items():
            values = pd.to_numeric(df[col], errors="raise")
            assert (values == values.round()).all()
            assert values.between(bounds["min"], bounds["max"]).all(), col


def test_no_duplicates_within_or_across_splits(splits):
    train, test = splits["train"], splits["test"]
    assert not train.duplicated().any() and not test.duplicated().any()
    features = [c for c in COLUMNS if c != "salary"]
    assert len(train.merge(test, on=features)) == 0
