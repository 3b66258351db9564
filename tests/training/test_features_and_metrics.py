"""Feature handling and metrics, with values computed by hand."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from training.config import FeatureSpec
from training.features import feature_rules, read_processed, split_xy, target_of
from training.metrics import classification_metrics, labels_from_proba

SPEC = FeatureSpec(
    target="outcome",
    positive_label=1,
    numeric={"size": {"type": "integer", "min": 16, "max": 100}},
    categorical=["colour", "shape"],
)
CSV = "colour,size,shape,outcome\nred,30,round,1\nblue,41,,0\nblue,52,square,1\n"


def frame() -> pd.DataFrame:
    return read_processed(io.StringIO(CSV), SPEC)


def test_split_xy_orders_columns_numeric_first_and_binarises_the_target():
    X, y = split_xy(frame(), SPEC)
    assert list(X.columns) == ["size", "colour", "shape"]
    assert X["size"].tolist() == [30.0, 41.0, 52.0]
    assert y.tolist() == [1, 0, 1]
    assert X["shape"].isna().tolist() == [False, True, False]


def test_an_integer_positive_label_matches_the_parsed_integer_target():
    _, y = split_xy(frame(), SPEC)
    assert y.sum() == 2
    target = target_of(frame(), SPEC, 0.5)
    assert (target.positive, target.negative) == (1, 0)
    assert (target.positive_name, target.negative_name) == ("1", "0")


def test_class_names_from_params_name_the_classes_for_display():
    spec = FeatureSpec(**{**vars(SPEC), "class_names": ("no", "yes")})
    target = target_of(frame(), spec, 0.3)
    assert (target.negative_name, target.positive_name, target.threshold) == (
        "no",
        "yes",
        0.3,
    )


def test_feature_rules_list_bounds_categories_and_nullability():
    X, _ = split_xy(frame(), SPEC)
    rules = {r.name: r for r in feature_rules(X, SPEC)}
    assert rules["size"].to_json() == {
        "name": "size",
        "kind": "integer",
        "minimum": 16,
        "maximum": 100,
        "nullable": False,
    }
    assert rules["colour"].categories == ("blue", "red")
    assert rules["colour"].nullable is False
    assert rules["shape"].categories == ("round", "square")
    assert rules["shape"].nullable is True


def test_labels_from_proba_uses_the_threshold_inclusively():
    assert labels_from_proba(np.array([0.2, 0.5, 0.7]), 0.5).tolist() == [0, 1, 1]


def test_classification_metrics_match_hand_computed_values():
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.8])  # predicted 1,0,1,0,1: tp=2 fp=1 fn=1
    m = classification_metrics(y, p)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # pairs (pos, neg) ranked right: 0.9>0.6,0.1; 0.4>0.1 only; 0.8>0.6,0.1 -> 5 of 6
    assert m["roc_auc"] == pytest.approx(5 / 6)
    brier = np.mean((p - y) ** 2)
    assert m["brier"] == pytest.approx(brier)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_quality_target_may_name_every_test_metric_of_its_task(task):
    from training.metrics import task_metrics
    from training.params import LOWER_IS_BETTER, TARGET_METRICS

    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    scores = {
        "binary": (y > 0).astype(float) * 0.6 + 0.2,
        "multiclass": np.eye(3)[y] * 0.7 + 0.1,
        "regression": y + 0.5,
    }[task]
    truth = (y > 0).astype(int) if task == "binary" else y
    names = tuple(task_metrics(task, truth, scores))
    assert names == TARGET_METRICS[task]
    assert set(LOWER_IS_BETTER) <= {m for ms in TARGET_METRICS.values() for m in ms}
