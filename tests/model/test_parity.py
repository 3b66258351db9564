"""The served fast path is exactly the trained Pipeline, on every row of the test split.

Both ways the service scores (one record at a time for POST /predict, a list of records
for the batch endpoint and the CLI) are compared with the Pipeline's own answer, for the
bundle's task: a binary model's positive probability and its label by the threshold, a
multiclass model's every probability and class, a regression's value (within 1e-5 of the
largest |value|): max |difference| <= 1e-5 and identical labels. This runs for
the session's model on its sample's test split always, and for the published model/ on
the full data/processed/test.csv when both are present.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bundle.files import sha256_file
from bundle.format import BundleError, FITTED_PIPELINE
from bundle.store import load_bundle
from training import fitted
from training.config import FeatureSpec, Paths
from training.examples import as_record, typed_record
from training.features import model_frame, read_processed, split_xy
from testkit.markers import not_for_this_data

PATHS = Paths()
TOLERANCE = 1e-5


def load_pipeline(model_dir: Path):
    """The bundle's fitted scikit-learn Pipeline (skops, allow-listed types only)."""
    path = model_dir / FITTED_PIPELINE.file
    return fitted.loads(path.read_bytes(), path)


def load_split(path: Path, spec: FeatureSpec):
    return split_xy(read_processed(path, spec), spec)


def api_records(X: pd.DataFrame, rules) -> list[dict]:
    """Rows as the API receives them: typed numbers, None for a missing category."""
    return [typed_record(as_record(row), rules) for _, row in X.iterrows()]


def assert_parity(model, pipeline, X: pd.DataFrame) -> None:
    """Single-record and batch paths match the Pipeline on every row of X, for the
    bundle's task: the records as a client sends them, the Pipeline on what it was
    fitted on (rare categories grouped by training's mapping, which the predictor must
    repeat)."""
    fitted_on = model_frame(X, model.features)
    expected, expected_labels = PIPELINE_ANSWERS[model.metadata.target.task](
        pipeline, fitted_on, model.predictor
    )
    records = api_records(X, model.features)
    batch = model.predictor.predict_many(records)
    singles = [model.predictor.predict_one(r) for r in records]
    # A regression's values within TOLERANCE of the largest |value| (>= 1), as the
    # export's gate allows (training/onnx_export.py value_parity).
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.ndim == 1 else 1.0
    for name, got in (("batch", batch), ("one by one", singles)):
        served = np.array([served_answer(p, model.predictor) for p in got])
        worst = float(np.max(np.abs(served - expected)))
        assert worst <= TOLERANCE * scale, f"{name}: max |d| {worst:.3g} over {len(X)}"
        labels = np.array([p.label for p in got])
        assert np.array_equal(labels, expected_labels), f"{name}: labels differ"
        assert np.isfinite(served).all()


def binary_answers(pipeline, X: pd.DataFrame, predictor):
    """The positive class's probability, and its label by the bundle's threshold."""
    proba = pipeline.predict_proba(X)[:, list(pipeline.classes_).index(1)]
    labels = np.where(
        proba >= predictor.threshold, predictor.positive_label, predictor.negative_label
    )
    return proba, labels


def multiclass_answers(pipeline, X: pd.DataFrame, predictor):
    """Every class's probability and the Pipeline's own class, by display name."""
    names = dict(zip(pipeline.classes_, predictor.names))
    return pipeline.predict_proba(X), np.array([names[c] for c in pipeline.predict(X)])


def regression_answers(pipeline, X: pd.DataFrame, predictor):
    """The predicted values; a regression has no label."""
    return pipeline.predict(X), np.full(len(X), None, dtype=object)


PIPELINE_ANSWERS = {
    "binary": binary_answers,
    "multiclass": multiclass_answers,
    "regression": regression_answers,
}


def served_answer(prediction, predictor):
    """What the served prediction holds that the Pipeline's answer is compared with."""
    if prediction.value is not None:
        return prediction.value
    if prediction.probabilities is not None:
        return [prediction.probabilities[n] for n in predictor.names]
    return prediction.probability


@pytest.fixture(scope="module")
def whole_graph_model(model_dir, tmp_path_factory):
    """The session's bundle without its classifier-only graph (an older bundle)."""
    copy = tmp_path_factory.mktemp("whole") / "model"
    shutil.copytree(model_dir, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    del meta["files"]["classifier_graph"]
    meta["encoding"] = None
    (copy / "metadata.json").write_text(json.dumps(meta))
    (copy / "classifier.onnx").unlink()
    return load_bundle(copy)


def test_served_model_matches_its_pipeline_on_every_sample_test_row(
    trained, loaded_model, typed
):
    assert loaded_model.predictor.graph == "classifier_graph"
    X, _ = load_split(trained.test_csv, typed.features)
    assert_parity(loaded_model, load_pipeline(trained.model_dir), X)


def test_a_bundle_without_the_dense_graph_scores_with_the_whole_pipeline_graph(
    trained, whole_graph_model, typed
):
    assert whole_graph_model.predictor.graph == "pipeline_graph"
    X, _ = load_split(trained.test_csv, typed.features)
    assert_parity(whole_graph_model, load_pipeline(trained.model_dir), X)


def test_encoder_builds_exactly_the_matrix_the_preprocessor_builds(
    trained, loaded_model, typed
):
    from training.features import frame_to_columns

    spec = typed.features
    X, _ = load_split(trained.test_csv, spec)
    pre = load_pipeline(trained.model_dir).named_steps["preprocess"]
    encoder = loaded_model.predictor.engine.encoder
    want = pre.transform(X).astype(np.float32)
    assert np.array_equal(encoder.encode_columns(frame_to_columns(X, spec)), want)
    for i, record in enumerate(api_records(X.iloc[:50], loaded_model.features)):
        assert np.array_equal(encoder.encode_one(record)[0], want[i])


def test_encoder_leaves_unknown_categories_blank(loaded_model, example_record):
    categories = [r.name for r in loaded_model.features if not r.numeric]
    if not categories:
        not_for_this_data("it has no categorical feature")
    encoder = loaded_model.predictor.engine.encoder
    name = categories[0]
    base = encoder.encode_one(example_record)[0]
    unknown = encoder.encode_one({**example_record, name: "not-a-category"})[0]
    # Compared column by column: a float32 sum of scaled numbers is not exact.
    own = sorted(set(dict(encoder.categorical)[name].values()))
    others = np.setdiff1d(np.arange(len(base)), own)
    assert base[own].tolist().count(1.0) == 1 and not unknown[own].any()
    assert np.array_equal(unknown[others], base[others])


def test_encoder_imputes_a_missing_category_where_training_saw_one(
    loaded_model, example_record
):
    nullable = [r.name for r in loaded_model.features if not r.numeric and r.nullable]
    if not nullable:
        not_for_this_data("it has no missing category values")
    encoder = loaded_model.predictor.engine.encoder
    base = encoder.encode_one(example_record)[0]
    columns = dict(encoder.categorical)[nullable[0]]
    missing = encoder.encode_one({**example_record, nullable[0]: None})[0]
    assert missing[columns["missing"]] == 1.0 and missing.sum() == base.sum()


def test_a_tampered_classifier_graph_is_refused(model_dir, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    with open(copy / "classifier.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleError, match="classifier.onnx failed its integrity check"):
        load_bundle(copy)


@pytest.mark.slow
def test_published_model_matches_its_pipeline_on_the_whole_test_split():
    from training.params import load

    model_dir, test_csv = PATHS.model_dir, PATHS.test_csv
    if not (model_dir / "metadata.json").is_file():
        pytest.skip("no published model in model/ (run make train)")
    if not test_csv.is_file():
        pytest.skip("no data/processed/test.csv (run make data)")
    model = load_bundle(model_dir)
    if sha256_file(test_csv) != model.metadata.provenance["data"]["test"]["sha256"]:
        pytest.skip("model/ was trained with another test split than data/processed")
    X, _ = load_split(test_csv, load().features)
    assert_parity(model, load_pipeline(model_dir), X)
