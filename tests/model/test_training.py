"""The fit and export stages: selection, parity gate, publishing, the bundle they write."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from bundle.files import sha256_file
from bundle.format import ROLES, read_metadata
from bundle.store import load_bundle
from testkit.sample import scratch_copy
from training import fitted, publish
from training.export import export, parity_rows
from training.features import imputations, read_processed, split_xy
from training.fit import cross_validate_candidates, fit, select, select_and_fit
from training.onnx_export import ParityError, check_parity
from training.params import Candidate


def test_select_takes_the_best_mean_and_the_lowest_brier():
    rows = [
        {"candidate": "a", "roc_auc_mean": 0.90, "brier_mean": 0.10},
        {"candidate": "b", "roc_auc_mean": 0.92, "brier_mean": 0.12},
    ]
    assert select(rows, "roc_auc") == "b"
    assert select(rows, "brier") == "a"


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_cv_table_has_mean_and_std_for_every_candidate_and_metric(trained, params):
    cv = json.loads(trained.cv_results.read_text())
    assert {r["candidate"] for r in cv["rows"]} == set(params["train"]["candidates"])
    for row in cv["rows"]:
        for metric in ("roc_auc", "accuracy", "f1", "precision", "recall", "brier"):
            assert 0.0 <= row[f"{metric}_mean"] <= 1.0
            assert row[f"{metric}_std"] >= 0.0
    best = max(cv["rows"], key=lambda r: r["roc_auc_mean"])["candidate"]
    assert cv["selected"] == best


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_hist_gradient_boosting_is_a_candidate_params_can_choose(sampled, typed):
    spec = typed.features
    X, y = split_xy(read_processed(sampled.train_csv, spec), spec)
    candidates = {
        "tiny_logistic": Candidate("logistic_regression", {"max_iter": 1}),
        "hist": Candidate("hist_gradient_boosting", {"max_iter": 30}),
    }
    tp = dataclasses.replace(typed.train, candidates=candidates, cv_folds=2)
    chosen, pipeline, rows, _ = select_and_fit(spec, tp, X, y)
    assert chosen == "hist"
    assert type(pipeline[-1]).__name__ == "HistGradientBoostingClassifier"
    assert pipeline[-1].n_iter_ == 30
    best = max(rows, key=lambda r: r["roc_auc_mean"])["candidate"]
    assert best == "hist"
    # the fitted file (skops, allow-listed types only) holds it
    again = fitted.loads(fitted.dumps(pipeline), "the hist pipeline")
    assert np.array_equal(again.predict_proba(X), pipeline.predict_proba(X))


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_fit_prints_a_progress_line_per_candidate_fold_and_the_refit(
    sampled, typed, capsys
):
    spec = typed.features
    X, y = split_xy(read_processed(sampled.train_csv, spec), spec)
    candidates = {"lr": Candidate("logistic_regression", {"max_iter": 200})}
    tp = dataclasses.replace(typed.train, candidates=candidates, cv_folds=3)
    select_and_fit(spec, tp, X, y)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("fit: ")]
    metric = tp.selection_metric
    assert [line.split(f" {metric}=")[0] for line in lines[:3]] == [
        f"fit: lr fold {k}/3" for k in (1, 2, 3)
    ]
    assert lines[3].startswith("fit: threshold 0.5000 (fixed in params.yaml; ")
    assert lines[4].startswith(f"fit: refit lr on {len(y)} rows (")
    assert all(line.endswith(" s)") for line in lines[:3] + lines[4:])
    assert len(lines) == 5


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_cv_scores_equal_scikit_learns_cross_validate(sampled, typed):
    """The progress loop changes nothing: same folds, same scorers, same numbers."""
    from sklearn.model_selection import StratifiedKFold, cross_validate

    from training.fit import CV_SCORING, LOWER_IS_BETTER, build_pipeline

    spec = typed.features
    scoring = CV_SCORING[spec.task]
    X, y = split_xy(read_processed(sampled.train_csv, spec), spec)
    cand = Candidate("hist_gradient_boosting", {"max_iter": 20})
    (row,), _ = cross_validate_candidates({"h": cand}, spec, X, y, 3, 7)
    # The numbers fit imputes, decided on the whole training split as fit decides them.
    pipe = build_pipeline(spec, cand.estimator, cand.params, 7, imputations(spec, X))
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=7)
    ref = cross_validate(pipe, X, y, cv=cv, scoring=scoring)
    for metric in scoring:
        values = ref[f"test_{metric}"] * (-1 if metric in LOWER_IS_BETTER else 1)
        assert row[f"{metric}_mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert row[f"{metric}_std"] == pytest.approx(np.std(values), abs=1e-12)


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_bundle_records_every_file_hash_features_metrics_and_parity(trained, typed):
    meta = read_metadata(trained.model_dir)
    assert set(meta.files) == set(ROLES)
    for entry in meta.files.values():
        assert entry.sha256 == sha256_file(trained.model_dir / entry.file)
    assert meta.feature_names == typed.features.columns
    spec = typed.features
    X_test, _ = split_xy(read_processed(trained.test_csv, spec), spec)
    X_train, _ = split_xy(read_processed(trained.train_csv, spec), spec)
    test_rows = len(parity_rows(X_test, X_train, spec))  # and training rows with gaps
    for report in meta.parity.values():
        assert report["rows"] == test_rows and report["label_mismatches"] == 0
        assert report["max_abs_diff"] <= typed.train.parity_tolerance
    assert 0.5 < meta.metrics["roc_auc"] <= 1.0
    versions = meta.provenance["library_versions"]
    assert set(versions) >= {"scikit-learn", "onnxruntime", "skl2onnx"}
    assert len(meta.provenance["data"]["train"]["sha256"]) == 64


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_the_published_examples_are_valid_and_scored_as_their_class(loaded_model):
    from bundle.rules import record_errors

    ex = loaded_model.metadata.examples
    target = loaded_model.metadata.target
    for example, name in (
        (ex.positive, target.positive_name),
        (ex.negative, target.negative_name),
    ):
        assert record_errors(loaded_model.features, example.record) == {}
        assert loaded_model.predictor.predict_one(example.record).label == name
    errors = record_errors(loaded_model.features, ex.invalid_record)
    assert list(errors) == [ex.invalid_field]


@pytest.mark.task("binary", "multiclass")  # labels, a classifier
def test_export_matches_the_pipeline_on_every_test_row(trained, loaded_model, typed):
    pipeline = fitted.loads(trained.pipeline.read_bytes(), "fitted")
    spec = typed.features
    X, _ = split_xy(read_processed(trained.test_csv, spec), spec)
    engine = loaded_model.predictor.engine
    report = check_parity(pipeline, engine, X, spec, 0.5, 1e-5)
    assert report["rows"] == len(X) and report["label_mismatches"] == 0


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_parity_gate_refuses_an_export_that_disagrees(trained, loaded_model, typed):
    class Shifted:
        def predict_proba(self, X):
            p = real.predict_proba(X)
            return np.clip(p + [[-0.01, 0.01]], 0, 1)

    real = fitted.loads(trained.pipeline.read_bytes(), "fitted")
    spec = typed.features
    X, _ = split_xy(read_processed(trained.test_csv, spec), spec)
    with pytest.raises(ParityError, match="not publishing"):
        check_parity(Shifted(), loaded_model.predictor.engine, X, spec, 0.5, 1e-5)


@pytest.mark.task("binary")  # binary metrics, examples, threshold
def test_a_publish_that_fails_leaves_the_last_good_model(trained, tmp_path):
    import dataclasses

    model_dir = tmp_path / "model"
    shutil.copytree(trained.model_dir, model_dir)
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    meta = read_metadata(model_dir)
    wrong = dataclasses.replace(meta.examples.positive, probability=0.123456)
    meta = dataclasses.replace(
        meta, examples=dataclasses.replace(meta.examples, positive=wrong)
    )
    blobs = {
        ROLES[key]: (model_dir / e.file).read_bytes() for key, e in meta.files.items()
    }
    with pytest.raises(Exception, match="self-check"):
        publish.publish_bundle(model_dir, meta, blobs)
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging left behind
    load_bundle(model_dir)


def test_recover_restores_a_bundle_left_between_the_two_renames(trained, tmp_path):
    previous = tmp_path / "model.previous"
    shutil.copytree(trained.model_dir, previous)
    publish.recover(tmp_path / "model")
    assert load_bundle(tmp_path / "model").version
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
        ("training.export.check_parity", "after export, at the parity gate"),
        ("bundle.store.write_text_atomic", "while staging the new bundle"),
    ],
)
def test_an_export_that_fails_half_way_leaves_the_published_model_untouched(
    trained, typed, tmp_path, monkeypatch, target, stage
):
    paths = scratch_copy(trained, tmp_path / "project")
    before = snapshot(paths.model_dir.parent)

    def crash(*args, **kwargs):
        raise RuntimeError(f"simulated crash {stage}")

    monkeypatch.setattr(target, crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export(paths, typed)
    assert snapshot(paths.model_dir.parent) == before  # no byte changed, nothing left
    assert load_bundle(paths.model_dir).version


def test_refitting_and_exporting_the_same_data_gives_the_same_bytes(
    trained, typed, tmp_path
):
    """Everything dvc.lock hashes is reproducible: the fitted Pipeline file, every
    bundle file and the metadata, so the model version too."""
    paths = scratch_copy(trained, tmp_path / "project")
    fit(paths, typed)
    export(paths, typed)
    assert snapshot(paths.fitted) == snapshot(trained.fitted)
    assert snapshot(paths.staged_bundle) == snapshot(trained.staged_bundle)
    assert snapshot(paths.staged_bundle) == snapshot(trained.model_dir)


EXPORT_SCRIPT = """
import hashlib, sys
from training.features import imputations, read_processed, split_xy
from training.fit import build_pipeline
from training.onnx_export import to_onnx_bytes
from training import fitted
from training.params import load
spec = load(sys.argv[2] if len(sys.argv) > 2 else None).features
X, y = split_xy(read_processed(sys.argv[1], spec), spec)
gb = {"n_estimators": 5, "max_depth": 2}
p = build_pipeline(spec, "gradient_boosting", gb, 0, imputations(spec, X))
p.fit(X, y)
print(hashlib.sha256(to_onnx_bytes(p, spec) + fitted.dumps(p)).hexdigest())
"""


# Run before EXPORT_SCRIPT: pandas then stores strings as a Python-only environment does.
WITHOUT_PYARROW = """
import sys
class NoPyarrow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "pyarrow":
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoPyarrow())
"""


def export_digest(sampled, pytestconfig, seed: str = "0", script=EXPORT_SCRIPT) -> str:
    """EXPORT_SCRIPT's digest of the sample's ONNX and fitted files, in a new process."""
    import os
    import subprocess
    import sys

    from training.config import ROOT

    args = [str(sampled.train_csv)]
    if pytestconfig.getoption("--params"):
        args.append(str(pytestconfig.getoption("--params")))
    out = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_the_exports_are_byte_identical_whatever_the_hash_seed(sampled, pytestconfig):
    """The model version is the ONNX file's SHA-256: retraining the same data with the
    same code must give the same version (and the same fitted file), even though
    skl2onnx iterates over sets and skops names members after object ids."""
    digests = {export_digest(sampled, pytestconfig, seed) for seed in ("1", "2", "3")}
    assert len(digests) == 1


def test_the_exports_are_byte_identical_with_or_without_pyarrow(sampled, pytestconfig):
    """pandas keeps strings in pyarrow when it is installed (the dev venv) and in Python
    objects when not (the run-only venv): the fitted file must not tell them apart."""
    pytest.importorskip("pyarrow")
    without = export_digest(
        sampled, pytestconfig, script=WITHOUT_PYARROW + EXPORT_SCRIPT
    )
    assert export_digest(sampled, pytestconfig) == without


def test_the_fit_stage_lets_idle_openmp_threads_sleep_unless_told_otherwise():
    """Spinning OpenMP threads made HistGradientBoosting 10x slower on a busy machine."""
    import os
    import subprocess
    import sys

    from training.config import ROOT

    script = "import os, training.fit; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        run_env = env if given is None else {**env, "OMP_WAIT_POLICY": given}
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected
