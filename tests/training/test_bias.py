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
