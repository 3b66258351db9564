"""The fitted Pipeline as ONNX, proved equal before anything is published.

Two graphs: the whole Pipeline over raw columns, and the classifier (or a regression's
regressor) alone over the fitted one-hot encoding (with that encoding as data, see
bundle/encoding.py). `check_parity` scores rows with a graph through the bundle's own
engine and refuses (ParityError) when it disagrees with the Pipeline: by more than
`tolerance` in any probability (every class's, for a multiclass model) or in any label,
or for a regression by more than `tolerance` times the largest predicted |value| (at
least 1: float32 inference keeps about seven significant digits, whatever the unit).
Deterministic: the same fitted Pipeline gives the same bytes.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline

from bundle.engines import MISSING_INPUT, Engine
from bundle.format import MULTICLASS, REGRESSION
from training.config import FeatureSpec
from training.features import frame_to_columns
from training.metrics import labels_from_proba

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


def mend_hist_gradient_boosting_converter() -> None:
    """skl2onnx 1.20 writes Python booleans into a HistGradientBoosting tree's
    `nodes_missing_value_tracks_true`, an ints attribute that onnx 1.23 refuses ("Expected
    an int, got a boolean"): wrap its attribute builder so they are written as 0 and 1.
    Called before each conversion; idempotent; nothing to do where the builder is gone.
    """
    import skl2onnx.operator_converters.random_forest as converters

    build = getattr(
        converters, "add_tree_to_attribute_pairs_hist_gradient_boosting", None
    )
    if build is None or getattr(build, "mended", False):
        return

    def as_ints(attr_pairs, *args, **kwargs):
        build(attr_pairs, *args, **kwargs)
        key = "nodes_missing_value_tracks_true"
        if key in attr_pairs:
            attr_pairs[key] = [int(v) for v in attr_pairs[key]]

    as_ints.mended = True
    converters.add_tree_to_attribute_pairs_hist_gradient_boosting = as_ints


def graph_options(estimator) -> dict | None:
    """A classifier's probabilities as a plain [N, k] tensor (no ZipMap); a regressor
    has no such option."""
    return {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None


def to_onnx_bytes(pipeline: Pipeline, spec: FeatureSpec) -> bytes:
    """Convert the whole Pipeline (preprocessing + classifier) to ONNX bytes."""
    from skl2onnx import to_onnx

    mend_hist_gradient_boosting_converter()
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
        options=graph_options(classifier),
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

    mend_hist_gradient_boosting_converter()
    from skl2onnx.common.data_types import FloatTensorType

    classifier = pipeline.steps[-1][1]
    onx = to_onnx(
        classifier,
        initial_types=[("encoded", FloatTensorType([None, width]))],
        options=graph_options(classifier),
        target_opset=TARGET_OPSET,
    )
    return canonical_bytes(onx)


def check_parity(
    pipeline: Pipeline,
    engine: Engine,
    X: pd.DataFrame,
    spec: FeatureSpec,
    threshold: float,
    tolerance: float,
) -> dict:
    """Compare an engine and the Pipeline on every row of X; ParityError on any excess."""
    got = engine.proba_columns(frame_to_columns(X, spec)).astype(np.float64)
    if spec.task == REGRESSION:
        return value_parity(pipeline.predict(X), got, engine.graph, tolerance)
    if spec.task == MULTICLASS:
        return class_parity(pipeline.predict_proba(X), got, engine.graph, tolerance)
    expected = pipeline.predict_proba(X)[:, 1]
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


def class_parity(
    expected: np.ndarray, got: np.ndarray, graph: str, tolerance: float
) -> dict:
    """Multiclass parity: every class's probability, and the most probable class."""
    diff = float(np.max(np.abs(expected - got))) if len(expected) else 0.0
    mismatched = int(np.sum(expected.argmax(axis=1) != got.argmax(axis=1)))
    report = {
        "rows": int(len(expected)),
        "max_abs_diff": diff,
        "label_mismatches": mismatched,
    }
    if diff > tolerance or mismatched:
        raise ParityError(
            f"the {graph} export disagrees with the Pipeline: max |dp| over every "
            f"class {diff:.3g} (tolerance {tolerance:g}), {mismatched} label(s) "
            "differ; not publishing"
        )
    return report


def value_parity(
    expected: np.ndarray, got: np.ndarray, graph: str, tolerance: float
) -> dict:
    """Regression parity: the values, within `tolerance` of the largest |value| (>= 1)."""
    diff = float(np.max(np.abs(expected - got))) if len(expected) else 0.0
    scale = max(1.0, float(np.max(np.abs(expected)))) if len(expected) else 1.0
    report = {"rows": int(len(expected)), "max_abs_diff": diff, "scale": scale}
    if diff > tolerance * scale:
        raise ParityError(
            f"the {graph} export disagrees with the Pipeline: max |dvalue| {diff:.3g} "
            f"(tolerance {tolerance:g} x the largest |value| {scale:.3g}); "
            "not publishing"
        )
    return report
