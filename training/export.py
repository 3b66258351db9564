"""Stage 4: the fitted Pipeline becomes the served bundle, proved equal before it is published.

Exports two ONNX graphs (the whole Pipeline; the classifier alone over the fitted one-hot
encoding), scores the whole test split with each through the bundle's own engines and
refuses to publish when either disagrees with the Pipeline (the parity gate). Then picks
the examples the bundle publishes (one confident record of each class, one broken), writes
the metadata and publishes the bundle atomically (training/publish.py). Everything here is
deterministic: the same fitted Pipeline gives the same bytes and the same model version.
`python -m training.export`
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from bundle.engines import (
    MISSING_INPUT,
    EncodedClassifier,
    Engine,
    PipelineGraph,
    make_session,
)
from bundle.files import sha256_file
from bundle.format import (
    CLASSIFIER_GRAPH,
    FITTED_PIPELINE,
    PIPELINE_GRAPH,
    REFERENCE_PROFILE,
    Example,
    Examples,
    Metadata,
    Project,
    Target,
    model_version,
)
from bundle.rules import FeatureRule, record_errors
from bundle.store import file_entries
from training import fitted, publish
from training.clean import missing_markers
from training.config import FeatureSpec, Paths
from training.features import feature_rules, read_processed, split_xy, target_of
from training.metrics import classification_metrics, labels_from_proba
from training.params import Params, load
from training.profile import reference_profile
from training.stage import run_stage

TARGET_OPSET = 17


class ParityError(RuntimeError):
    """The ONNX export does not reproduce the Pipeline's predictions."""


def canonical_bytes(onx) -> bytes:
    """Serialise with the opset imports sorted: skl2onnx collects them in a set, so their
    order (and the file's SHA-256, which names the model version) would otherwise change
    with Python's hash seed from one training run to the next."""
    ordered = sorted(onx.opset_import, key=lambda o: (o.domain, o.version))
    del onx.opset_import[:]
    onx.opset_import.extend(ordered)
    return onx.SerializeToString()


def to_onnx_bytes(pipeline: Pipeline, spec: FeatureSpec) -> bytes:
    """Convert the whole Pipeline (preprocessing + classifier) to ONNX bytes."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    exported = copy.deepcopy(pipeline)
    # skl2onnx imputes strings only: in the graph a missing category arrives as
    # MISSING_INPUT instead of NaN. The fitted fill value is unchanged.
    imputer = exported.named_steps["preprocess"].named_transformers_["cat"]["impute"]
    imputer.missing_values = MISSING_INPUT
    inputs = [(c, FloatTensorType([None, 1])) for c in spec.numeric]
    inputs += [(c, StringTensorType([None, 1])) for c in spec.categorical]
    classifier = exported.steps[-1][1]
    onx = to_onnx(
        exported,
        initial_types=inputs,
        options={id(classifier): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return canonical_bytes(onx)


def dense_encoding(pipeline: Pipeline, spec: FeatureSpec) -> dict:
    """The fitted preprocessing as data (see bundle/encoding.py): numeric offset and
    scale, and the one-hot column of every category, in the ColumnTransformer's order.
    """
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    pre = pipeline.named_steps["preprocess"]
    num, cat = pre.named_transformers_["num"], pre.named_transformers_["cat"]
    onehot = cat["onehot"]
    if onehot.drop is not None or onehot.min_frequency or onehot.max_categories:
        raise ValueError("dense encoding supports a plain one-hot encoder only")
    if isinstance(num, StandardScaler):
        offsets = num.mean_ if num.with_mean else np.zeros(len(spec.numeric))
        scales = num.scale_ if num.with_std else np.ones(len(spec.numeric))
    elif isinstance(num, FunctionTransformer) and num.func is None:
        offsets, scales = np.zeros(len(spec.numeric)), np.ones(len(spec.numeric))
    else:
        raise ValueError(f"dense encoding does not support {num!r}")
    numeric = [
        {"name": n, "column": i, "offset": float(o), "scale": float(s)}
        for i, (n, o, s) in enumerate(zip(spec.numeric, offsets, scales))
    ]
    column, categorical = len(numeric), []
    for name, categories in zip(spec.categorical, onehot.categories_):
        columns = {str(c): column + j for j, c in enumerate(categories)}
        categorical.append({"name": name, "columns": columns})
        column += len(categories)
    if column != len(pre.get_feature_names_out()):
        raise ValueError("dense encoding width differs from the preprocessor's output")
    missing = cat["impute"].fill_value
    return {
        "width": column,
        "missing": missing,
        "numeric": numeric,
        "categorical": categorical,
    }


def to_dense_onnx_bytes(pipeline: Pipeline, width: int) -> bytes:
    """The fitted classifier alone, over the [N, width] float matrix, as ONNX bytes."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    classifier = pipeline.steps[-1][1]
    onx = to_onnx(
        classifier,
        initial_types=[("encoded", FloatTensorType([None, width]))],
        options={id(classifier): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return canonical_bytes(onx)


def frame_to_columns(X: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Column arrays as the predictor takes them (None for a missing category)."""
    cols = {c: X[c].to_numpy(dtype=np.float64) for c in spec.numeric}
    for c in spec.categorical:
        cols[c] = X[c].astype(object).where(X[c].notna(), None).to_numpy()
    return cols


def check_parity(
    pipeline: Pipeline,
    engine: Engine,
    X: pd.DataFrame,
    spec: FeatureSpec,
    threshold: float,
    tolerance: float,
) -> dict:
    """Compare an engine and the Pipeline on every row of X; ParityError on any excess."""
    expected = pipeline.predict_proba(X)[:, 1]
    got = engine.proba_columns(frame_to_columns(X, spec)).astype(np.float64)
    diff = float(np.max(np.abs(expected - got))) if len(X) else 0.0
    mismatched = int(
        np.sum(
            labels_from_proba(expected, threshold) != labels_from_proba(got, threshold)
        )
    )
    report = {"rows": int(len(X)), "max_abs_diff": diff, "label_mismatches": mismatched}
    if diff > tolerance or mismatched:
        raise ParityError(
            f"the {engine.graph} export disagrees with the Pipeline: max |dp| "
            f"{diff:.3g} (tolerance {tolerance:g}), {mismatched} label(s) differ; "
            "not publishing"
        )
    return report


def as_record(row: pd.Series) -> dict[str, Any]:
    """A table row as an API record: Python types, None for missing, whole floats as int."""
    out = {}
    for col, value in row.items():
        if pd.isna(value):
            out[col] = None
        elif isinstance(value, (float, np.floating)):
            out[col] = int(value) if float(value).is_integer() else float(value)
        else:
            out[col] = value.item() if isinstance(value, np.generic) else value
    return out


def typed_record(record: dict[str, Any], rules: tuple[FeatureRule, ...]) -> dict:
    """A record with each number typed as its rule wants (number fields as float)."""
    kinds = {r.name: r.kind for r in rules}
    return {
        k: float(v) if kinds[k] == "number" and v is not None else v
        for k, v in record.items()
    }


def broken(record: dict[str, Any], rules: tuple[FeatureRule, ...]) -> tuple[dict, str]:
    """The record with one field made invalid (a number above its maximum, else an
    unknown category), and that field's name."""
    rule = next((r for r in rules if r.numeric), rules[0])
    if rule.numeric:
        bad = int(rule.maximum) + 1 if rule.kind == "integer" else rule.maximum + 1.0
    else:
        bad = "not-a-category:" + max(rule.categories, key=len)
    return {**record, rule.name: bad}, rule.name


def pick_examples(
    X: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    rules: tuple[FeatureRule, ...],
    target: Target,
) -> Examples:
    """The most confident correctly predicted valid test record of each class."""
    records = [typed_record(as_record(row), rules) for _, row in X.iterrows()]
    valid = np.array([not record_errors(rules, r) for r in records], dtype=bool)
    predicted = labels_from_proba(proba, target.threshold)
    chosen = {}
    for cls, name in ((1, target.positive_name), (0, target.negative_name)):
        ok = np.flatnonzero(valid & (y == cls) & (predicted == cls))
        if not len(ok):
            raise ParityError(
                f"no valid test record of class {name!r} is predicted as {name!r}: "
                "the model cannot be smoke-tested; not publishing"
            )
        best = ok[np.argmax(proba[ok])] if cls else ok[np.argmin(proba[ok])]
        chosen[cls] = Example(records[best], float(proba[best]), name)
    invalid, field = broken(chosen[1].record, rules)
    return Examples(chosen[1], chosen[0], invalid, field)


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
    """Export, gate and publish the fitted Pipeline as the bundle; return its metadata."""
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
    publish.publish_bundle(paths.model_dir, meta, blobs)
    return meta


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    meta = export(Paths(), load())
    m = meta.metrics
    worst = max(p["max_abs_diff"] for p in meta.parity.values())
    print(
        f"published {meta.version}: roc_auc={m['roc_auc']:.4f} "
        f"accuracy={m['accuracy']:.4f} f1={m['f1']:.4f} parity max|dp|={worst:.2g}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("export", main))
