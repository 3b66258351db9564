"""Stage 3: choose a model by stratified K-fold CV, refit it, export, verify, publish.

`python -m training.train` writes model/ (model.onnx, pipeline.skops, metadata.json) and
reports/cv_results.json. The new bundle is assembled and verified in a staging folder and
swapped in only when complete, so a failure anywhere leaves the last good model in place.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from training import publish
from training.config import Paths, load_params
from training.export import (
    build_predictor,
    check_parity,
    dense_encoding,
    frame_to_columns,
    to_dense_onnx_bytes,
    to_onnx_bytes,
)
from training.features import (
    FeatureSpec,
    build_preprocessor,
    class_labels,
    describe_features,
    load_split,
    read_processed,
    split_xy,
)
from training.io import sha256_bytes, sha256_file, write_json_atomic
from training.metrics import classification_metrics

# name -> (estimator class, whether numeric features are standardised first)
ESTIMATORS: dict[str, tuple[type, bool]] = {
    "logistic_regression": (LogisticRegression, True),
    "gradient_boosting": (GradientBoostingClassifier, False),
}
# The classifier-only ONNX graph the service scores with (see service/encoding.py).
DENSE_FILE = "classifier.onnx"
CV_SCORING = {
    "roc_auc": "roc_auc",
    "accuracy": "accuracy",
    "f1": "f1",
    "precision": "precision",
    "recall": "recall",
    "brier": "neg_brier_score",
}


def build_pipeline(
    spec: FeatureSpec, estimator: str, params: dict, seed: int
) -> Pipeline:
    """Preprocessing and classifier as one Pipeline."""
    cls, scale = ESTIMATORS[estimator]
    kwargs = dict(params)
    if "random_state" in cls().get_params():
        kwargs.setdefault("random_state", seed)
    return Pipeline(
        [("preprocess", build_preprocessor(spec, scale)), ("classifier", cls(**kwargs))]
    )


def cross_validate_candidates(
    candidates: dict[str, dict], spec: FeatureSpec, X, y, folds: int, seed: int
) -> list[dict[str, Any]]:
    """Mean and standard deviation of every CV metric for each candidate."""
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = []
    for name, cand in candidates.items():
        pipe = build_pipeline(spec, cand["estimator"], cand.get("params", {}), seed)
        scores = cross_validate(pipe, X, y, cv=cv, scoring=CV_SCORING, n_jobs=-1)
        row: dict[str, Any] = {"candidate": name, "estimator": cand["estimator"]}
        for metric in CV_SCORING:
            values = scores[f"test_{metric}"] * (-1 if metric == "brier" else 1)
            row[f"{metric}_mean"] = float(np.mean(values))
            row[f"{metric}_std"] = float(np.std(values))
        rows.append(row)
    return rows


def select(rows: list[dict[str, Any]], metric: str) -> str:
    """The declared criterion: highest mean CV `metric` (lowest for the Brier score)."""
    sign = -1 if metric == "brier" else 1
    return max(rows, key=lambda r: sign * r[f"{metric}_mean"])["candidate"]


def example_record(X: pd.DataFrame) -> dict[str, Any]:
    """The first test row as an API record (Python types, None for missing)."""
    row = X.iloc[0]
    return {
        c: (
            None
            if pd.isna(v)
            else (int(v) if isinstance(v, (float, np.floating)) else v)
        )
        for c, v in row.items()
    }


def git_commit(root: Path) -> str:
    """The commit the code was trained from, or "unknown" outside a checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def library_versions() -> dict[str, str]:
    """Versions of everything that shaped the artifact."""
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def select_and_fit(spec: FeatureSpec, tp: dict, X, y) -> tuple[str, Pipeline, list]:
    """Cross-validate every candidate, pick one by the declared criterion, refit it."""
    cv_rows = cross_validate_candidates(
        tp["candidates"], spec, X, y, tp["cv_folds"], tp["seed"]
    )
    chosen = select(cv_rows, tp["selection_metric"])
    cand = tp["candidates"][chosen]
    pipeline = build_pipeline(
        spec, cand["estimator"], cand.get("params", {}), tp["seed"]
    )
    return chosen, pipeline.fit(X, y), cv_rows


def provenance(paths: Paths, n_train: int, n_test: int) -> dict[str, Any]:
    """Where the model came from: data hashes, library versions, commit, time."""
    return {
        "data": {
            name: {"sha256": sha256_file(paths.processed / f"{name}.csv"), "rows": n}
            for name, n in (("train", n_train), ("test", n_test))
        },
        "library_versions": library_versions(),
        "git_commit": git_commit(paths.root),
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def train(paths: Paths, params: dict) -> dict[str, Any]:
    """Run CV selection, refit, export and verify; publish the bundle; return metadata."""
    spec, tp = FeatureSpec.from_params(params), params["train"]
    threshold = params["evaluate"]["threshold"]
    started = time.perf_counter()
    train_df = read_processed(paths.processed / "train.csv", spec)
    X, y = split_xy(train_df, spec)
    X_test, y_test = load_split(paths.processed / "test.csv", spec)
    chosen, pipeline, cv_rows = select_and_fit(spec, tp, X, y)

    onnx_bytes = to_onnx_bytes(pipeline, spec)
    features = describe_features(X, spec)
    labels = class_labels(train_df[spec.target], spec.positive_label)
    whole = build_predictor(onnx_bytes, features, labels, threshold)
    parity = check_parity(pipeline, whole, X_test, spec, tp["parity_tolerance"])
    # The served fast path: the classifier alone over the encoded matrix; gated alike.
    encoding = dense_encoding(pipeline, spec)
    dense_bytes = to_dense_onnx_bytes(pipeline, encoding["width"])
    predictor = build_predictor(
        onnx_bytes, features, labels, threshold, (dense_bytes, encoding)
    )
    dense_parity = check_parity(
        pipeline, predictor, X_test, spec, tp["parity_tolerance"]
    )
    proba = predictor.proba_columns(frame_to_columns(X_test, spec)).astype(np.float64)
    example = example_record(X_test)
    onnx_sha = sha256_bytes(onnx_bytes)
    meta = {
        "format": 1,
        "name": "census-income",
        "version": f"{chosen}-{onnx_sha[:12]}",
        "candidate": chosen,
        "estimator": type(pipeline.steps[-1][1]).__name__,
        "params": tp["candidates"][chosen].get("params", {}),
        "selection": {"criterion": f"highest mean CV {tp['selection_metric']}"},
        "onnx": {"file": "model.onnx", "sha256": onnx_sha},
        "dense": {
            "file": DENSE_FILE,
            "sha256": sha256_bytes(dense_bytes),
            "encoding": encoding,
            "parity": dense_parity,
        },
        "features": features,
        "target": spec.target,
        "labels": {"negative": labels[0], "positive": labels[1]},
        "threshold": threshold,
        "metrics": classification_metrics(y_test, proba, threshold),
        "parity": parity,
        "example": {
            "record": example,
            "probability": predictor.predict_one(example).probability,
        },
        **provenance(paths, len(X), len(X_test)),
        "training_seconds": round(time.perf_counter() - started, 1),
    }
    publish.publish_bundle(
        paths.model_dir, onnx_bytes, pipeline, meta, {DENSE_FILE: dense_bytes}
    )
    cv = {
        "selection_metric": tp["selection_metric"],
        "selected": chosen,
        "rows": cv_rows,
    }
    write_json_atomic(paths.reports / "cv_results.json", cv)
    return meta


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    meta = train(Paths(), load_params())
    m = meta["metrics"]
    print(
        f"published {meta['version']}: roc_auc={m['roc_auc']:.4f} "
        f"accuracy={m['accuracy']:.4f} f1={m['f1']:.4f} "
        f"parity max|dp|={meta['parity']['max_abs_diff']:.2g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
