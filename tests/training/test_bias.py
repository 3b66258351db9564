"""Bias audit: group rates, disparities, band judgement and the JSON result."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from training.bias import bias_audit, disparities, fairness, format_bias, group_metrics

# Men (7): tp2 fn1 fp1 tn3 -> more missed positives.
# Women (5): tp2 fn0 fp1 tn2 -> no missed positives, relatively more false alarms.
MEN = ([1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 1, 0, 0, 0])
WOMEN = ([1, 1, 0, 0, 0], [1, 1, 1, 0, 0])


@pytest.fixture
def data():
    # Interleave the sexes and use a shuffled index: alignment must be positional.
    order = [0, 7, 1, 8, 2, 9, 3, 10, 4, 11, 5, 6]
    sex = np.array(["Male"] * 7 + ["Female"] * 5)[order]
    y_true = np.array(MEN[0] + WOMEN[0])[order]
    y_pred = np.array(MEN[1] + WOMEN[1])[order]
    frame = pd.DataFrame({"sex": sex}, index=np.arange(12)[::-1] * 10)
    return frame, y_true, y_pred


@pytest.fixture
def groups(data):
    frame, y_true, y_pred = data
    return group_metrics(y_true, y_pred, frame["sex"])


def test_group_rates_equal_hand_computed_fractions(groups):
    men, women = groups.loc["Male"], groups.loc["Female"]
    assert (men["size"], women["size"]) == (7, 5)
    assert men["pprev"] == pytest.approx(3 / 7)
    assert women["pprev"] == pytest.approx(3 / 5)
    assert men["ppr"] == pytest.approx(3 / 6)
    assert women["ppr"] == pytest.approx(3 / 6)
    assert men["precision"] == pytest.approx(2 / 3)
    assert women["precision"] == pytest.approx(2 / 3)
    assert men["fpr"] == pytest.approx(1 / 4)
    assert women["fpr"] == pytest.approx(1 / 3)
    assert men["fnr"] == pytest.approx(1 / 3)
    assert women["fnr"] == pytest.approx(0.0)
    assert men["tpr"] == pytest.approx(2 / 3)
    assert women["tpr"] == pytest.approx(1.0)


def test_rate_with_zero_denominator_is_nan_not_zero():
    # Group "b" has no actual negatives, so its false positive rate is undefined.
    groups = group_metrics([0, 1, 1, 1], [1, 1, 1, 0], pd.Series(list("aabb")))
    assert groups.loc["a", "fpr"] == 1.0
    assert math.isnan(groups.loc["b", "fpr"])


def test_disparity_defaults_to_the_largest_group(groups):
    disp = disparities(groups)
    assert disp.attrs["reference"] == "Male"
    women = disp.loc["Female"]
    assert women["pprev"] == pytest.approx(7 / 5)
    assert women["ppr"] == pytest.approx(1.0)
    assert women["precision"] == pytest.approx(1.0)
    assert women["fpr"] == pytest.approx(4 / 3)
    assert women["fnr"] == pytest.approx(0.0)
    assert women["tpr"] == pytest.approx(3 / 2)
    assert (disp.loc["Male"] == 1.0).all()


def test_disparity_against_a_configured_reference(groups):
    disp = disparities(groups, reference="Female")
    men = disp.loc["Male"]
    assert men["pprev"] == pytest.approx(5 / 7)
    assert men["fpr"] == pytest.approx(3 / 4)
    assert men["tpr"] == pytest.approx(2 / 3)
    # The reference's fnr is 0: every fnr disparity is a division by zero.
    assert disp["fnr"].isna().all()


def test_unknown_reference_group_is_rejected(groups):
    with pytest.raises(ValueError):
        disparities(groups, reference="Other")


def test_band_edges_are_fair_and_just_outside_is_unfair():
    disp = pd.DataFrame({"fpr": [0.8, 1.25, 0.79, 1.26, 1.0, np.nan]})
    fair = fairness(disp)["fpr"]
    assert fair.iloc[:5].tolist() == [True, True, False, False, True]
    assert fair.isna().tolist() == [False] * 5 + [True]


def test_band_edge_reached_through_count_ratios_is_fair():
    # pprev: a = 5/10, b = 2/5 -> disparity 0.8 exactly, in the band.
    y_pred = [1] * 5 + [0] * 5 + [1] * 2 + [0] * 3
    y_true = [1, 0] * 7 + [1]
    audit = bias_audit(
        y_true, y_pred, pd.DataFrame({"g": ["a"] * 10 + ["b"] * 5}), ["g"]
    )
    b = audit["attributes"]["g"]["groups"]["b"]
    assert b["disparity"]["pprev"] == pytest.approx(0.8)
    assert b["fair"]["pprev"] is True


def test_audit_summary_names_fair_unfair_and_undefined_metrics(data):
    frame, y_true, y_pred = data
    default = bias_audit(y_true, y_pred, frame, ["sex"])["summary"]["sex"]
    assert default == {
        "pprev": "unfair",
        "ppr": "fair",
        "precision": "fair",
        "fpr": "unfair",
        "fnr": "unfair",
        "tpr": "unfair",
    }
    by_women = bias_audit(y_true, y_pred, frame, ["sex"], reference={"sex": "Female"})
    assert by_women["attributes"]["sex"]["reference"] == "Female"
    assert by_women["summary"]["sex"]["fnr"] == "undefined"
    assert by_women["summary"]["sex"]["pprev"] == "unfair"


def test_unfair_group_outweighs_an_undefined_one():
    # a: fnr 1/2 (reference); b: fnr 2/2 -> disparity 2; c: no positives -> NaN.
    y_true = [1, 1, 0, 0, 0, 0] + [1, 1, 0] + [0, 0]
    y_pred = [1, 0, 0, 0, 0, 0] + [0, 0, 0] + [0, 0]
    frame = pd.DataFrame({"g": ["a"] * 6 + ["b"] * 3 + ["c"] * 2})
    audit = bias_audit(y_true, y_pred, frame, ["g"])
    assert audit["attributes"]["g"]["groups"]["c"]["fair"]["fnr"] is None
    assert audit["summary"]["g"]["fnr"] == "unfair"
    without_b = bias_audit(
        y_true[:6] + y_true[9:],
        y_pred[:6] + y_pred[9:],
        frame.drop(index=[6, 7, 8]),
        ["g"],
    )
    assert without_b["summary"]["g"]["fnr"] == "undefined"


def test_audit_survives_json_dumps_with_nan_as_null(data):
    frame, y_true, y_pred = data
    audit = bias_audit(y_true, y_pred, frame, ["sex"], reference={"sex": "Female"})
    restored = json.loads(json.dumps(audit, allow_nan=False))
    assert restored["band"] == [0.8, 1.25]
    men = restored["attributes"]["sex"]["groups"]["Male"]
    assert men["size"] == 7 and isinstance(men["size"], int)
    assert men["disparity"]["fnr"] is None
    assert men["fair"]["fnr"] is None
    assert men["fair"]["fpr"] is False


def test_missing_attribute_values_form_their_own_group():
    groups = group_metrics([1, 0, 1], [1, 0, 0], pd.Series(["a", None, "a"]))
    assert groups["size"].to_dict() == {"(missing)": 1, "a": 2}


def test_format_bias_tables_mark_unfair_metrics(data):
    frame, y_true, y_pred = data
    text = format_bias(bias_audit(y_true, y_pred, frame, ["sex"]))
    assert "| sex | Male | **unfair** | fair | fair | **unfair** |" in text
    assert "- sex: fpr vs Male (Female 1.333)" in text
    assert "| Female | 5 | **0.600 (1.400)** | 0.500 (1.000) |" in text


# Three classes (0, 1, 2) in two groups. Group a: class 0 twice (one predicted 1),
# class 1 once; group b: class 2 twice, class 0 once. No class 2 in group a.
CLASS_TRUE = [0, 0, 1, 2, 2, 0]
CLASS_PRED = [0, 1, 1, 2, 0, 0]
CLASS_GROUP = ["a", "a", "a", "b", "b", "b"]


def test_a_multiclass_group_gets_each_class_recall_and_selection_rate():
    from training.bias import class_group_metrics

    table = class_group_metrics(
        CLASS_TRUE, CLASS_PRED, ["x", "y", "z"], pd.Series(CLASS_GROUP, name="g")
    )
    assert table.loc["a", "size"] == 3 and table.loc["b", "size"] == 3
    assert table.loc["a", "recall:x"] == 0.5 and table.loc["a", "recall:y"] == 1.0
    assert math.isnan(table.loc["a", "recall:z"])  # no record of z in a: undefined
    assert table.loc["b", "recall:z"] == 0.5 and table.loc["b", "recall:x"] == 1.0
    assert table.loc["a", "selection_rate:y"] == pytest.approx(2 / 3)
    assert table.loc["b", "selection_rate:x"] == pytest.approx(2 / 3)
    assert table.loc["b", "selection_rate:y"] == 0.0


def test_a_multiclass_audit_judges_each_class_against_the_reference_group():
    from training.bias import audit_groups, class_group_metrics, class_metric_names

    names = ["x", "y", "z"]
    frame = pd.DataFrame({"g": CLASS_GROUP})
    audit = audit_groups(
        lambda s: class_group_metrics(CLASS_TRUE, CLASS_PRED, names, s),
        class_metric_names(names),
        frame,
        ["g"],
        {"g": "a"},
    )
    assert audit["metrics"][:3] == ["recall:x", "recall:y", "recall:z"]
    b = audit["attributes"]["g"]["groups"]["b"]
    assert b["disparity"]["recall:x"] == 2.0  # 1.0 against a's 0.5
    assert b["disparity"]["recall:z"] is None  # a has no z: no reference value
    summary = audit["summary"]["g"]
    assert summary["recall:x"] == "unfair" and summary["recall:z"] == "undefined"
    json.dumps(audit)


def test_a_regression_audit_gives_each_group_error_and_mean_prediction_ratios():
    from training.bias import (
        REGRESSION_METRICS,
        audit_groups,
        regression_group_metrics,
    )

    y = np.array([10.0, 20.0, 30.0, 10.0, 20.0, 30.0])
    value = np.array([11.0, 19.0, 31.0, 14.0, 16.0, 36.0])
    frame = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "b"]})
    audit = audit_groups(
        lambda s: regression_group_metrics(y, value, s),
        REGRESSION_METRICS,
        frame,
        ["g"],
        band=(0.8, 1.25),
    )
    groups = audit["attributes"]["g"]["groups"]
    assert groups["a"]["mae"] == 1.0 and groups["b"]["mae"] == pytest.approx(14 / 3)
    assert groups["b"]["rmse"] == pytest.approx(math.sqrt((16 + 16 + 36) / 3))
    assert groups["b"]["mean_prediction"] == pytest.approx(22.0)
    assert groups["b"]["mean_actual"] == 20.0
    # Same size: the first group is the reference.
    assert audit["attributes"]["g"]["reference"] == "a"
    assert groups["b"]["disparity"]["mae"] == pytest.approx(14 / 3)
    assert groups["b"]["disparity"]["mean_prediction"] == pytest.approx(22 / 20.333333)
    assert audit["summary"]["g"] == {
        "mae": "unfair",
        "rmse": "unfair",
        "mean_prediction": "fair",
    }
    text = format_bias(audit)
    assert "| g | a | **unfair** | **unfair** | fair |" in text
    assert "ppr" not in text  # the note on ppr is a binary audit's


def test_a_binary_audit_keeps_its_note_on_ppr(data):
    frame, y_true, y_pred = data
    assert "read it with pprev" in format_bias(
        bias_audit(y_true, y_pred, frame, ["sex"])
    )
