"""The training stage: selection, export parity, publishing, the bundle it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service.model_store import load_model, sha256_file
from training import publish
from training.export import ParityError, check_parity
from training.features import FeatureSpec, load_split
from training.train import select


def test_select_takes_the_best_mean_and_the_lowest_brier():
    rows = [
        {"candidate": "a", "roc_auc_mean": 0.90, "brier_mean": 0.10},
        {"candidate": "b", "roc_auc_mean": 0.92, "brier_mean": 0.12},
    ]
    assert select(rows, "roc_auc") == "b"
    assert select(rows, "brier") == "a"


def test_cv_table_has_mean_and_std_for_every_candidate_and_metric(trained):
    cv = json.loads((trained.reports / "cv_results.json").read_text())
    assert {r["candidate"] for r in cv["rows"]} == {
        "logistic_regression",
        "gradient_boosting",
    }
    for row in cv["rows"]:
        for metric in ("roc_auc", "accuracy", "f1", "precision", "recall", "brier"):
            assert 0.0 <= row[f"{metric}_mean"] <= 1.0
            assert row[f"{metric}_std"] >= 0.0
    best = max(cv["rows"], key=lambda r: r["roc_auc_mean"])["candidate"]
    assert cv["selected"] == best


def test_bundle_records_hashes_features_metrics_and_parity(trained, params):
    meta = json.loads((trained.model_dir / "metadata.json").read_text())
    assert meta["onnx"]["sha256"] == sha256_file(trained.model_dir / "model.onnx")
    assert meta["pipeline"]["sha256"] == sha256_file(
        trained.model_dir / "pipeline.skops"
    )
    names = [f["name"] for f in meta["features"]]
    assert names == FeatureSpec.from_params(params).columns
    assert meta["parity"]["rows"] == 800
    assert meta["parity"]["max_abs_diff"] <= params["train"]["parity_tolerance"]
    assert meta["parity"]["label_mismatches"] == 0
    dense = meta["dense"]
    assert dense["sha256"] == sha256_file(trained.model_dir / dense["file"])
    assert dense["parity"]["rows"] == 800 and dense["parity"]["label_mismatches"] == 0
    assert dense["parity"]["max_abs_diff"] <= params["train"]["parity_tolerance"]
    assert 0.8 < meta["metrics"]["roc_auc"] <= 1.0
    assert set(meta["library_versions"]) >= {"scikit-learn", "onnxruntime", "skl2onnx"}
    assert len(meta["data"]["train"]["sha256"]) == 64


def test_onnx_export_matches_the_pipeline_on_every_test_row(
    trained, loaded_model, params
):
    pipeline = publish.load_pipeline(trained.model_dir)
    spec = FeatureSpec.from_params(params)
    X, _ = load_split(trained.processed / "test.csv", spec)
    report = check_parity(pipeline, loaded_model.predictor, X, spec, 1e-5)
    assert report["rows"] == len(X) and report["label_mismatches"] == 0


def test_parity_gate_refuses_an_export_that_disagrees(trained, loaded_model, params):
    class Shifted:
        def predict_proba(self, X):
            p = real.predict_proba(X)
            return np.clip(p + [[-0.01, 0.01]], 0, 1)

    real = publish.load_pipeline(trained.model_dir)
    spec = FeatureSpec.from_params(params)
    X, _ = load_split(trained.processed / "test.csv", spec)
    with pytest.raises(ParityError, match="not publishing"):
        check_parity(Shifted(), loaded_model.predictor, X, spec, 1e-5)


def test_a_publish_that_fails_leaves_the_last_good_model(
    trained, tmp_path, monkeypatch
):
    import shutil

    model_dir = tmp_path / "model"
    shutil.copytree(trained.model_dir, model_dir)
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    meta = json.loads((model_dir / "metadata.json").read_text())
    meta["example"]["probability"] = 0.123456  # the self-check will fail on this
    onnx = (model_dir / "model.onnx").read_bytes()
    dense = {"classifier.onnx": (model_dir / "classifier.onnx").read_bytes()}
    with pytest.raises(Exception, match="self-check"):
        publish.publish_bundle(model_dir, onnx, object(), meta, dense)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging left behind
    load_model(model_dir)


def test_recover_restores_a_bundle_left_between_the_two_renames(trained, tmp_path):
    import shutil

    previous = tmp_path / "model.previous"
    shutil.copytree(trained.model_dir, previous)
    publish.recover(tmp_path / "model")
    assert load_model(tmp_path / "model").version
    assert not previous.exists()


def snapshot(folder) -> dict:
    """Every file under `folder`, by relative path, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    "target, stage",
    [
        ("training.train.check_parity", "after export, at the parity gate"),
        ("training.publish.write_json_atomic", "while staging the new bundle"),
    ],
)
def test_a_training_run_that_fails_half_way_leaves_the_published_model_untouched(
    trained, params, tmp_path, monkeypatch, target, stage
):
    import shutil

    from tests.conftest import sample_project
    from training.train import train

    paths = sample_project(tmp_path / "project")
    shutil.copytree(trained.model_dir, paths.model_dir)
    before = snapshot(paths.model_dir.parent)

    def crash(*args, **kwargs):
        raise RuntimeError(f"simulated crash {stage}")

    monkeypatch.setattr(target, crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(paths, params)
    assert (
        snapshot(paths.model_dir.parent) == before
    )  # no byte changed, nothing left over
    assert load_model(paths.model_dir).version


EXPORT_SCRIPT = """
import hashlib, sys
from training.config import load_params
from training.features import FeatureSpec, load_split
from training.train import build_pipeline
from training.export import to_onnx_bytes
spec = FeatureSpec.from_params(load_params())
X, y = load_split(sys.argv[1], spec)
p = build_pipeline(spec, "gradient_boosting", {"n_estimators": 5, "max_depth": 2}, 0)
print(hashlib.sha256(to_onnx_bytes(p.fit(X, y), spec)).hexdigest())
"""


def test_the_onnx_export_is_byte_identical_whatever_the_hash_seed():
    """The model version is the ONNX file's SHA-256: retraining the same data with the
    same code must give the same version, even though skl2onnx iterates over sets."""
    import os
    import subprocess
    import sys

    from tests.conftest import FIXTURES
    from training.config import ROOT

    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", EXPORT_SCRIPT, str(FIXTURES / "train.csv")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1
