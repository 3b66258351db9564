"""The task in the bundle: older binary metadata still loads, each task's target round
trips, and what handles binary models only says so in one line."""

from __future__ import annotations

import json
import shutil

import pytest

from bundle.format import (
    BundleError,
    Metadata,
    Target,
    metadata_text,
    read_metadata,
)
from bundle.store import load_bundle


@pytest.mark.task("binary")  # about the configured binary model
def test_binary_metadata_written_before_tasks_loads_as_a_binary_model(
    model_dir, tmp_path, loaded_model
):
    bundle = shutil.copytree(model_dir, tmp_path / "model")
    meta = json.loads((bundle / "metadata.json").read_text())
    del meta["target"]["task"]
    (bundle / "metadata.json").write_text(json.dumps(meta))
    old = load_bundle(bundle)
    assert old.metadata.target.task == "binary"
    assert old.version == loaded_model.version
    record = old.metadata.examples.positive.record
    assert old.predictor.predict_one(record) == loaded_model.predictor.predict_one(
        record
    )


@pytest.mark.task("binary")  # about the configured binary model
def test_binary_metadata_gains_only_the_task(model_dir):
    written = json.loads((model_dir / "metadata.json").read_text())
    assert set(written["target"]) == {
        "column",
        "positive",
        "negative",
        "positive_name",
        "negative_name",
        "threshold",
        "task",
    }
    assert set(written["examples"]) == {"positive", "negative", "invalid"}
    assert "value" not in written["examples"]["positive"]


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_each_task_metadata_reads_back_to_the_same_bytes(task_models, task):
    meta = read_metadata(task_models(task))
    text = (task_models(task) / "metadata.json").read_text()
    assert metadata_text(Metadata.from_json(json.loads(text))) == text
    assert meta.target.task == task


def test_a_target_of_an_unknown_task_too_few_or_repeated_classes_is_refused():
    with pytest.raises(ValueError, match="target.task 'ranking' is not one of"):
        Target("y", task="ranking")
    with pytest.raises(ValueError, match="needs at least 3 classes"):
        Target("y", task="multiclass", classes=("a", "b"), class_names=("a", "b"))
    with pytest.raises(ValueError, match="repeat a name"):
        Target("y", task="multiclass", classes=(1, "1", 2), class_names=("1", "1", "2"))


def test_what_handles_binary_models_only_refuses_another_task_in_one_line():
    target = Target("y", task="regression")
    with pytest.raises(BundleError) as caught:
        target.require_binary("batch scoring")
    assert str(caught.value) == (
        "batch scoring handles binary models only so far; this model's task is "
        "regression (its /predict and /predict/batch serve it)"
    )
    Target("y", 1, 0, "1", "0").require_binary("batch scoring")  # binary: no error


def entry_points(model, tmp_path) -> dict:
    """What handles binary models only, each run on `model` as its command line does."""
    from monitoring.alerts import main as alerts
    from monitoring.report import main as monitor

    capture = tmp_path / "capture.jsonl"
    capture.write_text("")
    return {
        "make monitor": lambda: monitor(
            [str(capture), "--model", str(model), "--out", str(tmp_path / "m")]
        ),
        "make alerts": lambda: alerts(
            ["--model", str(model), "--out", str(tmp_path / "a")]
        ),
    }


@pytest.mark.parametrize("what", ["make monitor", "make alerts"])
def test_a_binary_only_command_refuses_a_regression_model_in_one_line(
    task_models, tmp_path, capsys, what
):
    code = entry_points(task_models("regression"), tmp_path)[what]()
    err = capsys.readouterr().err
    assert code in (2, 3) and err.count("\n") == 1
    assert f"{what} handles binary models only so far; this model's task is " in err
    assert err.rstrip().endswith(
        "regression (its /predict and /predict/batch serve it)"
    )


def test_the_evaluate_stage_refuses_a_multiclass_model_in_one_line(task_models, capsys):
    import yaml

    from testkit.tasks import quick_params
    from training.config import Paths
    from training.evaluate import evaluate
    from training.params import Params
    from training.stage import run_stage

    root = task_models("multiclass").parent
    params = Params.from_dict(
        quick_params(yaml.safe_load((root / "params.yaml").read_text()))
    )
    assert run_stage("evaluate", lambda: evaluate(Paths(root=root), params)) == 2
    assert capsys.readouterr().err == (
        "training evaluate: evaluate (slices, bias audit, model card) handles binary "
        "models only so far; this model's task is multiclass (its /predict and "
        "/predict/batch serve it)\n"
    )
