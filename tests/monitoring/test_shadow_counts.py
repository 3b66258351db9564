"""The shadow's figures (monitoring/agreement.py): agreement by task, the PSI between two
models' predictions in the reference's prediction bins, latency buckets."""

from __future__ import annotations

import pytest

from bundle.predictor import Prediction
from monitoring.profile import ClassBins, NumericBins
from monitoring.agreement import REGRESSION_TOLERANCE, ShadowCounts, agrees

EDGES = NumericBins("prediction", (0.25, 0.5, 0.75), (0.25, 0.25, 0.25, 0.25))


def binary(p: float) -> Prediction:
    return Prediction("yes" if p >= 0.5 else "no", p)


def test_a_regression_shadow_agrees_within_the_tolerance_of_the_served_value():
    served = Prediction(None, None, None, 100.0)
    inside = 100.0 * (1 + REGRESSION_TOLERANCE * 0.9)
    outside = 100.0 * (1 + REGRESSION_TOLERANCE * 1.1)
    assert agrees("regression", served, Prediction(None, None, None, inside))
    assert not agrees("regression", served, Prediction(None, None, None, outside))


def test_a_classifier_shadow_agrees_on_the_same_label_whatever_its_probability():
    assert agrees("binary", binary(0.9), binary(0.6))
    assert not agrees("binary", binary(0.9), binary(0.4))


def test_identical_predictions_agree_fully_with_a_psi_of_zero():
    counts = ShadowCounts("binary", EDGES)
    served = [binary(p) for p in (0.1, 0.3, 0.6, 0.9)]
    counts.count(served, served, 0.004)
    fig = counts.figures()
    assert fig["records_scored"] == 4 and fig["agreement_rate"] == 1.0
    assert fig["prediction_psi"] == pytest.approx(0.0)
    assert fig["latency_seconds"]["mean"] == pytest.approx(0.001)
    # 1 ms per record: in the 0.001 bucket and every one above it, cumulatively.
    buckets = {b["le"]: b["records"] for b in fig["latency_seconds"]["buckets"]}
    assert (buckets["0.0005"], buckets["0.001"], buckets["+Inf"]) == (0, 4, 4)


def test_a_shadow_predicting_elsewhere_shows_in_its_bins_agreement_and_psi():
    counts = ShadowCounts("binary", EDGES)
    served = [binary(p) for p in (0.1, 0.1, 0.3, 0.9)]
    shadow = [binary(p) for p in (0.9, 0.9, 0.3, 0.9)]
    counts.count(served, shadow, 0.001)
    counts.dropped(3)
    fig = counts.figures()
    assert fig["agreement_rate"] == 0.5  # two of four pairs change class
    assert [(b["served"], b["shadow"]) for b in fig["prediction_bins"]] == [
        (2, 0),
        (1, 1),
        (0, 0),
        (1, 3),
    ]
    assert fig["prediction_psi"] > 0.2 and fig["records_dropped"] == 3


def test_a_multiclass_shadow_is_counted_by_predicted_class():
    bins = ClassBins("prediction", ("a", "b", "c"), (0.4, 0.3, 0.3))
    counts = ShadowCounts("multiclass", bins)
    served = [Prediction(c, 0.5) for c in "aab"]
    shadow = [Prediction(c, 0.5) for c in "abc"]
    counts.count(served, shadow, 0.001)
    fig = counts.figures()
    assert fig["agreement_rate"] == pytest.approx(1 / 3)
    assert [(b["bin"], b["served"], b["shadow"]) for b in fig["prediction_bins"]] == [
        ("a", 2, 1),
        ("b", 1, 1),
        ("c", 0, 1),
    ]
