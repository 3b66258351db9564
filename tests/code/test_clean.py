"""Cleaning, on hand-made raw rows."""

from __future__ import annotations

import io

import pandas as pd

from training.clean import COLUMNS, clean, drop_overlap, read_uci

RAW = """|1x3 Cross validator
39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K.
52, ?, 209642, HS-grad, 9, Married-civ-spouse, ?, Husband, White, Male, 0, 0, 45, ?, >50K.
39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K.

"""  # noqa: E501


def raw_frame() -> pd.DataFrame:
    return read_uci(io.StringIO(RAW), skip_first_line=True)


def test_read_uci_skips_the_junk_first_line_and_blank_lines():
    df = raw_frame()
    assert list(df.columns) == COLUMNS
    assert len(df) == 3


def test_clean_strips_blanks_and_normalises_labels():
    df = clean(raw_frame())
    assert df.loc[0, "workclass"] == "State-gov"
    assert list(df["salary"]) == ["<=50K", ">50K"]


def test_question_mark_becomes_missing():
    df = clean(raw_frame())
    row = df.iloc[1]
    assert pd.isna(row["workclass"]) and pd.isna(row["occupation"])
    assert pd.isna(row["native-country"]) and row["sex"] == "Male"


def test_exact_duplicates_are_dropped():
    assert len(clean(raw_frame())) == 2


def test_training_rows_also_in_test_are_dropped_even_with_missing_values():
    df = clean(raw_frame())
    train = df
    test = df.iloc[[1]].assign(salary="<=50K")  # same features, other label
    kept = drop_overlap(train, test, "salary")
    assert list(kept["age"]) == ["39"]
