"""The evaluate stage: every report, figure and the model card, from the pipeline's own
numbers."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bundle.format import read_metadata
from testkit.sample import scratch_copy
from training.evaluate import evaluate
from training.export import export

# These assert a binary model's reports (threshold, F1 slices, ROC); the other tasks'
# evaluation is tested in tests/model/test_task_evaluate.py.
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


def published(root) -> dict:
    """model/, reports/ and MODEL_CARD.md as they are: every file's bytes, by path."""
    files = [root / "MODEL_CARD.md", *(root / "model").rglob("*")]
    files += (root / "reports").rglob("*")
    return {str(p.relative_to(root)): p.read_bytes() for p in files if p.is_file()}


def test_a_failing_evaluate_leaves_the_model_reports_and_card_as_they_were(
    trained, typed, tmp_path, monkeypatch
):
    paths = scratch_copy(trained, tmp_path)
    evaluate(paths, typed)  # a published model with its reports
    # Another decision threshold from the fit stage: a different bundle, unpublished.
    cv = json.loads(paths.cv_results.read_text())
    cv["threshold"]["value"] = 0.3
    paths.cv_results.write_text(json.dumps(cv))
    other = typed
    new = export(paths, other).version
    before = published(tmp_path)
    assert read_metadata(paths.model_dir).version != new

    def crash(*args, **kwargs):
        raise RuntimeError("simulated failure writing the model card")

    monkeypatch.setattr("training.evaluate.render_model_card", crash)
    with pytest.raises(RuntimeError, match="simulated failure"):
        evaluate(paths, other)
    assert published(tmp_path) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    monkeypatch.undo()
    evaluate(paths, other)
    assert read_metadata(paths.model_dir).version == new
    assert new in paths.model_card.read_text()


def test_evaluate_publishes_the_cv_table_and_the_cleaning_report_the_card_cites(
    evaluated,
):
    paths, _ = evaluated
    assert json.loads(paths.published_cv_results.read_text()) == json.loads(
        paths.cv_results.read_text()
    )
    report = json.loads(paths.published_cleaning.read_text())
    assert report == json.loads(paths.cleaning.read_text())
    card = paths.model_card.read_text()
    assert (
        "Rows removed by cleaning ([reports/cleaning.json](reports/cleaning.json))"
        in card
    )
    assert f"of {report['rows_read']} read" in card
