"""Feature handling and metrics, with values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.features import FeatureSpec, describe_features, split_xy
from training.metrics import classification_metrics, labels_from_proba

SPEC = FeatureSpec(
    target="salary",
    positive_label=">50K",
    numeric={"age": {"type": "integer", "min": 16, "max": 100}},
    categorical=["sex", "workclass"],
)


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": ["Male", "Female", "Female"],
            "age": ["30", "41", "52"],
            "workclass": ["Private", None, "State-gov"],
            "salary": [">50K", "<=50K", ">50K"],
        }
    )


def test_split_xy_orders_columns_numeric_first_and_binarises_the_target():
    X, y = split_xy(frame(), SPEC)
    assert list(X.columns) == ["age", "sex", "workclass"]
    assert X["age"].tolist() == [30.0, 41.0, 52.0]
    assert y.tolist() == [1, 0, 1]
    assert X["workclass"].isna().tolist() == [False, True, False]


def test_describe_features_lists_bounds_categories_and_nullability():
    X, _ = split_xy(frame(), SPEC)
    desc = {f["name"]: f for f in describe_features(X, SPEC)}
    assert desc["age"] == {"name": "age", "kind": "numeric", "type": "integer",
                           "min": 16, "max": 100}  # fmt: skip
    assert desc["sex"]["categories"] == ["Female", "Male"]
    assert desc["sex"]["nullable"] is False
    assert desc["workclass"] == {"name": "workclass", "kind": "categorical",
                                 "categories": ["Private", "State-gov"],
                                 "nullable": True}  # fmt: skip


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


def test_class_labels_puts_the_negative_first_and_rejects_other_targets():
    from training.features import class_labels

    assert class_labels(pd.Series([">50K", "<=50K", ">50K"]), ">50K") == (
        "<=50K",
        ">50K",
    )
    with pytest.raises(ValueError, match="two values"):
        class_labels(pd.Series(["a", "b", "c"]), "a")
