"""Slice arithmetic (monitoring/slices.py): bands, per-slice metrics and flags; and the
evaluation's text of the same table (training/slicing.py)."""

import json

import numpy as np
import pandas as pd
import pytest

from monitoring.slices import add_bands, slice_metrics
from training.slicing import format_slices, weakest_slices

AGE_EDGES = [17, 25, 35, 65, float("inf")]

# Ten people; the index is deliberately reversed so alignment must be positional.
#         age  sex   y_true y_pred  outcome
ROWS = [
    (17, "F", 1, 1),  # tp
    (22, "F", 0, 1),  # fp
    (30, "F", 1, 0),  # fn
    (40, "F", 0, 0),  # tn
    (45, "M", 1, 1),  # tp
    (50, "M", 1, 1),  # tp
    (60, "M", 0, 0),  # tn
    (66, "M", 1, 0),  # fn
    (70, None, 1, 1),  # tp, sex missing
    (15, "M", 0, 1),  # fp, age below the first edge
]


@pytest.fixture
def data():
    frame = pd.DataFrame(
        {"age": [r[0] for r in ROWS], "sex": [r[1] for r in ROWS]},
        index=range(len(ROWS) - 1, -1, -1),
    )
    y_true = np.array([r[2] for r in ROWS])
    y_pred = np.array([r[3] for r in ROWS])
    return add_bands(frame, {"age": AGE_EDGES}), y_true, y_pred


@pytest.fixture
def table(data):
    frame, y_true, y_pred = data
    return slice_metrics(
        frame, y_true, y_pred, ["age-band", "sex"], min_support=3, f1_margin=0.1
    )


def row(table, feature, value):
    hit = table[(table["feature"] == feature) & (table["value"] == value)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_band_labels_are_readable_right_open_ranges_with_open_last_band(data):
    frame, _, _ = data
    assert list(frame["age-band"].cat.categories) == [
        "17-24",
        "25-34",
        "35-64",
        "65+",
        "other",
    ]


def test_each_value_lands_in_its_right_open_band_and_out_of_range_is_other(data):
    frame, _, _ = data
    assert list(frame["age-band"].astype(str)) == [
        "17-24",
        "17-24",
        "25-34",
        "35-64",
        "35-64",
        "35-64",
        "35-64",
        "65+",
        "65+",
        "other",
    ]


def test_add_bands_leaves_the_input_frame_unchanged(data):
    frame = pd.DataFrame({"age": [30]})
    add_bands(frame, {"age": AGE_EDGES})
    assert list(frame.columns) == ["age"]


def test_finite_last_edge_is_exclusive_and_missing_stays_missing():
    frame = pd.DataFrame({"x": [0, 1, 2.4, 2.5, 9.9, 10, np.nan]})
    banded = add_bands(frame, {"x": [0, 1, 2.5, 10]})["x-band"]
    assert list(banded.cat.categories) == ["0", "1-<2.5", "2.5-<10", "other"]
    assert banded.astype(object).where(banded.notna(), None).tolist() == [
        "0",
        "1-<2.5",
        "1-<2.5",
        "2.5-<10",
        "2.5-<10",
        "other",
        None,
    ]


def test_non_increasing_band_edges_are_rejected():
    with pytest.raises(ValueError):
        add_bands(pd.DataFrame({"age": [30]}), {"age": [40, 30]})


def test_slice_precision_recall_f1_and_support_match_hand_counts(table):
    female = row(table, "sex", "F")  # tp1 fp1 fn1 tn1
    assert (female.support, female.positives) == (4, 2)
    assert female.precision == pytest.approx(0.5)
    assert female.recall == pytest.approx(0.5)
    assert female.f1 == pytest.approx(0.5)
    male = row(table, "sex", "M")  # tp2 fp1 fn1 tn1
    assert (male.support, male.positives) == (5, 3)
    assert male.precision == pytest.approx(2 / 3)
    assert male.recall == pytest.approx(2 / 3)
    assert male.f1 == pytest.approx(2 / 3)
    old = row(table, "age-band", "65+")  # fn, tp
    assert (old.support, old.positives) == (2, 2)
    assert (old.precision, old.recall) == (pytest.approx(1.0), pytest.approx(0.5))
    assert old.f1 == pytest.approx(2 / 3)


@pytest.mark.filterwarnings("error")
def test_slice_without_positives_scores_zero_without_warnings(table):
    other = row(table, "age-band", "other")  # a single false positive
    assert (other.support, other.positives) == (1, 0)
    assert (other.precision, other.recall, other.f1) == (0.0, 0.0, 0.0)


def test_missing_feature_value_forms_its_own_slice(table):
    missing = row(table, "sex", "(missing)")
    assert (missing.support, missing.positives, missing.f1) == (1, 1, 1.0)


def test_rows_follow_feature_order_then_band_order_with_missing_last(table):
    assert list(zip(table["feature"], table["value"])) == [
        ("age-band", "17-24"),
        ("age-band", "25-34"),
        ("age-band", "35-64"),
        ("age-band", "65+"),
        ("age-band", "other"),
        ("sex", "F"),
        ("sex", "M"),
        ("sex", "(missing)"),
    ]


def test_slice_below_min_support_is_too_small_and_never_flagged(table):
    assert table.loc[table["too_small"], "value"].tolist() == [
        "17-24",
        "25-34",
        "65+",
        "other",
        "(missing)",
    ]
    assert not table.loc[table["too_small"], "flagged"].any()


def test_slice_f1_below_margin_is_flagged(table):
    # Overall F1 = 2*4 / (2*4 + 2 + 2) = 2/3; the threshold is 2/3 - 0.1 = 0.567.
    assert table.attrs["overall_f1"] == pytest.approx(2 / 3)
    flagged = table[table["flagged"]]
    assert list(zip(flagged["feature"], flagged["value"])) == [("sex", "F")]


def test_slice_f1_within_margin_is_not_flagged(data):
    frame, y_true, y_pred = data
    loose = slice_metrics(frame, y_true, y_pred, ["sex"], 3, f1_margin=0.2)
    assert not loose["flagged"].any()


def test_misaligned_labels_are_rejected(data):
    frame, y_true, y_pred = data
    with pytest.raises(ValueError):
        slice_metrics(frame, y_true[:-1], y_pred, ["sex"], 3, 0.1)


def test_slice_table_records_are_json_serialisable(table):
    records = json.loads(json.dumps(table.to_dict("records")))
    assert records[5]["value"] == "F" and records[5]["flagged"] is True


def test_format_slices_marks_flagged_and_too_small_slices(table):
    text = format_slices(table, {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    assert "Overall: precision 0.667  recall 0.667  F1 0.667" in text
    lines = text.splitlines()
    female = next(line for line in lines if line.strip().startswith("F "))
    assert female.split()[:5] == ["F", "4", "0.500", "0.500", "0.500"]
    assert female.endswith("FLAGGED: F1 0.500 below overall by > 0.100")
    missing = next(line for line in lines if line.strip().startswith("(missing)"))
    assert missing.endswith("too small to judge")
    male = next(line for line in lines if line.strip().startswith("M "))
    assert "FLAGGED" not in male and "too small" not in male
    assert "== age-band ==" in text and "== sex ==" in text


def test_weakest_slices_are_judgeable_and_lowest_f1_first(table):
    weakest = weakest_slices(table, n=2)
    assert list(zip(weakest["feature"], weakest["value"])) == [
        ("sex", "F"),
        ("sex", "M"),
    ]
    three = weakest_slices(table)
    assert list(three["value"]) == ["F", "M", "35-64"]
    assert not three["too_small"].any()


def test_slice_with_too_few_true_positives_is_too_small_to_judge():
    frame = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 6})
    y_true = [1, 1, 1, 0, 0, 0] + [1, 0, 0, 0, 0, 0]
    y_pred = [1, 1, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0]
    table = slice_metrics(frame, y_true, y_pred, ["g"], 1, 0.1, min_positives=2)
    by_value = table.set_index("value")
    assert not by_value.loc["a", "too_small"]
    assert by_value.loc["b", "too_small"] and not by_value.loc["b", "flagged"]
    assert "fewer than 2 positive labels" in format_slices(
        table, {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    )
