"""Stage 4: the fitted Pipeline becomes the served bundle, proved equal before it is published.

Exports two ONNX graphs (the whole Pipeline; the classifier alone over the fitted one-hot
encoding), scores the whole test split with each through the bundle's own engines and
refuses to publish when either disagrees with the Pipeline (the parity gate,
training/onnx_export.py), at the threshold the fit stage chose (build/fitted/cv_results.json;
binary). Then picks the examples the bundle publishes (one confident record of each
class, or a low, median and high target; one broken: training/examples.py), writes the
metadata (the test metrics of features.task) and the verified bundle, atomically, to
build/bundle (training/publish.py): evaluate measures it there and publishes it with its
reports. Everything here is
deterministic: the same fitted Pipeline gives the same bytes and the same model version.
`python -m training.export`
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

import numpy as np
import pandas as pd

from bundle.engines import EncodedClassifier, PipelineGraph, make_session
from bundle.files import sha256_file
from bundle.format import (
    BINARY,
    CLASSIFIER_GRAPH,
    FITTED_PIPELINE,
    PIPELINE_GRAPH,
    REFERENCE_PROFILE,
    Examples,
    Metadata,
    Project,
    Target,
    model_version,
)
from bundle.store import file_entries
from training import fitted, publish
from training.clean import missing_markers
from training.config import ConfigError, Paths
from training.examples import pick_examples
from training.features import (
    feature_rules,
    fitted_fills,
    frame_to_columns,
    model_frame,
    read_processed,
    split_xy,
    target_of,
)
from training.metrics import task_metrics
from training.onnx_export import (
    check_parity,
    dense_encoding,
    to_dense_onnx_bytes,
    to_onnx_bytes,
)
from training.params import Params, load
from training.profile import reference_profile
from training.stage import run_stage

# Training rows with a missing value that the parity gate scores besides the test split.
MISSING_PARITY_ROWS = 1000


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


def provenance(paths: Paths, n_train: int, n_test: int) -> dict[str, Any]:
    """Where the model came from: data hashes and library versions (no clock, no host:
    the same inputs give the same metadata, byte for byte)."""
    return {
        "data": {
            name: {"sha256": sha256_file(paths.split(name)), "rows": n}
            for name, n in (("train", n_train), ("test", n_test))
        },
        "library_versions": library_versions(),
    }


def classifier_graph(pipeline, spec) -> dict | None:
    """The dense encoding of the fitted preprocessing, or None (saying so in one line)
    when it cannot express it: the bundle then holds the whole-pipeline graph only."""
    try:
        return dense_encoding(pipeline, spec)
    except ValueError as exc:
        print(
            f"export: {exc}; publishing the whole-pipeline graph only (slower, same "
            "predictions)",
            file=sys.stderr,
        )
        return None


def parity_rows(X_test: pd.DataFrame, X_train: pd.DataFrame, spec) -> pd.DataFrame:
    """The rows the parity gate scores: the whole test split, plus up to
    MISSING_PARITY_ROWS training rows with a missing number, so that imputation is
    proved even when the test split happens to have none."""
    gaps = X_train[X_train[list(spec.numeric)].isna().any(axis=1)]
    gaps = gaps.head(MISSING_PARITY_ROWS)
    return pd.concat([X_test, gaps], ignore_index=True)


def chosen_threshold(cv: dict[str, Any], paths: Paths) -> float:
    """The decision threshold the fit stage chose (training/threshold.py)."""
    try:
        return float(cv["threshold"]["value"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"{paths.cv_results.name} has no chosen threshold: it is from an older fit "
            "stage; rerun it (make train)"
        ) from None


def say_lacking(examples: Examples, target: Target) -> None:
    """One line per class the bundle publishes no example of (the docs and the smoke
    test use the examples there are)."""
    for name in examples.lacking(target):
        print(
            f"export: no valid test record is predicted as {name!r} at threshold "
            f"{target.threshold:.4f}: the bundle publishes no {name!r} example",
            file=sys.stderr,
            flush=True,
        )


def export(paths: Paths, params: Params) -> Metadata:
    """Export and gate the fitted Pipeline as the bundle in build/bundle; return its
    metadata."""
    spec, tp = params.features, params.train
    pipeline_bytes = paths.pipeline.read_bytes()
    pipeline = fitted.loads(pipeline_bytes, paths.pipeline)
    cv = json.loads(paths.cv_results.read_text(encoding="utf-8"))
    # The fit stage's choice (binary); the other tasks have no threshold.
    threshold = chosen_threshold(cv, paths) if spec.binary else Target.threshold
    train_df = read_processed(paths.train_csv, spec, "train")
    target = target_of(train_df, spec, threshold)
    classes = list(target.classes)
    X_train, _ = split_xy(train_df, spec, classes)
    test_df = read_processed(paths.test_csv, spec, "test")
    X_test, y_test = split_xy(test_df, spec, classes)
    rules = feature_rules(X_train, spec, fitted_fills(pipeline))

    task = spec.task
    whole_bytes = to_onnx_bytes(pipeline, spec)
    whole = PipelineGraph(
        make_session(whole_bytes, "the exported Pipeline"), rules, task
    )
    graphs = {PIPELINE_GRAPH: whole_bytes}
    encoding, served = classifier_graph(pipeline, spec), whole
    if encoding is not None:
        graphs[CLASSIFIER_GRAPH] = to_dense_onnx_bytes(pipeline, encoding["width"])
        served = EncodedClassifier(
            make_session(graphs[CLASSIFIER_GRAPH], "the exported classifier"),
            encoding,
            task,
        )
    tolerance = tp.parity_tolerance
    # Both graphs and the Pipeline take categories as the model was fitted on them.
    X_model = model_frame(X_test, rules)
    checked = model_frame(parity_rows(X_test, X_train, spec), rules)
    parity = {
        e.graph: check_parity(pipeline, e, checked, spec, threshold, tolerance)
        for e in dict.fromkeys((whole, served))
    }
    proba = served.proba_columns(frame_to_columns(X_model, spec)).astype(np.float64)
    blobs = {
        **graphs,
        FITTED_PIPELINE: pipeline_bytes,
    }
    profile = reference_profile(
        X_train,
        X_test,
        y_test,
        proba,
        rules,
        threshold,
        params.evaluate.slices,
        task,
        target.class_names,
    )
    blobs[REFERENCE_PROFILE] = profile.to_bytes()
    files = file_entries(blobs)
    chosen = cv["selected"]
    examples = pick_examples(X_test, y_test, proba, rules, target)
    say_lacking(examples, target)
    meta = Metadata(
        project=Project(spec.name, spec.description),
        version=model_version(chosen, files),
        target=target,
        features=rules,
        files=files,
        examples=examples,
        encoding=encoding,
        model={
            "candidate": chosen,
            "estimator": type(pipeline.steps[-1][1]).__name__,
            "params": tp.candidates[chosen].params,
            "selection": f"highest mean CV {cv['selection_metric']}",
        },
        metrics=task_metrics(task, y_test, proba, threshold),
        parity=parity,
        provenance=provenance(paths, len(X_train), len(X_test)),
        missing=missing_markers(params.data.options),
    )
    publish.publish_bundle(paths.staged_bundle, meta, blobs)
    return meta


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    meta = export(Paths(), load())
    m = meta.metrics
    worst = max(p["max_abs_diff"] for p in meta.parity.values())
    if meta.target.task == BINARY:
        shown = (
            f"roc_auc={m['roc_auc']:.4f} accuracy={m['accuracy']:.4f} f1={m['f1']:.4f}"
        )
    else:
        shown = " ".join(f"{k}={v:.4f}" for k, v in m.items())
    print(f"exported {meta.version}: {shown} parity max|dp|={worst:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("export", main))
