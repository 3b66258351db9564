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
from bundle.format import MULTICLASS, REGRESSION, BundleError
from training.config import FeatureSpec
from training.features import CATEGORICAL, IMPUTED, NUMERIC, frame_to_columns
from training.metrics import labels_from_proba

TARGET_OPSET = 17


class ParityError(BundleError):
    """The ONNX export does not reproduce the Pipeline's predictions (a bundle that
    cannot be published: the export stage refuses it in one line, exit 2)."""


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


def register_missing_indicator() -> None:
    """skl2onnx 1.20 has no converter for MissingIndicator (the imputed numerics' 0/1
    "was missing" column): IsNaN, then Cast to float, one output column per feature.
    Idempotent; called before each conversion."""
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.impute import MissingIndicator

    def shape(operator) -> None:
        rows = operator.inputs[0].get_first_dimension()
        width = len(operator.raw_operator.features_)
        operator.outputs[0].type = FloatTensorType([rows, width])

    def convert(scope, operator, container) -> None:
        if len(operator.raw_operator.features_) != operator.raw_operator.n_features_in_:
            raise NotImplementedError("a MissingIndicator over some features only")
        isnan = scope.get_unique_variable_name("isnan")
        container.add_node(
            "IsNaN",
            operator.inputs[0].full_name,
            isnan,
            name=scope.get_unique_operator_name("IsNaN"),
        )
        container.add_node(
            "Cast",
            isnan,
            operator.outputs[0].full_name,
            to=TensorProto.FLOAT,
            name=scope.get_unique_operator_name("Cast"),
        )

    update_registered_converter(
        MissingIndicator, "SklearnMissingIndicator", shape, convert
    )


def graph_options(estimator) -> dict | None:
    """A classifier's probabilities as a plain [N, k] tensor (no ZipMap); a regressor
    has no such option."""
    return {id(estimator): {"zipmap": False}} if is_classifier(estimator) else None


def to_onnx_bytes(pipeline: Pipeline, spec: FeatureSpec) -> bytes:
    """Convert the whole Pipeline (preprocessing + classifier) to ONNX bytes."""
    from skl2onnx import to_onnx

    mend_hist_gradient_boosting_converter()
    register_missing_indicator()
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    exported = copy.deepcopy(pipeline)
    # skl2onnx imputes strings only: in the graph a missing category arrives as
    # MISSING_INPUT instead of NaN. The fitted fill value is unchanged.
    parts = exported.named_steps["preprocess"].named_transformers_
    if CATEGORICAL in parts:
        parts[CATEGORICAL]["impute"].missing_values = MISSING_INPUT
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


def affine(transformer, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Offsets and scales of a fitted StandardScaler or a passthrough (None) over
    `width` columns; ValueError for anything else."""
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if isinstance(transformer, StandardScaler):
        offsets = transformer.mean_ if transformer.with_mean else np.zeros(width)
        scales = transformer.scale_ if transformer.with_std else np.ones(width)
        return offsets, scales
    plain = isinstance(transformer, FunctionTransformer) and transformer.func is None
    if transformer is None or transformer == "passthrough" or plain:
        return np.zeros(width), np.ones(width)
    raise ValueError(f"dense encoding does not support {transformer!r}")


def imputed_encoding(step: Pipeline, name: str, column: int) -> tuple[dict, int]:
    """One imputed numeric's entry (its fill, its indicator column) and its width."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import FeatureUnion

    impute = step.named_steps["impute"]
    parts = dict(impute.transformer_list) if isinstance(impute, FeatureUnion) else {}
    fill = parts.get("value", impute)
    if not isinstance(fill, SimpleImputer) or set(parts) - {"value", "missing"}:
        raise ValueError(f"dense encoding does not support {impute!r}")
    width = 1 + ("missing" in parts)
    offsets, scales = affine(step.named_steps.get("scale"), width)
    entry = {
        "name": name,
        "column": column,
        "offset": float(offsets[0]),
        "scale": float(scales[0]),
        "fill": float(fill.statistics_[0]),
    }
    if "missing" in parts:
        entry["indicator"] = {
            "column": column + 1,
            "offset": float(offsets[1]),
            "scale": float(scales[1]),
        }
    return entry, width


def dense_encoding(pipeline: Pipeline, spec: FeatureSpec) -> dict:
    """The fitted preprocessing as data (see bundle/encoding.py): numeric offset and
    scale (an imputed one's fill and indicator column too), and the one-hot column of
    every category, in the ColumnTransformer's order. ValueError when the preprocessing
    is not one this encoding expresses (export then serves the whole-pipeline graph).
    """
    pre = pipeline.named_steps["preprocess"]
    numeric, categorical, column, missing = [], [], 0, None
    for part, transformer, columns in pre.transformers_:
        if transformer == "drop" or not len(columns):
            continue
        if part == NUMERIC:
            offsets, scales = affine(transformer, len(columns))
            numeric += [
                {"name": n, "column": column + i, "offset": float(o), "scale": float(s)}
                for i, (n, o, s) in enumerate(zip(columns, offsets, scales))
            ]
            column += len(columns)
        elif part.startswith(IMPUTED):
            entry, width = imputed_encoding(transformer, columns[0], column)
            numeric.append(entry)
            column += width
        elif part == CATEGORICAL:
            onehot = transformer["onehot"]
            if onehot.drop is not None or onehot.min_frequency or onehot.max_categories:
                raise ValueError("dense encoding supports a plain one-hot encoder only")
            for name, categories in zip(columns, onehot.categories_):
                columns_of = {str(c): column + j for j, c in enumerate(categories)}
                categorical.append({"name": name, "columns": columns_of})
                column += len(categories)
            missing = transformer["impute"].fill_value
        else:
            raise ValueError(f"dense encoding does not support the part {part!r}")
    if column != len(pre.get_feature_names_out()):
        raise ValueError("dense encoding width differs from the preprocessor's output")
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
    mismatched = int(
        np.sum(
            labels_from_proba(expected, threshold) != labels_from_proba(got, threshold)
        )
    )
    return label_parity(expected, got, mismatched, engine.graph, tolerance, "max |dp|")


def label_parity(
    expected: np.ndarray,
    got: np.ndarray,
    mismatched: int,
    graph: str,
    tolerance: float,
    measured: str,
) -> dict:
    """A classifier's parity report: the largest probability difference (`measured`
    names it) and the labels that differ; ParityError on any excess."""
    diff = float(np.max(np.abs(expected - got))) if len(expected) else 0.0
    report = {
        "rows": int(len(expected)),
        "max_abs_diff": diff,
        "label_mismatches": mismatched,
    }
    if diff > tolerance or mismatched:
        raise ParityError(
            f"the {graph} export disagrees with the Pipeline: {measured} "
            f"{diff:.3g} (tolerance {tolerance:g}), {mismatched} label(s) differ; "
            "not publishing"
        )
    return report


def class_parity(
    expected: np.ndarray, got: np.ndarray, graph: str, tolerance: float
) -> dict:
    """Multiclass parity: every class's probability, and the most probable class."""
    mismatched = int(np.sum(expected.argmax(axis=1) != got.argmax(axis=1)))
    return label_parity(
        expected, got, mismatched, graph, tolerance, "max |dp| over every class"
    )


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
