"""features.task through the stages: init infers it and says so, clean checks the target
against it, fit takes the task's estimators, folds and metrics, and export proves each
task's graphs equal to the Pipeline before it publishes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from bundle.format import read_metadata
from testkit.tasks import task_csv, task_frame
from training.clean import check_training_data
from training.config import ConfigError, FeatureSpec
from training.fit import build_pipeline, check_metric, folds_for
from training.init import init
from training.onnx_export import ParityError, class_parity, value_parity
from training.params import Params


def initialised(tmp_path, data: str, frame=None, **options) -> tuple[dict, str]:
    """init on the CSV of testkit's `data` task (or on `frame`): the params written,
    and the file."""
    path = task_csv(tmp_path, data)
    if frame is not None:
        frame.to_csv(path, index=False)
    out = tmp_path / "params.yaml"
    init(path, "answer", out, root=tmp_path, **options)
    return yaml.safe_load(out.read_text()), out


@pytest.mark.parametrize(
    "task, metric, printed",
    [
        ("binary", "roc_auc", "features.task: binary (TARGET 'answer' takes two"),
        (
            "multiclass",
            "log_loss",
            "features.task: multiclass (TARGET 'answer' takes 3",
        ),
        ("regression", "rmse", "features.task: regression (TARGET 'answer' holds"),
    ],
)
def test_init_infers_the_task_from_the_target_and_prints_it(
    tmp_path, capsys, task, metric, printed
):
    params, out = initialised(tmp_path, task)
    assert params["features"]["task"] == task
    assert ("positive_label" in params["features"]) == (task == "binary")
    assert params["train"]["selection_metric"] == metric
    assert capsys.readouterr().out.startswith(printed)
    assert Params.from_dict(params).features.task == task


def test_whole_numbers_with_few_values_are_classes_and_init_says_how_to_change_it(
    tmp_path, capsys
):
    frame = task_frame("multiclass")
    frame["answer"] = frame["answer"].map({"small fry": 1, "mid": 2, "whale": 3})
    params, _ = initialised(tmp_path, "multiclass", frame)
    assert params["features"]["task"] == "multiclass"
    line = capsys.readouterr().out
    assert "holds 3 distinct whole numbers (1, 2, 3), read as classes" in line
    assert "set features.task: regression" in line and "TASK=regression" in line


def test_the_task_given_to_init_wins_over_the_inferred_one(tmp_path, capsys):
    frame = task_frame("multiclass")
    frame["answer"] = frame["answer"].map({"small fry": 1, "mid": 2, "whale": 3})
    params, _ = initialised(tmp_path, "multiclass", frame, task="regression")
    assert params["features"]["task"] == "regression"
    assert "positive_label" not in params["features"]
    assert "the values suggest multiclass" in capsys.readouterr().out


def test_init_refuses_a_text_target_as_a_regression(tmp_path):
    with pytest.raises(ConfigError, match="holds text: it cannot be a regression"):
        initialised(tmp_path, "multiclass", task="regression")


def spec_of(task: str, **features) -> FeatureSpec:
    raw = {"target": "answer", "task": task, "numeric": {"size": {"min": 0, "max": 20}}}
    raw.update(categorical=["colour"], **features)
    return FeatureSpec.from_params({"features": raw})


@pytest.mark.parametrize(
    "task, values, message",
    [
        (
            "multiclass",
            ["a", "b"] * 15,
            "target 'answer' takes 2 value(s) ('a', 'b'): features.task multiclass "
            "needs 3 or more; change features.task in params.yaml (or rerun make "
            "init) (binary needs features.positive_label)",
        ),
        (
            "regression",
            ["a", "b", "c"] * 10,
            "target 'answer' holds 'a', not a number: features.task regression needs a "
            "numeric target; change features.task in params.yaml (or rerun make init)",
        ),
        (
            "binary",
            ["a", "b", "c"] * 10,
            "target 'answer' must take exactly two values for features.task binary, "
            "found 3: 'a', 'b', 'c'; change features.task in params.yaml",
        ),
    ],
)
def test_the_clean_stage_refuses_a_target_that_does_not_fit_the_task_in_one_line(
    task, values, message
):
    extra = {"positive_label": "a"} if task == "binary" else {}
    frame = pd.DataFrame(
        {"size": 1.0, "colour": ["red", "blue"] * 15, "answer": values[:30]}
    )
    with pytest.raises(ConfigError) as caught:
        check_training_data(frame, spec_of(task, **extra), 2)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_positive_label_is_for_a_binary_task_only():
    with pytest.raises(ConfigError, match="positive_label is for task binary only"):
        spec_of("multiclass", positive_label="a")
    with pytest.raises(ConfigError, match="features.task 'ranking' is not one of"):
        spec_of("ranking")
    assert spec_of("regression").positive_label is None


def test_binary_class_names_are_refused_for_another_task():
    raw = {"target": "answer", "task": "multiclass", "numeric": {}}
    raw["categorical"] = ["colour"]
    names = {"class_names": {"positive": "rich", "negative": "poor"}}
    with pytest.raises(ConfigError) as caught:
        FeatureSpec.from_params({"features": raw, "project": names})
    assert str(caught.value).startswith(
        "project.class_names names a binary model's positive and negative class; "
        "features.task is multiclass: remove it"
    )


def test_fit_refuses_an_estimator_or_a_metric_of_another_task():
    with pytest.raises(ConfigError) as caught:
        build_pipeline(spec_of("regression"), "logistic_regression", {}, 0)
    assert "is not one of ridge, linear_regression" in str(caught.value)
    assert "(features.task is regression)" in str(caught.value)
    with pytest.raises(ConfigError, match="'roc_auc' is not one of log_loss"):
        check_metric("roc_auc", "multiclass")
    assert check_metric("r2", "regression") == "r2"


def test_classes_get_stratified_folds_and_a_regression_plain_ones():
    assert type(folds_for("multiclass", 3, 0)).__name__ == "StratifiedKFold"
    assert type(folds_for("regression", 3, 0)).__name__ == "KFold"


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_each_task_publishes_graphs_proved_equal_to_the_pipeline(task_models, task):
    meta = read_metadata(task_models(task))
    assert set(meta.parity) == {"classifier_graph", "pipeline_graph"}
    for report in meta.parity.values():
        assert report["rows"] > 0
        if task == "multiclass":
            assert report["label_mismatches"] == 0
            assert report["max_abs_diff"] <= 1e-5
        else:
            assert report["max_abs_diff"] <= 1e-5 * report["scale"]
    expected = {"multiclass": {"log_loss", "f1_macro", "balanced_accuracy"}}
    expected["regression"] = {"rmse", "mae", "r2"}
    assert expected[task] <= set(meta.metrics)
    cv = json.loads((task_models(task).parent / "reports/cv_results.json").read_text())
    assert {f"{m}_mean" for m in expected[task]} <= set(cv["rows"][0])


def test_a_multiclass_bundle_names_the_classes_as_the_data_writes_them(task_models):
    meta = read_metadata(task_models("multiclass"))
    assert meta.target.classes == ("mid", "small fry", "whale")
    assert meta.target.class_names == meta.target.classes
    assert [e.prediction for e in meta.examples.scored()] == list(meta.target.classes)
    assert all(e.probability > 1 / 3 for e in meta.examples.scored())


def test_a_regression_bundle_publishes_a_low_a_median_and_a_high_example(task_models):
    meta = read_metadata(task_models("regression"))
    examples = meta.examples.scored()
    assert [e.prediction for e in examples] == ["low", "median", "high"]
    assert examples[0].value < examples[1].value < examples[2].value
    assert meta.target.classes == () and meta.examples.positive is None


def test_the_parity_gate_refuses_a_class_flip_or_a_value_off_by_more_than_tolerance():
    expected = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7]])
    flipped = expected[:, [1, 0, 2]]
    with pytest.raises(ParityError, match="1 label"):
        class_parity(expected, flipped, "classifier_graph", 1.0)
    values = np.array([10_000.0, -3.0])
    assert value_parity(values, values + 0.05, "pipeline_graph", 1e-5)["scale"] == (
        10_000.0
    )
    with pytest.raises(ParityError, match="max \\|dvalue\\| 0.2"):
        value_parity(values, values + 0.2, "pipeline_graph", 1e-5)


KINDS = [
    ("multiclass", "logistic_regression", {"max_iter": 500}),
    ("multiclass", "gradient_boosting", {"n_estimators": 20}),
    ("multiclass", "hist_gradient_boosting", {"max_iter": 20}),
    ("regression", "ridge", {}),
    ("regression", "linear_regression", {}),
    ("regression", "gradient_boosting", {"n_estimators": 20}),
    ("regression", "hist_gradient_boosting", {"max_iter": 20}),
]


@pytest.mark.parametrize("task, estimator, options", KINDS)
def test_every_candidate_kind_of_a_task_exports_both_graphs_through_the_gate(
    task_models, task, estimator, options
):
    from bundle.engines import EncodedClassifier, PipelineGraph, make_session
    from training.features import feature_rules, read_processed, split_xy, target_of
    from training.onnx_export import (
        check_parity,
        dense_encoding,
        to_dense_onnx_bytes,
        to_onnx_bytes,
    )
    from training.params import load

    root = task_models(task).parent
    spec = load(root / "params.yaml").features
    train = read_processed(root / "data/processed/train.csv", spec)
    classes = list(target_of(train, spec, 0.5).classes)
    X, y = split_xy(train, spec, classes)
    pipeline = build_pipeline(spec, estimator, options, 0).fit(X, y)
    rules = feature_rules(X, spec)
    whole = PipelineGraph(make_session(to_onnx_bytes(pipeline, spec), "g"), rules, task)
    encoding = dense_encoding(pipeline, spec)
    dense = to_dense_onnx_bytes(pipeline, encoding["width"])
    served = EncodedClassifier(make_session(dense, "c"), encoding, task)
    for engine in (whole, served):
        report = check_parity(pipeline, engine, X, spec, 0.5, 1e-5)
        assert report["rows"] == len(X)
    one = served.proba_one({c: X[c].iloc[0] for c in spec.columns})
    if task == "multiclass":
        assert one.shape == (3,) and one.sum() == pytest.approx(1, abs=1e-5)
    else:
        assert isinstance(one, float)
