"""Stage 4: the fitted Pipeline becomes the served bundle, proved equal before it is published.

Exports two ONNX graphs (the whole Pipeline; the classifier alone over the fitted one-hot
encoding), scores the whole test split with each through the bundle's own engines and
refuses to publish when either disagrees with the Pipeline (the parity gate,
training/onnx_export.py). Then picks the examples the bundle publishes (one confident
record of each class, one broken: training/examples.py), writes the metadata and the
verified bundle, atomically, to build/bundle (training/publish.py): evaluate measures it
there and publishes it with its reports. Everything here is
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
    CLASSIFIER_GRAPH,
    FITTED_PIPELINE,
    PIPELINE_GRAPH,
    REFERENCE_PROFILE,
    Metadata,
    Project,
    model_version,
)
from bundle.store import file_entries
from training import fitted, publish
from training.clean import missing_markers
from training.config import Paths
from training.examples import pick_examples
from training.features import (
    feature_rules,
    frame_to_columns,
    read_processed,
    split_xy,
    target_of,
)
from training.metrics import classification_metrics
from training.onnx_export import (
    check_parity,
    dense_encoding,
    to_dense_onnx_bytes,
    to_onnx_bytes,
)
from training.params import Params, load
from training.profile import reference_profile
from training.stage import run_stage


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


def export(paths: Paths, params: Params) -> Metadata:
    """Export and gate the fitted Pipeline as the bundle in build/bundle; return its
    metadata."""
    spec, tp = params.features, params.train
    threshold = params.evaluate.threshold
    pipeline_bytes = paths.pipeline.read_bytes()
    pipeline = fitted.loads(pipeline_bytes, paths.pipeline)
    cv = json.loads(paths.cv_results.read_text(encoding="utf-8"))
    train_df = read_processed(paths.train_csv, spec, "train")
    X_train, _ = split_xy(train_df, spec)
    X_test, y_test = split_xy(read_processed(paths.test_csv, spec, "test"), spec)
    rules = feature_rules(X_train, spec)
    target = target_of(train_df, spec, threshold)

    whole_bytes = to_onnx_bytes(pipeline, spec)
    whole = PipelineGraph(make_session(whole_bytes, "the exported Pipeline"), rules)
    encoding = dense_encoding(pipeline, spec)
    classifier_bytes = to_dense_onnx_bytes(pipeline, encoding["width"])
    served = EncodedClassifier(
        make_session(classifier_bytes, "the exported classifier"), encoding
    )
    tolerance = tp.parity_tolerance
    parity = {
        e.graph: check_parity(pipeline, e, X_test, spec, threshold, tolerance)
        for e in (whole, served)
    }
    proba = served.proba_columns(frame_to_columns(X_test, spec)).astype(np.float64)
    profile = reference_profile(
        X_train, X_test, y_test, proba, rules, threshold, params.evaluate.slices
    )
    blobs = {
        PIPELINE_GRAPH: whole_bytes,
        CLASSIFIER_GRAPH: classifier_bytes,
        FITTED_PIPELINE: pipeline_bytes,
        REFERENCE_PROFILE: profile.to_bytes(),
    }
    files = file_entries(blobs)
    chosen = cv["selected"]
    meta = Metadata(
        project=Project(spec.name, spec.description),
        version=model_version(chosen, files),
        target=target,
        features=rules,
        files=files,
        examples=pick_examples(X_test, y_test, proba, rules, target),
        encoding=encoding,
        model={
            "candidate": chosen,
            "estimator": type(pipeline.steps[-1][1]).__name__,
            "params": tp.candidates[chosen].params,
            "selection": f"highest mean CV {cv['selection_metric']}",
        },
        metrics=classification_metrics(y_test, proba, threshold),
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
    print(
        f"exported {meta.version}: roc_auc={m['roc_auc']:.4f} "
        f"accuracy={m['accuracy']:.4f} f1={m['f1']:.4f} parity max|dp|={worst:.2g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("export", main))
