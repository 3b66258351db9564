"""The evaluate stage on a multiclass and a regression model (the session's task models,
trained by `make init`'s params): every report, the bias audit, the figures and the
model card of the task, measured on the published bundle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from bundle.store import load_bundle
from testkit.tasks import quick_params
from training.config import Paths
from training.evaluate import evaluate
from training.features import split_xy
from training.params import Params
from training.stage import run_stage

FIGURES = {
    "multiclass": ("confusion_matrix", "slice_f1_macro", "disparity"),
    "regression": ("predicted_vs_actual", "residuals", "slice_rmse", "disparity"),
}


def audited_params(root) -> Params:
    """The task project's quick params, auditing its first categorical feature and
    its first banded number (init audits nothing: only the user knows what is
    sensitive)."""
    raw = quick_params(yaml.safe_load((root / "params.yaml").read_text()))
    ev = raw["evaluate"]
    first_band = f"{next(iter(ev['slices']['bands']))}-band"
    ev["bias"]["attributes"] = [raw["features"]["categorical"][0], first_band]
    return Params.from_dict(raw)


@pytest.fixture(scope="module")
def evaluations(task_models):
    """The evaluate stage run once on a task's model: (task, paths, params, metrics)."""
    done = {}

    def of(task: str):
        if task not in done:
            root = task_models(task).parent
            params, paths, result = audited_params(root), Paths(root=root), {}

            def stage() -> int:
                result.update(evaluate(paths, params))
                return 0

            assert run_stage("evaluate", stage) == 0  # 2 would be a refusal
            done[task] = task, paths, params, result
        return done[task]

    return of


@pytest.fixture(params=["multiclass", "regression"])
def evaluated(request, evaluations):
    return evaluations(request.param)


def test_the_evaluate_stage_writes_the_task_metrics_the_bundle_has(evaluated):
    task, paths, _, metrics = evaluated
    meta = json.loads((paths.model_dir / "metadata.json").read_text())
    written = json.loads(paths.metrics.read_text())
    assert written == metrics
    headline = {k: written[k] for k in meta["metrics"]}
    assert headline == pytest.approx(meta["metrics"], abs=1e-6)
    if task == "multiclass":
        names = meta["target"]["class_names"]
        assert set(written) == set(meta["metrics"]) | {
            f"{m}:{n}" for m in ("precision", "recall") for n in names
        }
    else:
        assert set(written) == {"rmse", "mae", "r2"}


def test_each_class_recall_is_what_the_bundle_predicts_on_the_test_split(evaluations):
    _, paths, params, metrics = evaluations("multiclass")
    model = load_bundle(paths.model_dir)
    target = model.metadata.target
    test = pd.read_csv(paths.test_csv)
    _, y = split_xy(test, params.features, list(target.classes))
    proba = model.predictor.proba_records(
        test[params.features.columns]
        .astype(object)
        .where(test.notna(), None)
        .to_dict("records")
    )
    predicted = np.argmax(proba, axis=1)
    for k, name in enumerate(target.class_names):
        recall = ((y == k) & (predicted == k)).sum() / (y == k).sum()
        assert metrics[f"recall:{name}"] == pytest.approx(recall)


def test_task_slices_cover_every_categorical_feature_and_band(evaluated):
    task, paths, params, _ = evaluated
    rows = json.loads(paths.slices_json.read_text())
    bands = params.evaluate.slices.bands
    assert {r["feature"] for r in rows} == set(params.features.categorical) | {
        f"{b}-band" for b in bands
    }
    first = params.features.categorical[0]
    test_rows = len(pd.read_csv(paths.test_csv))
    assert sum(r["support"] for r in rows if r["feature"] == first) == test_rows
    measured = {"multiclass": {"accuracy", "f1_macro", "recall"}}.get(
        task, {"rmse", "mae", "mean_prediction", "mean_actual"}
    )
    assert all(measured <= set(r) and {"too_small", "flagged"} <= set(r) for r in rows)
    text = paths.slices_text.read_text()
    assert f"== {first} ==" in text and "Overall: " in text


def test_the_task_bias_audit_judges_each_attribute_on_the_task_metrics(evaluated):
    task, paths, params, _ = evaluated
    audit = json.loads(paths.bias_json.read_text())
    attributes = params.evaluate.bias.attributes
    assert list(audit["summary"]) == list(attributes)
    meta = json.loads((paths.model_dir / "metadata.json").read_text())
    if task == "multiclass":
        names = meta["target"]["class_names"]
        expected = [f"recall:{n}" for n in names] + [
            f"selection_rate:{n}" for n in names
        ]
    else:
        expected = ["mae", "rmse", "mean_prediction"]
    assert audit["metrics"] == expected
    test = pd.read_csv(paths.test_csv, dtype=str)
    first = attributes[0]
    assert (
        audit["attributes"][first]["reference"] == test[first].value_counts().idxmax()
    )
    for verdicts in audit["summary"].values():
        assert set(verdicts) == set(expected)
        assert set(verdicts.values()) <= {"fair", "unfair", "undefined"}
    assert "### " + first in paths.bias_markdown.read_text()


def test_the_task_model_card_shows_its_figures_and_tables(evaluated):
    task, paths, _, metrics = evaluated
    card = paths.model_card.read_text()
    for name in FIGURES[task]:
        assert paths.figure(name).read_bytes()[:4] == b"\x89PNG"
        assert f"(reports/figures/{name}.png)" in card
    for heading in ("## Metrics", "## Slices", "## Bias findings", "## Figures"):
        assert f"\n{heading}\n" in card
    assert "## Decision threshold" not in card and "## Calibration" not in card
    if task == "multiclass":
        assert (
            "\n## Classes\n" in card
            and "| Class | Support | Precision | Recall |" in card
        )
        assert f"| Macro F1 | {metrics['f1_macro']:.4f} |" in card
    else:
        assert "\n## Target\n" in card
        assert f"| RMSE (lower is better) | {metrics['rmse']:.4f} |" in card
        assert f"| R² | {metrics['r2']:.4f} |" in card
