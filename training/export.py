"""Export the fitted Pipeline to ONNX and prove the export answers like the Pipeline.

The service runs the ONNX graph (fast, and loading it executes no code); the parity check
here is the gate: a model whose export disagrees with the Pipeline is never published.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from service.predictor import MISSING_INPUT, Predictor
from service.model_store import make_session
from training.features import FeatureSpec
from training.metrics import labels_from_proba

TARGET_OPSET = 17


class ParityError(RuntimeError):
    """The ONNX export does not reproduce the Pipeline's predictions."""


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
    return onx.SerializeToString()


def frame_to_columns(X: pd.DataFrame, spec: FeatureSpec) -> dict[str, np.ndarray]:
    """Column arrays as the predictor takes them (None for a missing category)."""
    cols = {c: X[c].to_numpy(dtype=np.float64) for c in spec.numeric}
    for c in spec.categorical:
        cols[c] = X[c].astype(object).where(X[c].notna(), None).to_numpy()
    return cols


def check_parity(
    pipeline: Pipeline,
    predictor: Predictor,
    X: pd.DataFrame,
    spec: FeatureSpec,
    tolerance: float,
) -> dict:
    """Compare ONNX and Pipeline on every row of X; raise ParityError on any excess."""
    expected = pipeline.predict_proba(X)[:, 1]
    got = predictor.proba_columns(frame_to_columns(X, spec)).astype(np.float64)
    diff = float(np.max(np.abs(expected - got))) if len(X) else 0.0
    t = predictor.threshold
    mismatched = int(
        np.sum(labels_from_proba(expected, t) != labels_from_proba(got, t))
    )
    report = {"rows": int(len(X)), "max_abs_diff": diff, "label_mismatches": mismatched}
    if diff > tolerance or mismatched:
        raise ParityError(
            f"ONNX export disagrees with the Pipeline: max |dp| {diff:.3g} "
            f"(tolerance {tolerance:g}), {mismatched} label(s) differ; not publishing"
        )
    return report


def build_predictor(onnx_bytes: bytes, features: list[dict], labels, threshold):
    """The service's own predictor over freshly exported bytes."""
    return Predictor(
        make_session(onnx_bytes, "exported model"), features, labels, threshold
    )
