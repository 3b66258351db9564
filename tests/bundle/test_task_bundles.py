"""The task in the bundle: older binary metadata still loads, each task's target round
trips, and what handles binary models only says so in one line."""

from __future__ import annotations

import json
import shutil

import pytest

from bundle.format import (
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
