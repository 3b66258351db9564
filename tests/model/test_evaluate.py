"""The evaluate stage: every report, figure and the model card, from the pipeline's own
numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from training.evaluate import evaluate

# The evaluate stage (slices, bias audit, model card) handles binary models only so far.
pytestmark = pytest.mark.task("binary")


@pytest.fixture(scope="module")
def evaluated(trained, typed):
    metrics = evaluate(trained, typed)
    return trained, metrics


def test_metrics_json_matches_the_bundle_metrics(evaluated):
    paths, metrics = evaluated
    written = json.loads(paths.metrics.read_text())
    meta = json.loads((paths.model_dir / "metadata.json").read_text())
    assert written == metrics
    assert written == pytest.approx(meta["metrics"], abs=1e-6)
    assert set(written) == {"precision", "recall", "f1", "accuracy", "roc_auc", "brier"}


def test_slice_reports_cover_every_categorical_feature_and_the_bands(evaluated, typed):
    paths, _ = evaluated
    rows = json.loads(paths.slices_json.read_text())
    features = {r["feature"] for r in rows}
    bands = typed.evaluate.slices.bands
    expected = set(typed.features.categorical) | {f"{b}-band" for b in bands}
    assert features == expected
    first = typed.features.categorical[0]
    test_rows = len(pd.read_csv(paths.test_csv))
    assert sum(r["support"] for r in rows if r["feature"] == first) == test_rows
    text = paths.slices_text.read_text()
    assert f"== {first} ==" in text and "Overall:" in text


def test_bias_report_judges_each_attribute_per_metric(evaluated, typed):
    paths, _ = evaluated
    audit = json.loads(paths.bias_json.read_text())
    assert set(audit["summary"]) == set(typed.evaluate.bias.attributes)
    for verdicts in audit["summary"].values():
        assert set(verdicts.values()) <= {"fair", "unfair", "undefined"}
    test = pd.read_csv(paths.test_csv, dtype=str)
    for attribute, result in audit["attributes"].items():
        if attribute in test.columns:  # the largest group is the reference
            assert result["reference"] == test[attribute].value_counts().idxmax()


def test_model_card_shows_the_measured_numbers_and_links_figures(evaluated):
    paths, metrics = evaluated
    card = paths.model_card.read_text()
    assert f"{metrics['roc_auc']:.4f}" in card
    assert f"{metrics['accuracy']:.4f}" in card
    for name in ("roc_curve", "calibration", "slice_f1", "disparity"):
        png = paths.figure(name)
        assert png.read_bytes()[:4] == b"\x89PNG"
        assert f"reports/figures/{name}.png" in card
