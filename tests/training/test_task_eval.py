"""Slices of a multiclass and a regression model (training/task_eval.py): the measures
of each slice, which are too small or flagged, the text report and the weakest ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bundle.format import Target
from training.params import Params
from training.slicing import weakest_slices
from training.task_eval import format_task_slices, per_class, slice_table

MULTICLASS = Target(
    "kind", task="multiclass", classes=(0, 1, 2), class_names=("x", "y", "z")
)
REGRESSION = Target("amount", task="regression")


def evaluate_params(full_params, min_support=3, margin=0.1, min_positives=1):
    """The configured evaluate section with these slice rules."""
    ev = Params.from_dict(full_params).evaluate
    slices = ev.slices.__class__(min_support, margin, min_positives, {})
    return ev.__class__(ev.threshold, slices, ev.bias, {})


@pytest.fixture
def frame():
    # g = a: all right; g = b: half wrong; g = c: one record (too small).
    return pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4 + ["c"]})


def test_a_multiclass_slice_has_accuracy_macro_f1_and_each_class_recall(
    frame, full_params
):
    y = np.array([0, 1, 2, 0, 0, 1, 0, 1, 2])
    predicted = np.array([0, 1, 2, 0, 0, 0, 1, 1, 2])
    ev = evaluate_params(full_params, min_positives=2)
    table = slice_table(MULTICLASS, frame, y, predicted, ["g"], ev)
    a, b, c = table.to_dict("records")
    assert (a["support"], a["accuracy"], a["f1_macro"]) == (4, 1.0, 1.0)
    assert a["recall"] == {"x": 1.0, "y": None, "z": None}  # one y, one z: too few
    assert b["accuracy"] == 0.5 and b["recall"] == {"x": 0.5, "y": 0.5, "z": None}
    # Macro F1 over the classes the slice holds two records of (x, y): both F1 0.5.
    assert b["f1_macro"] == pytest.approx(0.5)
    assert b["flagged"] and not a["flagged"]
    assert c["too_small"] and not c["flagged"]
    assert weakest_slices(table, 1)["value"].tolist() == ["b"]
    text = format_task_slices(table, MULTICLASS)
    assert "Overall: macro F1 " in text and "recall:z" in text
    assert "  b " in text and "FLAGGED: f1_macro 0.5" in text
    assert "too small to judge" in text.splitlines()[-1]


def test_a_class_with_too_few_records_in_a_slice_leaves_its_macro_f1(full_params):
    frame = pd.DataFrame({"g": ["a"] * 4})
    y, predicted = np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0])
    ev = evaluate_params(full_params, min_positives=2)
    (row,) = slice_table(MULTICLASS, frame, y, predicted, ["g"], ev).to_dict("records")
    # Judged on x alone (tp 3, fp 1): F1 6/7; the single y would have halved it.
    assert row["f1_macro"] == pytest.approx(6 / 7)
    assert row["recall"] == {"x": 1.0, "y": None, "z": None}


def test_a_slice_is_flagged_only_beyond_the_macro_f1_margin(frame, full_params):
    y = np.array([0, 1, 2, 0, 0, 1, 0, 1, 2])
    predicted = np.array([0, 1, 2, 0, 0, 0, 1, 1, 2])
    # Overall macro F1: (0.75 + 2/3 + 1) / 3 = 0.8056; b's 0.5 is 0.3056 below it.
    for margin, flagged in ((0.30, True), (0.31, False)):
        ev = evaluate_params(full_params, margin=margin)
        table = slice_table(MULTICLASS, frame, y, predicted, ["g"], ev)
        assert table["flagged"].tolist() == [False, flagged, False]


def test_a_regression_slice_is_flagged_by_its_rmse_above_the_overall_share(
    frame, full_params
):
    y = np.array([10.0, 20, 30, 40, 10, 20, 30, 40, 50])
    predicted = y + np.array([1, -1, 1, -1, 4, -4, 4, -4, 0])
    table = slice_table(
        REGRESSION, frame, y, predicted, ["g"], evaluate_params(full_params)
    )
    a, b, c = table.to_dict("records")
    assert (a["rmse"], a["mae"]) == (1.0, 1.0) and (b["rmse"], b["mae"]) == (4.0, 4.0)
    assert a["mean_prediction"] == a["mean_actual"] == 25.0
    overall = np.sqrt((4 * 1 + 4 * 16) / 9)
    assert table.attrs["overall"] == pytest.approx(overall)
    assert b["flagged"] and not a["flagged"] and c["too_small"]
    # The weakest regression slice is the one with the highest RMSE.
    assert weakest_slices(table, 2)["value"].tolist() == ["b", "a"]
    text = format_task_slices(table, REGRESSION)
    assert "Flagged: RMSE more than 10% above overall" in text
    assert "mean_prediction" in text and "FLAGGED: rmse 4" in text


def test_each_class_has_its_own_test_precision_and_recall():
    y = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    assert per_class(y, predicted, ["x", "y", "z"]) == {
        "precision:x": 0.5,
        "precision:y": pytest.approx(2 / 3),
        "precision:z": 1.0,
        "recall:x": 0.5,
        "recall:y": 1.0,
        "recall:z": 0.5,
    }
