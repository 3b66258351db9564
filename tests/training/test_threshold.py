"""The decision threshold: a declared rule applied to out-of-fold predictions, carried into
the bundle and the model card, on imbalanced data too; examples never stop publishing.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bundle.format import BINARY
from bundle.store import load_bundle
from testkit.sample import train_project
from training.clean import clean_stage
from training.config import ConfigError, Paths
from training.params import Params, ThresholdRule
from training.threshold import choose

# The toy CSV project of the config-error tests (this folder is on sys.path).
from test_config_errors import PARAMS, changed  # noqa: E402

# ~3% positives, with a signal a linear model finds.
ROWS, POSITIVE_SHARE = 1600, 0.03


def rare_csv(rows: int = ROWS) -> str:
    """A CSV whose label is 1 in about 3% of rows, most likely for wide, red rows."""
    rng = np.random.default_rng(3)
    width = rng.integers(1, 50, rows)
    colour = rng.choice(["red", "blue", "green"], rows)
    kind = rng.choice(["a", "b"], rows)
    odds = 0.08 * width + 1.0 * (colour == "red") + rng.normal(0, 1, rows)
    cut = np.quantile(odds, 1 - POSITIVE_SHARE)
    label = (odds > cut).astype(int)
    frame = pd.DataFrame({"width": width, "colour": colour, "kind": kind})
    return frame.assign(label=label).to_csv(index=False)


def rare_params(threshold, candidates=None) -> dict:
    """The toy params with a threshold rule and, optionally, other candidates."""
    params = changed("evaluate.threshold", threshold)
    params["evaluate"]["slices"]["min_positives"] = 2
    # 294 combinations in 1,600 rows: repeats are the data (deduplicating drops 80%).
    params["data"]["deduplicate"] = False
    if candidates is not None:
        params["train"]["candidates"] = candidates
    return params


def trained_rare(tmp_path, params: dict) -> Paths:
    """fetch, clean, fit, export and evaluate (which publishes the model) on the
    rare-label CSV in a tmp project."""
    from training.fetch import fetch

    (tmp_path / "toy.csv").write_text(rare_csv())
    paths, typed = Paths(root=tmp_path), Params.from_dict(params)
    fetch(paths, typed)
    clean_stage(paths, typed)
    return train_project(paths, params)


def test_max_f1_picks_the_best_f1_threshold_between_two_scores():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    oof = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    chosen = choose(ThresholdRule("max_f1"), y, oof)
    # Predicting the top five (>= 0.4) gives F1 8/9, the best; halfway to 0.3.
    assert chosen["value"] == pytest.approx(0.35)
    assert chosen["rule"] == "max_f1" and chosen["at_least"] is None
    assert chosen["out_of_fold"] == pytest.approx(
        {"precision": 0.8, "recall": 1.0, "f1": 8 / 9}
    )


def test_a_precision_floor_keeps_the_most_recall_that_reaches_it():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    oof = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    chosen = choose(ThresholdRule("precision", 0.9), y, oof)
    assert chosen["value"] == pytest.approx(0.55)
    assert chosen["out_of_fold"]["precision"] == 1.0
    assert chosen["out_of_fold"]["recall"] == 0.75


def test_a_recall_floor_keeps_the_most_precision_that_reaches_it():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    oof = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    chosen = choose(ThresholdRule("recall", 0.9), y, oof)
    # Every positive needs >= 0.4; below it precision only falls.
    assert chosen["value"] == pytest.approx(0.35)
    assert chosen["out_of_fold"]["precision"] == 0.8
    assert chosen["out_of_fold"]["recall"] == 1.0


def test_a_fixed_threshold_is_kept_and_measured_out_of_fold():
    y = np.array([0, 1, 0, 1])
    chosen = choose(0.5, y, np.array([0.2, 0.7, 0.6, 0.4]))
    assert chosen["value"] == 0.5 and chosen["rule"] == "fixed"
    assert chosen["out_of_fold"]["precision"] == 0.5


def test_a_floor_no_threshold_reaches_is_refused_in_one_line():
    y = np.array([1, 0, 1, 0])
    with pytest.raises(ConfigError) as caught:
        choose(ThresholdRule("precision", 0.9), y, np.array([0.1, 0.9, 0.2, 0.8]))
    assert str(caught.value) == (
        "evaluate.threshold: no threshold gives precision >= 0.9 on the out-of-fold "
        "predictions (at most 0.5000); lower at_least or choose another rule"
    )


@pytest.mark.parametrize(
    "threshold, message",
    [
        (
            {"rule": "best"},
            "params.yaml: evaluate.threshold.rule must be one of max_f1, precision, "
            "recall, not 'best'",
        ),
        (
            {"rule": "precision"},
            "params.yaml: evaluate.threshold.at_least is not set (rule precision "
            "keeps precision at or above it, e.g. at_least: 0.8)",
        ),
        (
            {"rule": "max_f1", "at_least": 0.8},
            "params.yaml: evaluate.threshold.at_least applies to rule precision or "
            "recall, not max_f1",
        ),
        (
            {"rule": "recall", "at_least": 70},
            "params.yaml: evaluate.threshold.at_least must be a number from 0 to 1, "
            "not 70",
        ),
        (
            {"rule": "recall", "atleast": 0.7},
            "params.yaml: unknown key evaluate.threshold.atleast; known: rule, "
            "at_least",
        ),
        (
            1.5,
            "params.yaml: evaluate.threshold must be a number from 0 to 1 or a rule "
            "such as {rule: max_f1}, not 1.5",
        ),
    ],
    ids=[
        "unknown rule",
        "floor rule without its floor",
        "floor on max_f1",
        "floor as a percentage",
        "misspelt key",
        "number above 1",
    ],
)
def test_a_bad_threshold_rule_is_refused_naming_the_key(threshold, message):
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(rare_params(threshold))
    assert str(caught.value) == message


def test_a_rare_class_trains_with_max_f1_and_the_threshold_reaches_bundle_and_card(
    tmp_path,
):
    from training.evaluate import evaluate

    params = rare_params({"rule": "max_f1"})
    paths = trained_rare(tmp_path, params)
    cv = json.loads(paths.cv_results.read_text())
    chosen = cv["threshold"]
    assert chosen["rule"] == "max_f1" and 0 < chosen["value"] < 0.5
    assert chosen["out_of_fold"]["f1"] > 0
    model = load_bundle(paths.model_dir)
    assert model.metadata.target.threshold == chosen["value"]
    evaluate(paths, Params.from_dict(params))
    card = paths.model_card.read_text()
    section = card.split("## Decision threshold")[1].split("## Calibration")[0]
    assert f"**{chosen['value']:.4f}**" in section
    assert "highest F1 of the positive class" in section
    assert f"| F1 | {chosen['out_of_fold']['f1']:.4f} |" in section
    metrics = json.loads(paths.metrics.read_text())
    assert metrics["recall"] > 0  # 0.5 predicts nearly no positive here


def test_no_record_predicted_positive_still_publishes_and_says_so(tmp_path, capsys):
    from training.evaluate import evaluate

    params = rare_params(1.0)
    paths = trained_rare(tmp_path, params)
    err = capsys.readouterr().err
    assert (
        "export: no valid test record is predicted as '1' at threshold 1.0000: the "
        "bundle publishes no '1' example\n"
    ) in err
    model = load_bundle(paths.model_dir)
    examples = model.metadata.examples
    assert examples.positive is None and examples.negative.prediction == "0"
    assert (
        json.loads((paths.model_dir / "metadata.json").read_text())["examples"][
            "positive"
        ]
        is None
    )
    evaluate(paths, Params.from_dict(params))
    assert "the bundle publishes no `1` example" in paths.model_card.read_text()


@pytest.mark.parametrize("estimator", ["logistic_regression", "hist_gradient_boosting"])
def test_a_class_weight_candidate_trains_and_exports_with_parity(tmp_path, estimator):
    params = {"max_iter": 30} if estimator == "hist_gradient_boosting" else {}
    candidates = {
        "weighted": {
            "estimator": estimator,
            "params": {**params, "class_weight": "balanced"},
        }
    }
    paths = trained_rare(tmp_path, rare_params({"rule": "max_f1"}, candidates))
    meta = load_bundle(paths.model_dir).metadata
    assert meta.model["params"]["class_weight"] == "balanced"
    for report in meta.parity.values():
        assert report["label_mismatches"] == 0 and report["max_abs_diff"] <= 1e-5


@pytest.mark.parametrize(
    "estimator, value, message",
    [
        (
            "logistic_regression",
            "balance",
            "train.candidates: logistic_regression: The 'class_weight' parameter of "
            "LogisticRegression must be",
        ),
        (
            "gradient_boosting",
            "balanced",
            "train.candidates: gradient_boosting: "
            "GradientBoostingClassifier.__init__() got an unexpected keyword argument "
            "'class_weight'",
        ),
    ],
    ids=["misspelt value", "estimator without class_weight"],
)
def test_a_class_weight_the_estimator_refuses_is_one_line_before_any_fit(
    estimator, value, message
):
    from training.fit import build_pipeline

    spec = Params.from_dict(PARAMS).features
    with pytest.raises(ConfigError) as caught:
        build_pipeline(spec, estimator, {"class_weight": value}, 0)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_parity_refusal_is_one_line_not_a_traceback(capsys):
    from training.onnx_export import ParityError
    from training.stage import run_stage

    def main():
        raise ParityError("the pipeline export disagrees; not publishing")

    assert run_stage("export", main) == 2
    err = capsys.readouterr().err
    assert err == "training export: the pipeline export disagrees; not publishing\n"


@pytest.mark.parametrize(
    "threshold, positive_width",
    [(0.5, 40), (0.75, 30), (0.95, None)],
    ids=["right ones", "only a wrong one", "none predicted"],
)
def test_each_class_example_is_the_surest_right_one_else_any_predicted_else_none(
    threshold, positive_width
):
    """Rows 0-3: labels 0, 1, 0, 1 scored 0.1, 0.6, 0.8, 0.7; row 4 (width 500) is the
    surest but breaks width's maximum, so it is never an example."""
    from bundle.format import Target
    from training.examples import pick_examples
    from training.features import feature_rules

    spec = Params.from_dict(PARAMS).features
    X = pd.DataFrame({"width": [3, 20, 30, 40, 500], "colour": ["red"] * 5})
    y = np.array([0, 1, 0, 1, 1])
    proba = np.array([0.1, 0.6, 0.8, 0.7, 0.9])
    target = Target("label", 1, 0, "1", "0", threshold)
    examples = pick_examples(X, y, proba, feature_rules(X, spec), target)
    assert examples.negative.record["width"] == 3
    if positive_width is None:
        assert examples.positive is None and examples.lacking(target) == ["1"]
    else:
        # At 0.5 row 3 is the surest right positive; at 0.75 only row 2 (a 0) is above.
        assert examples.positive.record["width"] == positive_width
    assert examples.invalid_field == "width"


def test_a_fold_that_predicts_no_positive_scores_precision_0_without_a_warning():
    import warnings

    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import check_scoring

    from training.fit import CV_SCORING

    X, y = np.zeros((40, 1)), np.array([1] * 2 + [0] * 38)
    model = DummyClassifier(strategy="most_frequent").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = check_scoring(model, scoring=CV_SCORING[BINARY])(model, X, y)
    assert scores["precision"] == scores["f1"] == scores["recall"] == 0.0
